"""Shared test helpers: a live statbus subprocess on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

URL_LINE = re.compile(r"serving (http://\S+/api/4)")

#: the ``*_log`` switches off for the stats the host's own load moves: with these, no
#: CPU_TOTAL, CPU_IOWAIT, LOAD, MEM or MEMSWAP event opens because the machine is busy
#: (a test that watches other events, or counts them, takes them)
QUIET_CPU = {"cpu": {"total_log": False, "iowait_log": False}, "load": {"log": False}}
QUIET_HOST = {**QUIET_CPU, "mem": {"log": False}, "memswap": {"log": False}}


def toml_sections(sections: dict[str, dict[str, Any]]) -> str:
    """``{"cpu": {"total_log": False}}`` as TOML sections (booleans and numbers)."""
    lines = []
    for name, body in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


@dataclass
class LiveStatbus:
    """A ``statbus`` process started from the console entry point."""

    proc: subprocess.Popen[str]
    base: str  # http://127.0.0.1:PORT[/prefix]/api/4
    stderr_lines: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            for reader in self.readers:  # they end at EOF, now that the process is gone
                reader.join(timeout=5)
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    pipe.close()


def start_statbus(
    tmp: Path,
    toml: str,
    *extra: str,
    ready_timeout: float = 30.0,
    env: dict[str, str] | None = None,
) -> LiveStatbus:
    """Run ``python -m api.cli --config <toml>`` and wait for its URL line.

    Unless ``toml`` has a ``[ports]`` section, the default-gateway check is turned off:
    its ping would leave the machine, and tests stay on loopback."""
    path = tmp / "statbus.toml"
    if not re.search(r"^\[ports\]", toml, re.MULTILINE):
        toml += "\n[ports]\nport_default_gateway = false\n"
    path.write_text(toml)
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "--config", str(path), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # its state (events, history) in the test's folder, never in a real home
        env={
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "XDG_STATE_HOME": str(tmp / "state"),
            **(env or {}),
        },
    )
    live = LiveStatbus(proc, base="")
    _STARTED.append(live)
    assert proc.stderr is not None and proc.stdout is not None

    def drain_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            live.stderr_lines.append(line)

    live.readers.append(threading.Thread(target=drain_stderr, daemon=True))
    live.readers[-1].start()
    deadline = time.monotonic() + ready_timeout
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = URL_LINE.search(line)
        if match:
            live.base = match.group(1)
            live.readers.append(threading.Thread(target=proc.stdout.read, daemon=True))
            live.readers[-1].start()
            return live
    live.stop(signal.SIGKILL)
    raise AssertionError(
        f"statbus did not print its URL (last line {line!r}); stderr:\n"
        + "".join(live.stderr_lines)
    )


_STARTED: list[LiveStatbus] = []


@pytest.fixture(autouse=True, scope="session")
def _no_statbus_left_behind() -> Iterator[None]:
    """Whatever a failing test left running is killed when the session ends."""
    yield
    for live in _STARTED:
        if live.proc.poll() is None:
            live.stop(signal.SIGKILL)


@pytest.fixture(autouse=True)
def _isolated_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In-process statbus keeps its data directory in the test's folder."""
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStatbus]:
    """statbus with default settings (no auth) on a free port, for the whole session."""
    server = start_statbus(
        tmp_path_factory.mktemp("live"), "[api]\nport = 0\n[global]\nrefresh = 1.0\n"
    )
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="session")
def live_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStatbus]:
    """statbus with Basic auth and a URL prefix, for the whole session."""
    server = start_statbus(
        tmp_path_factory.mktemp("live_auth"),
        '[api]\nport = 0\nusername = "admin"\npassword = "s3cret"\nurl_prefix = "/glances/"\n',
    )
    yield server
    assert server.stop() == 0
