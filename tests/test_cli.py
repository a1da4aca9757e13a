"""The ``statbus`` command end to end: start, serve, stop; and its refusals."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.main import SHUTDOWN_DEADLINE
from tests.conftest import start_statbus
from tests.polling import sync_until

#: on a busy 2-core machine: the interpreter's own exit, after the deadline's work
MARGIN = 2.0

STATBUS = [sys.executable, "-m", "api.cli"]
REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STATBUS, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_then_exits_cleanly_on_signal(tmp_path: Path, sig: int) -> None:
    live = start_statbus(tmp_path, "[api]\nport = 0\n")
    data = httpx.get(f"{live.base}/all", timeout=10).json()
    assert data["cpu"]["cpucore"] >= 1
    assert data["mem"]["total"] > 0
    started = time.monotonic()
    code = live.stop(sig, timeout=10)
    assert code == 0, "".join(live.stderr_lines)
    assert time.monotonic() - started < SHUTDOWN_DEADLINE + MARGIN
    assert not any("Traceback" in line for line in live.stderr_lines), live.stderr_lines


def test_version_and_help() -> None:
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("statbus ")
    helptext = run("--help")
    assert helptext.returncode == 0
    for flag in ("--config", "--bind", "--port", "--refresh", "check-config"):
        assert flag in helptext.stdout


def test_check_config_prints_the_effective_configuration(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[global]\nrefresh = 5\n[api]\npassword = "pw"\n[cpu]\nrefresh = 1\n')
    out = run("--port", "1234", "check-config", str(path))
    assert out.returncode == 0, out.stderr
    effective = tomllib.loads(out.stdout)
    assert effective["global"]["refresh"] == 5.0
    assert effective["api"]["port"] == 1234  # flag beats file
    assert effective["api"]["password"] == "********"
    assert effective["cpu"]["refresh"] == 1.0
    assert effective["mem"]["refresh"] == 5.0
    assert effective["fs"]["refresh"] == 60.0


def test_shipped_config_is_valid_and_equals_the_defaults() -> None:
    shipped = run("check-config", str(REPO / "config" / "statbus.toml"))
    builtin = run("check-config")
    assert shipped.returncode == 0 and builtin.returncode == 0
    assert tomllib.loads(shipped.stdout) == tomllib.loads(builtin.stdout)


@pytest.mark.parametrize(
    ("toml", "flags", "needle"),
    [
        ("[api]\nport = 70000\n", [], "api.port = 70000: must be between 0 and 65535"),
        ('[api]\nport = "80"\n', [], "api.port = '80': must be an integer"),
        ("[global]\nrefresh = -1\n", [], "global.refresh = -1"),
        ("[global]\nrefrsh = 2\n", [], "global.refrsh = 2: unknown key"),
        ("[nosuch]\nx = 1\n", [], "nosuch = {'x': 1}: unknown section"),
        ("[cpu]\ndisable = 1\n", [], "cpu.disable = 1: must be true or false"),
        ("[api\n", [], "invalid TOML"),
        ('[api]\nurl_prefix = "/a<int:x>"\n', [], "api.url_prefix = '/a<int:x>': must be"),
        ("", ["--port", "http"], "--port = 'http': must be an integer"),
        ("", ["--refresh", "0"], "global.refresh = 0.0: must be between"),
    ],
)
def test_bad_config_stops_startup_with_one_line(
    tmp_path: Path, toml: str, flags: list[str], needle: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    out = run("--config", str(path), *flags)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert needle in lines[0]
    # check-config refuses it the same way
    assert run(*flags, "check-config", str(path)).returncode == 2


def test_missing_config_file(tmp_path: Path) -> None:
    out = run("--config", str(tmp_path / "absent.toml"))
    assert out.returncode == 2
    assert "cannot read the file" in out.stderr


def test_port_in_use_exits_1_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "c.toml"
        path.write_text(f"[api]\nport = {port}\n[global]\nsampler_timeout = 2\n")
        out = run("--config", str(path))
    assert out.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr


def test_sigterm_with_unreachable_broker_and_receiver_exits_in_time(tmp_path: Path) -> None:
    """Sinks that cannot reach anything never hold up a shutdown."""
    with socket.socket() as s1, socket.socket() as s2:
        s1.bind(("127.0.0.1", 0))
        s2.bind(("127.0.0.1", 0))
        broker, receiver = s1.getsockname()[1], s2.getsockname()[1]
    live = start_statbus(
        tmp_path,
        "[api]\nport = 0\n[mem]\ncareful = 1.0\nwarning = 2.0\ncritical = 3.0\n"
        f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker}\n'
        f'[[webhooks]]\nurl = "http://127.0.0.1:{receiver}/hook"\n',
    )

    def retrying() -> dict[str, object] | None:  # a MEM event opened: its webhook retries
        pipeline: dict[str, Any] = httpx.get(f"{live.base}/pipeline", timeout=10).json()
        return pipeline if pipeline["sinks"]["webhooks"]["webhook1"]["retried"] else None

    pipeline = sync_until(retrying)
    assert pipeline["sinks"]["mqtt"]["state"] != "connected"
    started = time.monotonic()
    assert live.stop(signal.SIGTERM, timeout=10) == 0, "".join(live.stderr_lines)
    assert time.monotonic() - started < SHUTDOWN_DEADLINE + MARGIN


# -- hash-password ----------------------------------------------------------------------


def test_hash_password_reads_stdin_and_prints_a_hash_that_verifies(tmp_path: Path) -> None:
    from pipeline.config import passwords

    out = subprocess.run(
        [*STATBUS, "hash-password", "--iterations", "1000"],
        input="pässword with spaces\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    hashed = out.stdout.strip()
    assert out.stdout == hashed + "\n"  # the hash alone: scripts can capture it
    parsed = passwords.parse(hashed)
    assert parsed is not None and parsed.iterations == 1000
    assert parsed.verify("pässword with spaces") and not parsed.verify("pässword")
    # the config takes it, and never shows it
    path = tmp_path / "c.toml"
    path.write_text(f'[api]\npassword = "{hashed}"\n')
    shown = run("check-config", str(path))
    assert shown.returncode == 0 and hashed not in shown.stdout
    assert tomllib.loads(shown.stdout)["api"]["password"] == "********"


def test_hash_password_asks_twice_at_a_terminal() -> None:
    """At a terminal the password is read with getpass (no echo), twice; two that
    differ print nothing."""
    import os
    import pty

    from pipeline.config import passwords

    def ask(first: str, second: str) -> tuple[int, str]:
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [*STATBUS, "hash-password", "--iterations", "1000"],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            start_new_session=True,  # no controlling terminal: getpass uses stdin, the pty
        )
        os.close(follower)
        seen = b""
        try:
            for prompts, answer in ((1, first), (2, second)):
                while seen.count(b"Password") < prompts:
                    chunk = os.read(leader, 1024)
                    assert chunk, seen
                    seen += chunk
                os.write(leader, answer.encode() + b"\n")
            stdout, _ = proc.communicate(timeout=60)
        finally:
            os.close(leader)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert first.encode() not in seen  # not echoed
        return proc.returncode, stdout

    code, stdout = ask("tty secret", "tty secret")
    parsed = passwords.parse(stdout.strip())
    assert code == 0 and parsed is not None and parsed.verify("tty secret")
    code, stdout = ask("tty secret", "tty secreT")
    assert code == 1 and stdout == ""


def test_hash_password_refuses_argv_empty_input_and_bad_iterations() -> None:
    assert run("hash-password", "s3cret").returncode == 2  # never from the command line
    empty = subprocess.run(
        [*STATBUS, "hash-password"], input="\n", capture_output=True, text=True, timeout=60
    )
    assert empty.returncode == 1 and empty.stdout == "" and "empty" in empty.stderr
    for bad in ("10", "many", "99999999999"):
        out = subprocess.run(
            [*STATBUS, "hash-password", "--iterations", bad],
            input="pw\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2 and out.stdout == "" and "--iterations" in out.stderr


def test_a_malformed_hash_stops_start_up_without_showing_it(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[api]\npassword = "pbkdf2_sha256$600000$c2FsdHNhbHQ$tooShort-Xy7"\n')
    for args in (("check-config", str(path)), ("--config", str(path))):
        out = run(*args)
        assert out.returncode == 2
        assert "api.password" in out.stderr and "not a valid password hash" in out.stderr
        assert "tooShort-Xy7" not in out.stderr and out.stderr.count("\n") == 1
