"""The ``ports`` plugin: reachability and round-trip time of configured hosts/ports.

Each target of ``[[ports.port]]`` becomes an entry ``port_1`` … ``port_N`` (in the order of
the configuration); with ``port_default_gateway`` the IPv4 default gateway (read from
``/proc/net/route`` through :func:`pipeline.samplers.network.default_route`) comes first
as ``port_0``, described ``DefaultGateway`` and pinged.

``status`` is the round-trip time in seconds (a float) when the target answered,
``False`` when it refused, was unreachable, did not resolve or timed out, and ``None``
when it was not scanned: an ICMP target while ``ping`` is not installed (logged once),
or the default gateway when there is no default route (``host`` is then ``None``).

* TCP (``port`` > 0): the time ``socket.create_connection`` takes to connect.
* ICMP (``port`` 0): ``ping -n -c 1 -W <timeout> <host>`` (no shell); exit 0 gives the
  ``time=X ms`` it prints (the elapsed time when it prints none), another exit ``False``.

All targets are scanned at once, one thread each, so a round lasts about the longest
target timeout (plus a second's margin for ``ping``), whatever the number of targets.
``rtt_warning`` is written in milliseconds, as in the reference's INI, and served in
seconds.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import re
import shutil
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import commands, network
from pipeline.samplers.base import as_configured

log = logging.getLogger(__name__)

#: ``ping`` may take this long beyond its ``-W`` (start-up, name resolution) before it
#: is killed; the whole round is bounded by the longest timeout plus this margin
PING_MARGIN = 1.0
#: one thread per target, up to this many (the configuration allows 100 targets)
MAX_WORKERS = 128
_RTT = re.compile(rb"time[=<]\s*([0-9]+(?:\.[0-9]+)?)\s*ms")


@dataclass(frozen=True, slots=True)
class PortsState:
    #: the faults logged at warning level (``"ping"``, an unresolvable host name) that
    #: still last: one is logged when it appears, not again every round while it lasts
    logged: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Target:
    indice: str
    host: str | None
    port: int
    description: str
    timeout: float
    #: seconds
    rtt_warning: float | None


@dataclass(frozen=True, slots=True)
class Outcome:
    status: float | bool | None
    #: a warning to log once (its key in :attr:`PortsState.logged`) and its message
    warning: tuple[str, str] | None = None


def targets(options: Mapping[str, Any]) -> list[Target]:
    scan_timeout = float(options["scan_timeout"])
    out: list[Target] = []
    if options["port_default_gateway"]:
        # ROUTE_FILE read at call time (the function's default is bound at definition)
        route = network.default_route(network.ROUTE_FILE)
        host = route[1] if route is not None else None
        out.append(Target("port_0", host, 0, "DefaultGateway", scan_timeout, None))
    for i, entry in enumerate(options["port"], start=1):
        host, port = entry["host"], int(entry["port"])
        timeout = entry["timeout"]
        rtt_warning = entry["rtt_warning"]
        out.append(
            Target(
                f"port_{i}",
                host,
                port,
                entry["description"] or f"{host}:{port}",
                scan_timeout if timeout is None else float(timeout),
                None if rtt_warning is None else rtt_warning / 1000.0,
            )
        )
    return out


def scan_tcp(host: str, port: int, timeout: float) -> Outcome:
    start = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return Outcome(time.perf_counter() - start)
    except socket.gaierror as exc:
        return Outcome(False, (f"resolve:{host}", f"ports: cannot resolve {host!r}: {exc}"))
    except OSError as exc:  # refused, unreachable, timed out
        log.debug("ports: %s:%d: %s", host, port, exc)
        return Outcome(False)


def ping_timeout_arg(timeout: float) -> str:
    """``-W`` in whole seconds (busybox and old iputils take no fraction), at least 1."""
    return str(max(1, math.ceil(timeout)))


def scan_icmp(ping: str, host: str, timeout: float) -> Outcome:
    argv = [ping, "-n", "-c", "1", "-W", ping_timeout_arg(timeout), "--", host]
    start = time.perf_counter()
    try:
        done = commands.run(argv, max(timeout, 1) + PING_MARGIN)
    except commands.CommandFailed as exc:
        if exc.timed_out:  # killed, with the rest of its process group
            log.debug("ports: ping %s: no answer in %.1f s", host, timeout)
            return Outcome(False)
        return Outcome(None, (f"exec:{ping}", f"ports: {exc}"))
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        log.debug("ports: ping %s: exit %d", host, done.returncode)
        return Outcome(False)
    match = _RTT.search(done.stdout)
    return Outcome(float(match.group(1)) / 1000.0 if match else elapsed)


def scan(target: Target, ping: str | None) -> Outcome:
    if target.host is None:  # no default route
        return Outcome(None)
    if target.port > 0:
        return scan_tcp(target.host, target.port, target.timeout)
    if ping is None:
        return Outcome(
            None,
            (
                "ping",
                "ports: no ping command: ICMP targets (port 0, and the default gateway unless"
                " [ports] port_default_gateway = false) are not checked",
            ),
        )
    return scan_icmp(ping, target.host, target.timeout)


def round_budget(items: list[Target]) -> float:
    """The longest target timeout, plus ``ping``'s margin and a second to spare."""
    return max((t.timeout for t in items), default=0.0) + PING_MARGIN + 1.0


def scan_all(items: list[Target], ping: str | None, budget: float) -> list[Outcome]:
    """Every target at once; one still running after ``budget`` seconds (a slow name
    resolution) counts as timed out, and its thread is left to finish on its own."""
    if not items:
        return []
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=min(len(items), MAX_WORKERS), thread_name_prefix="ports-scan"
    )
    try:
        futures = [pool.submit(scan, t, ping) for t in items]
        concurrent.futures.wait(futures, timeout=budget)
        return [f.result() if f.done() else Outcome(False) for f in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def sample_ports(
    previous: PortsState | None, ctx: SampleContext
) -> tuple[dict[str, Any], PortsState]:
    options = ctx.config.plugins["ports"].options
    refresh = as_configured(ctx.config.refresh_of("ports"))
    items = targets(options)
    ping = shutil.which("ping") if any(t.port == 0 for t in items) else None
    already = frozenset() if previous is None else previous.logged
    logged: set[str] = set()
    # within the sampler timeout, or the runner abandons the whole round
    budget = min(round_budget(items), 0.9 * ctx.config.timeout_of("ports"))
    entries: list[dict[str, Any]] = []
    for target, outcome in zip(items, scan_all(items, ping, budget), strict=True):
        if outcome.warning is not None:
            key, message = outcome.warning
            if key not in already and key not in logged:
                log.warning("%s", message)
            logged.add(key)
        entries.append(
            {
                "description": target.description,
                "host": target.host,
                "indice": target.indice,
                "port": target.port,
                "refresh": refresh,
                "rtt_warning": target.rtt_warning,
                "status": outcome.status,
                "timeout": as_configured(target.timeout),
                "key": "indice",
            }
        )
    return {"ports": entries}, PortsState(frozenset(logged))


SAMPLERS = [SamplerSpec("ports", ("ports",), sample_ports)]
