"""``config/statbus.service`` (issue #9, running as a service): the unit parses
(``systemd-analyze verify``, where present), keeps the sandbox the issue asks for, and
statbus really runs under its main restrictions.

systemd is not PID 1 on a test machine (or in CI containers), so the unit itself cannot
be started here.  Its main restrictions are reproduced instead with ``unshare`` and
``setpriv`` (util-linux), as root: a private mount namespace in which every file system
is read-only but the state directory (ProtectSystem=strict, StateDirectory=), then an
unprivileged user with no capabilities, none to gain and no_new_privs
(User=, CapabilityBoundingSet=, NoNewPrivileges=), and ``$STATE_DIRECTORY`` set as
systemd sets it.  Not reproduced: the seccomp filter (SystemCallFilter=,
RestrictAddressFamilies=, MemoryDenyWriteExecute=) and the other Protect*= mounts."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import URL_LINE

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "config" / "statbus.service"


def settings(path: Path = UNIT) -> dict[str, list[str]]:
    """``{key: [values in order]}`` of the unit's [Service] section (comments skipped)."""
    out: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}{key.strip()}", []).append(value.strip())
    return out


def service(key: str) -> list[str]:
    return settings().get(f"[Service]{key}", [])


def test_the_sandbox_the_issue_asks_for() -> None:
    assert service("NoNewPrivileges") == ["yes"]
    assert service("ProtectSystem") == ["strict"]
    assert service("ProtectHome") in (["yes"], ["read-only"])
    assert service("PrivateTmp") == ["yes"]
    assert service("StateDirectory") == ["statbus"]
    assert service("Restart") == ["on-failure"]
    # a bad configuration (exit 2) is not restarted in a loop
    assert service("RestartPreventExitStatus") == ["2"]
    # the cap on open connections (hypercorn has none of its own)
    assert service("LimitNOFILE") == ["4096"]
    # an unprivileged user, with no capabilities to keep or gain
    assert service("DynamicUser") == ["yes"] or service("User") not in ([], ["root"], ["0"])
    assert service("CapabilityBoundingSet") == [""]
    assert service("AmbientCapabilities") in ([], [""])
    # nothing that hides processes from psutil
    assert service("ProtectProc") in ([], ["default"])
    assert service("ProcSubset") in ([], ["all"])
    assert service("PrivateUsers") in ([], ["no"])
    # the configuration where docs/service.md puts it; the data directory is the state
    # directory: global.data_dir must stay "" for $STATE_DIRECTORY to be used
    (exec_start,) = service("ExecStart")
    assert "--config /etc/statbus/statbus.toml" in exec_start
    assert "data_dir" not in UNIT.read_text().split("[Service]")[1].split("#")[0]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """Every directive known and every value valid (verify only warns about unknown
    keys, so its output must be empty), with ExecStart pointing at this checkout's
    statbus (verify needs the program to exist)."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    statbus = shutil.which("statbus", path=str(Path(sys.executable).parent))
    assert statbus is not None, "the statbus command is not installed next to python"
    text = UNIT.read_text()
    assert "ExecStart=/usr/local/bin/statbus " in text
    unit = tmp_path / "statbus.service"
    unit.write_text(text.replace("ExecStart=/usr/local/bin/statbus ", f"ExecStart={statbus} "))
    out = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    about_it = [line for line in (out.stdout + out.stderr).splitlines() if unit.name in line]
    assert out.returncode == 0 and not about_it, out.stdout + out.stderr
    # and verify does catch a bad one (so that the check above means something)
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=stric"))
    out = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert f"{unit.name}:" in out.stdout + out.stderr


# -- statbus under the unit's restrictions -------------------------------------------


def _can_sandbox() -> str | None:
    """Why the restrictions cannot be reproduced here, or None."""
    if os.geteuid() != 0:
        return "needs root (to make a mount namespace and change user)"
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "mount", "-o", "remount,bind,ro", "/"],
        capture_output=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return f"cannot make a read-only mount namespace: {probe.stderr.decode().strip()}"
    return None


def _cannot_import_as(user: pwd.struct_passwd) -> str | None:
    """Why ``user`` cannot run this installation of statbus, or None: a checkout (and its
    venv) under a folder only root may enter, as ``mktemp -d`` makes, is out of its
    reach, where the unit's install (under /usr/local) is not."""
    out = subprocess.run(
        ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
         "--", sys.executable, "-c", "import api.cli"],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    if out.returncode == 0:
        return None
    last = (out.stderr.strip().splitlines() or ["?"])[-1]
    return f"{user.pw_name} cannot run this installation of statbus ({last})"


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder the unprivileged user can reach (pytest's tmp_path is root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="statbus-service-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_statbus_runs_unprivileged_read_only_without_capabilities(shared_dir: Path) -> None:
    why = _can_sandbox()
    if why is not None:
        pytest.skip(why)
    nobody = pwd.getpwnam("nobody")
    why = _cannot_import_as(nobody)
    if why is not None:
        pytest.skip(why)
    state = shared_dir / "state"  # what StateDirectory= makes: owned by the user
    state.mkdir(mode=0o700)
    os.chown(state, nobody.pw_uid, nobody.pw_gid)
    config = shared_dir / "statbus.toml"
    config.write_text(
        "[api]\nport = 0\n[global]\nhistory_write_interval = 0.2\n"
        "[ports]\nport_default_gateway = false\n"
    )
    config.chmod(0o644)
    # every mount read-only (ProtectSystem=strict), the state directory excepted
    script = (
        f"mount --bind {state} {state} && "
        "for m in $(awk '{print $2}' /proc/self/mounts | sort -u); do "
        f'  case "$m" in /proc*|/sys*|/dev*|{state}) continue;; esac; '
        '  mount -o remount,bind,ro "$m" 2>/dev/null; '
        "done; "
        f"exec setpriv --reuid={nobody.pw_uid} --regid={nobody.pw_gid} --clear-groups "
        "--no-new-privs --bounding-set=-all --inh-caps=-all --ambient-caps=-all -- "
        f"{sys.executable} -m api.cli --config {config} run"
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONUNBUFFERED": "1",
        "STATE_DIRECTORY": str(state),  # as systemd sets it for StateDirectory=
        "HOME": "/nonexistent",
        "LANG": "C.UTF-8",
    }
    proc = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd="/",
    )
    stderr: list[str] = []
    assert proc.stdout is not None and proc.stderr is not None
    reader = threading.Thread(target=lambda: stderr.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        base = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not base:
            line = proc.stdout.readline()
            if not line:
                break
            match = URL_LINE.search(line)
            base = match.group(1) if match else ""
        assert base, "statbus did not start:\n" + "".join(stderr)
        threading.Thread(target=proc.stdout.read, daemon=True).start()

        # the process is what the unit makes: unprivileged, no capabilities, no_new_privs
        status = Path(f"/proc/{proc.pid}/status").read_text()
        assert re.search(rf"^Uid:\s+{nobody.pw_uid}\s", status, re.M), status
        assert re.search(r"^CapEff:\s+0+$", status, re.M)
        assert re.search(r"^CapBnd:\s+0+$", status, re.M)
        assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)

        # psutil still sees every process, other users' included (this test's, root's)
        processes = httpx.get(f"{base}/processlist", timeout=30).json()
        mine = [p for p in processes if p["pid"] == os.getpid()]
        assert mine and mine[0]["username"] == "root", mine
        everything = httpx.get(f"{base}/all", timeout=30).json()
        assert everything["mem"]["total"] > 0 and everything["cpu"]["cpucore"] >= 1
        assert everything["fs"], "no file system seen"
        assert everything["processcount"]["total"] >= 2
        # history is written to the state directory, the only writable place
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(state.iterdir()):
            time.sleep(0.1)
        assert any(state.iterdir()), "nothing written to the state directory"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        reader.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0, "".join(stderr)
    assert not any("Traceback" in line for line in stderr), "".join(stderr)
    owners = {p.stat().st_uid for p in state.rglob("*")}
    assert owners == {nobody.pw_uid}, owners
