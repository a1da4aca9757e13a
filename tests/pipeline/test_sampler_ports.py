"""The ``ports`` sampler: TCP connects to loopback listeners, ICMP through a fake ``ping``
put first on ``PATH`` (printing real iputils output), the default gateway read from a
copy of ``/proc/net/route``.  No traffic leaves loopback."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import from_mapping
from pipeline.samplers import network
from pipeline.samplers.ports import PortsState, sample_ports
from tests.pipeline.sampler_helpers import context

FIXTURES = Path(__file__).parent / "fixtures" / "ports"
CAT = shutil.which("cat") or "/bin/cat"
SLEEP = shutil.which("sleep") or "/bin/sleep"


def run(
    targets: list[dict[str, Any]],
    previous: PortsState | None = None,
    **options: Any,
) -> tuple[list[dict[str, Any]], PortsState]:
    section = {"port_default_gateway": False, "port": targets, **options}
    ctx = context(["ports"], config=from_mapping({"ports": section}))
    data, state = sample_ports(previous, ctx)
    return data["ports"], state


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        yield srv.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fake_ping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """A ``ping`` first on PATH running ``body`` (sh); it records its argv in ``argv``."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "ping"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path}/argv"\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return tmp_path / "argv"


def no_ping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


# --- TCP -------------------------------------------------------------------------------


def test_open_port_status_is_rtt_seconds(listener: int) -> None:
    [entry], _ = run([{"host": "127.0.0.1", "port": listener}])
    assert type(entry["status"]) is float
    assert 0 < entry["status"] < 3
    assert entry == {
        "description": f"127.0.0.1:{listener}",
        "host": "127.0.0.1",
        "indice": "port_1",
        "port": listener,
        "refresh": 30,
        "rtt_warning": None,
        "status": entry["status"],
        "timeout": 3,
        "key": "indice",
    }
    assert list(entry) == [
        "description", "host", "indice", "port", "refresh", "rtt_warning", "status",
        "timeout", "key",
    ]  # fmt: skip


def test_closed_port_is_false(closed_port: int) -> None:
    [entry], _ = run([{"host": "127.0.0.1", "port": closed_port}])
    assert entry["status"] is False


def test_unresolvable_name_is_false_and_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "nowhere.invalid":  # never asked of a real resolver
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    caplog.set_level(logging.WARNING, "pipeline.samplers.ports")
    target = [{"host": "nowhere.invalid", "port": 80}]
    [entry], state = run(target)
    assert entry["status"] is False
    assert [r.getMessage() for r in caplog.records] == [
        "ports: cannot resolve 'nowhere.invalid': [Errno -2] Name or service not known"
    ]
    caplog.clear()
    [entry], state = run(target, state)
    assert entry["status"] is False
    assert caplog.records == []  # the fault lasts: not logged again
    monkeypatch.setattr(socket, "getaddrinfo", real)
    _, state = run([{"host": "127.0.0.1", "port": 9}], state)
    assert state.logged == frozenset()  # it went away: it would be logged again


# --- ICMP ------------------------------------------------------------------------------


def test_ping_reply_gives_its_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = fake_ping(tmp_path, monkeypatch, f'exec {CAT} "{FIXTURES}/ping-reply.txt"')
    [entry], _ = run([{"host": "127.0.0.1", "timeout": 2.5}])
    assert entry["status"] == pytest.approx(0.045e-3)
    assert type(entry["status"]) is float
    assert argv.read_text().split("\n")[:-1] == ["-n", "-c", "1", "-W", "3", "--", "127.0.0.1"]
    assert entry["port"] == 0
    assert entry["description"] == "127.0.0.1:0"
    assert entry["timeout"] == 2.5


def test_ping_without_time_gives_elapsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ping(tmp_path, monkeypatch, "exit 0")
    [entry], _ = run([{"host": "127.0.0.1"}])
    assert type(entry["status"]) is float
    assert 0 < entry["status"] < 3


def test_ping_failure_is_false(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ping(tmp_path, monkeypatch, f'{CAT} "{FIXTURES}/ping-no-reply.txt"\nexit 1')
    [entry], _ = run([{"host": "127.0.0.1"}])
    assert entry["status"] is False


def test_missing_ping_is_none_logged_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    listener: int,
) -> None:
    no_ping(tmp_path, monkeypatch)
    caplog.set_level(logging.WARNING, "pipeline.samplers.ports")
    targets: list[dict[str, Any]] = [
        {"host": "127.0.0.1"},
        {"host": "127.0.0.2"},
        {"host": "127.0.0.1", "port": listener},
    ]
    entries, state = run(targets)
    assert [e["status"] for e in entries[:2]] == [None, None]
    assert type(entries[2]["status"]) is float  # TCP needs no ping
    assert len(caplog.records) == 1
    assert "no ping command" in caplog.records[0].getMessage()
    caplog.clear()
    entries, _ = run(targets, state)
    assert [e["status"] for e in entries[:2]] == [None, None]
    assert caplog.records == []


def test_targets_are_scanned_concurrently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # each ping outlasts its timeout and is killed 1 + PING_MARGIN s later: one after
    # the other, the four would take 8 s
    fake_ping(tmp_path, monkeypatch, f"exec {SLEEP} 30")
    start = time.monotonic()
    entries, _ = run([{"host": f"127.0.0.{i}", "timeout": 1} for i in range(1, 5)])
    elapsed = time.monotonic() - start
    assert [e["status"] for e in entries] == [False] * 4
    assert elapsed < 5


def test_a_scan_past_the_budget_counts_as_timed_out(
    monkeypatch: pytest.MonkeyPatch, listener: int
) -> None:
    release = threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "slow.invalid":  # a resolver that hangs
            release.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    try:
        # the sampler timeout (2 s) caps the round below scan_timeout's budget
        section = {
            "port_default_gateway": False,
            "scan_timeout": 5,
            "timeout": 2,
            "port": [{"host": "slow.invalid", "port": 80}, {"host": "127.0.0.1", "port": listener}],
        }
        ctx = context(["ports"], config=from_mapping({"ports": section}))
        start = time.monotonic()
        data, _ = sample_ports(None, ctx)
        assert time.monotonic() - start < 4
        slow, fast = data["ports"]
        assert slow["status"] is False
        assert type(fast["status"]) is float
    finally:
        release.set()
        for thread in threading.enumerate():
            if thread.name.startswith("ports-scan"):
                thread.join(10)


# --- options ---------------------------------------------------------------------------


def test_options_as_served(listener: int) -> None:
    entries, _ = run(
        [
            {"host": "127.0.0.1", "port": listener, "description": "web", "rtt_warning": 250},
            {"host": "127.0.0.1", "port": listener, "timeout": 1, "rtt_warning": 5},
        ],
        scan_timeout=2.5,
        refresh=12.5,
    )
    assert [(e["indice"], e["description"]) for e in entries] == [
        ("port_1", "web"),
        ("port_2", f"127.0.0.1:{listener}"),
    ]
    assert [e["rtt_warning"] for e in entries] == [0.25, 0.005]  # ms in the config
    assert [e["timeout"] for e in entries] == [2.5, 1]
    assert [e["refresh"] for e in entries] == [12.5, 12.5]


def test_default_gateway_is_port_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listener: int
) -> None:
    monkeypatch.setattr(network, "ROUTE_FILE", FIXTURES / "route-gateway-loopback")
    argv = fake_ping(tmp_path, monkeypatch, f'exec {CAT} "{FIXTURES}/ping-reply.txt"')
    entries, _ = run([{"host": "127.0.0.1", "port": listener}], port_default_gateway=True)
    assert entries[0] == {
        "description": "DefaultGateway",
        "host": "127.0.0.1",
        "indice": "port_0",
        "port": 0,
        "refresh": 30,
        "rtt_warning": None,
        "status": pytest.approx(0.045e-3),
        "timeout": 3,
        "key": "indice",
    }
    assert argv.read_text().split() == ["-n", "-c", "1", "-W", "3", "--", "127.0.0.1"]
    assert entries[1]["indice"] == "port_1"


def test_default_gateway_without_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (FIXTURES / "route-gateway-loopback").read_text().splitlines(keepends=True)
    route = tmp_path / "route"
    route.write_text(lines[0] + lines[2])  # the header and the link route only
    monkeypatch.setattr(network, "ROUTE_FILE", route)
    fake_ping(tmp_path, monkeypatch, "exit 0")
    entries, _ = run([], port_default_gateway=True)
    assert [(e["indice"], e["host"], e["status"]) for e in entries] == [("port_0", None, None)]


# --- live ------------------------------------------------------------------------------


def test_live_sampler_with_a_loopback_target(listener: int) -> None:
    """The built-in configuration (default gateway off: no traffic off loopback) plus one
    target; the sampler answers well within its timeout."""
    ctx = context(
        ["ports"],
        config=from_mapping(
            {
                "ports": {
                    "port_default_gateway": False,
                    "port": [{"host": "localhost", "port": listener}],
                }
            }
        ),
    )
    start = time.monotonic()
    data, state = sample_ports(None, ctx)
    assert time.monotonic() - start < ctx.config.timeout_of("ports")
    [entry] = data["ports"]
    # localhost may resolve to ::1 first, where nothing listens: it then tries 127.0.0.1
    assert type(entry["status"]) is float
    assert entry["host"] == "localhost"
    assert state == PortsState()
