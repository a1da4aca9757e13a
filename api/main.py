"""The composition root: builds the bus, stages, samplers and the API, and runs them.

It lives in ``api/`` because the repository's top level is fixed and ``pipeline/`` knows
none of its faces: with ``api/cli.py`` (the ``statbus`` command) it is the only module
that imports both ``api/`` and ``sinks/`` (``tests/test_layout.py`` holds it to that).
Everything runs in one nursery; shutdown is an event that hypercorn and the loops see,
followed by a deadline after which whatever is left is cancelled.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from pipeline.bus import Bus
from pipeline.config import Config, data_dir
from pipeline.demand import RuntimeOptions
from pipeline.plugins import ON_DEMAND
from pipeline.runner import SamplerRunner, SamplerSpec
from pipeline.samplers import all_samplers
from pipeline.stages.alerts import AlertStage
from pipeline.stages.history import HistoryStage
from pipeline.stages.state import StateStage
from pipeline.stages.thresholds import ThresholdStage

if TYPE_CHECKING:
    from hypercorn.config import Config as HypercornConfig

log = logging.getLogger(__name__)

#: SIGTERM/SIGINT to exit: everything is stopped within this many seconds
SHUTDOWN_DEADLINE = 4.0


@dataclass
class Running:
    """What ``serve`` hands back once it is ready (for tests and the CLI)."""

    bus: Bus
    state: StateStage
    runner: SamplerRunner
    urls: list[str] = field(default_factory=list)
    shutdown: trio.Event = field(default_factory=trio.Event)


def _hypercorn_config(config: Config) -> HypercornConfig:
    from hypercorn.config import Config as HypercornConfig

    from api.server_limits import apply_limits

    hc = HypercornConfig()
    host = config.api.bind
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    hc.bind = [f"{host}:{config.api.port}"]
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = SHUTDOWN_DEADLINE / 2
    if config.api.tls:  # HTTPS only: hypercorn serves TLS on every bind
        hc.certfile = config.api.certfile
        hc.keyfile = config.api.keyfile or config.api.certfile
    apply_limits(hc)
    return hc


def _warn_about_access(config: Config) -> None:
    """Start-up warnings about who may read this host's stats."""
    api = config.api
    if not api.password:
        if not _is_loopback(api.bind):
            log.warning(
                "api: listening on %s without a password: anyone who can reach it "
                "can read this host's stats (set api.password)",
                api.bind,
            )
        return
    from pipeline.config import passwords

    if passwords.parse(api.password) is None:
        log.info(
            "api: api.password is a plain password; consider storing a hash of it "
            "(statbus hash-password)"
        )
    if not api.tls and not _is_loopback(api.bind):
        log.info(
            "api: listening on %s with Basic auth over plain HTTP: the password crosses "
            "the network readable (set api.certfile and api.keyfile for HTTPS)",
            api.bind,
        )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"


async def serve(
    config: Config,
    *,
    args: Mapping[str, Any] | None = None,
    handle_signals: bool = False,
    specs: Sequence[SamplerSpec] | None = None,
    shutdown: trio.Event | None = None,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run statbus until ``Running.shutdown`` is set (or SIGTERM/SIGINT when asked).

    ``specs`` replaces the sampler families (tests inject faulty ones); ``shutdown``
    lets the caller stop it before it is ready.
    """
    # The composition root is the one module (with the CLI) that imports api/ and sinks/.
    # Each is imported only when configured: the API (hypercorn; Quart once a request
    # needs it), the MQTT sink (paho) and the webhooks (httpx) each weigh megabytes of
    # memory once imported.
    bus = Bus()
    options = RuntimeOptions()
    # The on-demand plugins (the process lists) are sampled while someone reads them:
    # always for the API and for an MQTT export of them, during alerts for the alert
    # stage (which asks itself).
    if config.api.enabled:
        options.demand.always(ON_DEMAND)
    if config.mqtt.enabled:
        options.demand.always(ON_DEMAND & set(config.mqtt.plugins))
    state = StateStage(
        bus, [p for p in config.enabled_plugins() if p not in ON_DEMAND or options.demand.wanted(p)]
    )
    thresholds = ThresholdStage(bus, config, config.enabled_plugins())
    history = HistoryStage(bus, config, config.enabled_plugins())
    mqtt = webhooks = None
    if config.mqtt.enabled:
        from sinks.mqtt import MqttSink

        mqtt = MqttSink(bus, config)
    if config.webhooks:
        from sinks.webhooks import WebhookSink

        webhooks = WebhookSink(bus, config)
    alerts = (
        None
        if config.alert.disable
        else AlertStage(bus, config, data_dir(config), demand=options.demand)
    )
    runner = SamplerRunner(bus, config, all_samplers() if specs is None else specs, options=options)
    running = Running(bus, state, runner, shutdown=trio.Event() if shutdown is None else shutdown)
    api_done = trio.Event()

    started_at = time.time()

    async def serve_api(task_status: trio.TaskStatus[list[str]]) -> None:
        from hypercorn.trio import serve as hypercorn_serve

        from api.alert_log import AlertLog
        from api.handles import ApiHandles
        from api.root import create_root_app

        # numbered from the start, for the stream's Last-Event-ID
        alert_log = AlertLog(bus) if alerts is not None else None

        # Quart itself is imported on the first request the fast path does not answer.
        app = create_root_app(
            ApiHandles(
                config,
                state,
                options,
                args=dict(args or {}),
                started_at=started_at,
                alerts=alerts,
                thresholds=thresholds,
                history=history,
                runner=runner,
                bus=bus,
                sinks={
                    name: sink.as_dict
                    for name, sink in (("mqtt", mqtt), ("webhooks", webhooks))
                    if sink is not None
                },
                alert_log=alert_log,
            )
        )
        try:
            await hypercorn_serve(
                app,
                _hypercorn_config(config),
                shutdown_trigger=running.shutdown.wait,
                task_status=task_status,
            )
        finally:
            if alert_log is not None:
                alert_log.close()
            api_done.set()

    async with trio.open_nursery() as nursery:
        if handle_signals:
            nursery.start_soon(_wait_for_signal, running.shutdown)
        # Every subscriber is in place before anything is published: the sinks before
        # the alert stage (it publishes its loaded list at once), every stage before
        # the first sample.
        await nursery.start(state.run)
        if mqtt is not None:
            await nursery.start(mqtt.run)
        if webhooks is not None:
            await nursery.start(webhooks.run)
        if alerts is not None:
            await nursery.start(alerts.run)
        await nursery.start(thresholds.run)
        await nursery.start(history.run)
        await nursery.start(runner.run)
        # Serve complete data from the first request on, but never wait on a hung
        # sampler, nor past a shutdown request.
        with trio.move_on_after(config.global_.sampler_timeout):
            await _first_of(state.wait_first_round, running.shutdown.wait)
        if config.api.enabled and not running.shutdown.is_set():
            _warn_about_access(config)
            running.urls = await nursery.start(serve_api)
        else:
            api_done.set()
        task_status.started(running)
        await running.shutdown.wait()
        log.info("shutting down")
        with trio.move_on_after(SHUTDOWN_DEADLINE):
            await api_done.wait()
        nursery.cancel_scope.cancel()


async def _first_of(*waits: Callable[[], Awaitable[None]]) -> None:
    """Return as soon as one of ``waits`` returns."""
    async with trio.open_nursery() as nursery:

        async def one(wait: Callable[[], Awaitable[None]]) -> None:
            await wait()
            nursery.cancel_scope.cancel()

        for wait in waits:
            nursery.start_soon(one, wait)


#: past the shutdown deadline, seconds more before the process exits whatever still runs
FORCED_EXIT_AFTER = 3.0


async def _wait_for_signal(shutdown: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s", signal.Signals(signum).name)
            shutdown.set()
            _exit_anyway_after(SHUTDOWN_DEADLINE + FORCED_EXIT_AFTER)
            return


def _exit_anyway_after(seconds: float) -> None:
    """A backstop for a shutdown that cannot finish: hypercorn writes to a client's socket
    in a shielded cancel scope with no timeout, so a client that stopped reading (an SSE
    stream's, a large body's) holds its connection task, and trio.run, for ever.  By
    ``seconds`` after the signal every stage has saved its state (they are cancelled at
    the deadline), so the process then exits (status 0) without waiting for that task.
    The timer thread is a daemon: a normal exit does not wait for it."""

    def exit_now() -> None:
        log.warning(
            "shutdown: still running %.0f s after the signal (a client that does not read"
            " its response?); exiting anyway",
            seconds,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(0)

    timer = threading.Timer(seconds, exit_now)
    timer.daemon = True
    timer.name = "shutdown-backstop"
    timer.start()


def api_urls(running: Running, config: Config) -> list[str]:
    """The API base URLs (``http[s]://host:port{prefix}/api/4``) of a running instance."""
    return [f"{u}{config.api.url_prefix}/api/4" for u in running.urls]


async def run_forever(config: Config, args: Mapping[str, Any], ready: Any = None) -> None:
    """Used by the CLI: serve with signal handling; ``ready(running)`` once listening."""
    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(
            partial(serve, config, args=args, handle_signals=True)
        )
        if ready is not None:
            ready(running)
