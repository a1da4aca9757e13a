"""The composition root: start-up and shutdown deadlines, with faulty samplers."""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import Any

import httpx
import pytest
import trio

from api.main import SHUTDOWN_DEADLINE, api_urls, serve
from pipeline.config import load
from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import all_samplers
from tests.polling import until

#: every sampler runs: no default-gateway ping (tests stay on loopback)
LOOPBACK = {"ports.port_default_gateway": False}


def hanging(release: threading.Event) -> SamplerSpec:
    def sample(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], Any]:
        release.wait(timeout=30)
        return {}, None

    return SamplerSpec("sensors", ("sensors",), sample)


async def test_shutdown_during_startup_does_not_wait_for_a_hung_sampler() -> None:
    release = threading.Event()
    config = load(overrides={"api.port": 0, "global.sampler_timeout": 20.0, **LOOPBACK})
    specs = [s for s in all_samplers() if s.name != "sensors"] + [hanging(release)]
    shutdown = trio.Event()
    try:
        started = time.monotonic()
        with trio.fail_after(SHUTDOWN_DEADLINE + 5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(serve, config, specs=specs, shutdown=shutdown))
                await trio.sleep(0.5)
                shutdown.set()
        assert time.monotonic() - started < SHUTDOWN_DEADLINE + 2  # not the 20 s timeout
    finally:
        release.set()


async def test_api_serves_while_a_sampler_hangs() -> None:
    """The hung family is abandoned; the API starts after sampler_timeout and answers."""
    release = threading.Event()
    config = load(overrides={"api.port": 0, "global.sampler_timeout": 1.0, **LOOPBACK})
    specs = [s for s in all_samplers() if s.name != "sensors"] + [hanging(release)]
    try:
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                running = await nursery.start(partial(serve, config, specs=specs))
                base = api_urls(running, config)[0]
                async with httpx.AsyncClient(timeout=5) as client:
                    data = (await client.get(f"{base}/all")).json()
                    assert data["sensors"] == []  # never sampled: its empty value
                    assert data["mem"]["total"] > 0
                    status = running.runner.status["sensors"]
                    await until(lambda: status.state == "failing")  # past its 1 s timeout
                    assert status.solo is True
                    assert status.last_error and "SamplerTimeout" in status.last_error
                    assert running.runner.status["memory"].state == "ok"
                running.shutdown.set()
    finally:
        release.set()


_ONLY_WHAT_IS_CONFIGURED = """
import json, sys, tempfile, trio
from pipeline.config import load
from api.main import serve
from pipeline.runner import SamplerSpec

overrides = {"global.data_dir": tempfile.mkdtemp(), "api.enabled": False,
             "global.sampler_timeout": 0.5}
overrides.update((k, json.loads(v)) for k, v in (a.split("=", 1) for a in sys.argv[1:]))
config = load(overrides=overrides)
spec = SamplerSpec("load", ("load",), lambda prev, ctx: ({"load": {"min1": 0.0}}, None))

async def main():
    async with trio.open_nursery() as nursery:
        running = await nursery.start(lambda task_status: serve(
            config, specs=[spec], task_status=task_status))
        running.shutdown.set()

trio.run(main)
heavy = ("api.root", "api.handles", "quart", "hypercorn", "paho", "httpx",
         "sinks.mqtt", "sinks.webhooks")
print(" ".join(m for m in heavy if m in sys.modules))
"""


def test_the_api_and_the_sinks_are_imported_only_when_configured() -> None:
    """Quart and hypercorn (the API), paho (MQTT) and httpx (webhooks) weigh megabytes
    once imported: a statbus that does not use them does not import them."""
    import subprocess
    import sys

    def imported(*overrides: str) -> set[str]:
        out = subprocess.run(
            [sys.executable, "-c", _ONLY_WHAT_IS_CONFIGURED, *overrides],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return set(out.stdout.split())

    assert imported() == set()
    assert imported("mqtt.enabled=true", "mqtt.port=1") == {"paho", "sinks.mqtt"}


async def test_the_process_lists_are_sampled_for_the_api_and_exports_only() -> None:
    """With nobody reading the process lists (no API, no MQTT export of them, no alert
    stage) the processes family counts processes and builds no lists; the API (or an
    MQTT export of the lists, or an ongoing alert: its top processes) has them sampled.

    Nothing here depends on the host: each run is watched for a number of sampling
    rounds (not a time window), and the alert is made certain by thresholds that any
    memory use exceeds."""
    from pipeline.bus import Policy
    from pipeline.topics import STATS_TOPIC

    rounds = 5  # processcount samples watched after the wanted lists have appeared

    async def plugins_seen(wanted: set[str], **overrides: Any) -> set[str]:
        config = load(overrides={"api.port": 0, "global.refresh": 0.2, **LOOPBACK, **overrides})
        seen: set[str] = set()
        counted = 0
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                running = await nursery.start(partial(serve, config))
                with running.bus.subscribe(STATS_TOPIC, name="t", policy=Policy.LOSSLESS) as sub:
                    async for event in sub:
                        seen.add(event.plugin)
                        if event.plugin == "processcount" and wanted <= seen:
                            counted += 1
                            if counted >= rounds:
                                break
                running.shutdown.set()
        return seen

    quiet = await plugins_seen(set(), **{"api.enabled": False, "alert.disable": True})
    assert "processcount" in quiet and "cpu" in quiet
    assert not quiet & {"processlist", "programlist"}
    both = {"processlist", "programlist"}
    assert both <= await plugins_seen(both)  # the API is on
    exported = await plugins_seen(
        {"programlist"},
        **{
            "api.enabled": False,
            "alert.disable": True,
            "mqtt.enabled": True,
            "mqtt.port": 1,
            "mqtt.plugins": ["programlist"],
        },
    )
    assert "processlist" not in exported
    # MEM is CRITICAL from its first sample on: the alert stage asks for the list
    alerting = await plugins_seen(
        {"processlist"},
        **{"api.enabled": False, "mem.careful": 0.01, "mem.warning": 0.02, "mem.critical": 0.03},
    )
    assert "programlist" not in alerting


_QUART_ON_FIRST_FALLBACK = """
import json, logging, sys, tempfile, time, httpx, trio
from pipeline.config import load
from api.main import api_urls, serve

password = sys.argv[1]
logged = []
class Keep(logging.Handler):
    def emit(self, record):
        logged.append(f"{record.name} {record.levelname} {record.getMessage()}")
logging.getLogger().addHandler(Keep(logging.WARNING))
config = load(overrides={"global.data_dir": tempfile.mkdtemp(), "api.port": 0,
                         "api.password": password, "global.sampler_timeout": 5.0,
                         "ports.port_default_gateway": False})
heavy = ("api.app", "quart", "quart_trio", "werkzeug", "flask", "jinja2")
out = {}

async def main():
    async with trio.open_nursery() as nursery:
        running = await nursery.start(lambda task_status: serve(config, task_status=task_status))
        base = api_urls(running, config)[0]
        auth = ("glances", password) if password else None
        async with httpx.AsyncClient(timeout=10, auth=auth) as client:
            async def ask(path, **kw):
                r = await client.get(base + path, **kw)
                return [r.status_code, r.json()]
            fast = ["/all", "/status", "/pluginslist", "/cpu"]
            out["fast"] = {p: (await ask(p))[0] for p in fast}
            out["fast_all_has_cpu"] = "total" in (await ask("/all"))[1]["cpu"]
            out["before"] = [m for m in heavy if m in sys.modules]
            if password:
                out["wrong"] = await ask("/all", auth=("glances", "nope"))
                out["none"] = await ask("/cpu", auth=None)
            history = await ask("/cpu/history")
            out["history"] = [history[0], type(history[1]).__name__]
            out["config"] = (await ask("/config/api"))[0]
            out["fast_again"] = {p: (await ask(p))[0] for p in fast}
            out["after"] = [m for m in heavy if m in sys.modules]
        started = time.monotonic()
        running.shutdown.set()
    out["shutdown_s"] = time.monotonic() - started

trio.run(main)
out["logged"] = logged
print(json.dumps(out))
"""


@pytest.mark.parametrize("password", ["", "s3cret"])
def test_quart_is_imported_on_the_first_request_the_fast_path_does_not_answer(
    password: str,
) -> None:
    """Quart (werkzeug, flask, jinja2: ~10 MiB) is not imported while only the fast
    routes are asked; the first other request (a Quart route, wrong or missing
    credentials) loads it and gets Quart's answer; shutdown stays clean."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _QUART_ON_FIRST_FALLBACK, password],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    got = json.loads(out.stdout)
    fast = {"/all": 200, "/status": 200, "/pluginslist": 200, "/cpu": 200}
    assert got["fast"] == fast and got["fast_all_has_cpu"]
    assert got["before"] == []
    if password:
        assert got["wrong"] == [401, {"detail": "Incorrect authentication"}]
        assert got["none"] == [401, {"detail": "Not authenticated"}]
    assert got["history"] == [200, "dict"]
    assert got["config"] == 200
    assert got["fast_again"] == fast
    assert {"api.app", "quart", "quart_trio", "werkzeug", "flask", "jinja2"} <= set(got["after"])
    assert got["shutdown_s"] < SHUTDOWN_DEADLINE
    assert got["logged"] == [], got["logged"]
