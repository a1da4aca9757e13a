"""statbus against Glances, side by side on this machine (issue 6).

    python tests/benchmarks/vs_glances.py [--quick] [--write-docs] [--soak]

- installs the reference (glances 4.5.x from PyPI, paho-mqtt, and the fastapi /
  uvicorn / orjson / jinja2 that ``glances -w`` imports) into a throwaway venv outside
  the repo (``--glances-venv``, default ``~/.cache/statbus-bench/glances-venv``);
- starts a private Mosquitto on a free loopback port (never the machine's own broker);
- **sampling + export**: ``glances --quiet --export mqtt -t R`` against statbus with its
  MQTT sink on, the same broker, refresh, plugins; at R = 2 and 1 s, with 0 and 300
  extra idle processes; CPU seconds per minute (utime + stime + cutime + cstime of
  /proc/<pid>/stat, all threads) and peak RSS (VmHWM);
- **API**: ``glances -w --disable-webui`` against statbus (the resident pair below, both
  up and polled for 5 minutes first), ``wrk`` with 50 connections on ``/api/4/all`` and
  ``/api/4/cpu``;
- runs in rounds, alternating A B A B so that drift cancels out; each tool's figure is
  the total over its rounds (``--window`` seconds per tool per configuration, split
  into ``--rounds`` windows);
- **RSS**: while the sampling rounds run, Glances ``-w`` and statbus (API and history on)
  run side by side, each asked for ``/api/4/all`` every 2 s; their RSS is read once
  both have been up ``--rss-minutes`` (5), and again after the API load;
- ``--soak``: statbus alone for 60 minutes at refresh 1 s with its history full from
  the start (a first statbus, every plugin at 0.1 s, fills 1200 points a series into
  the data directory), RSS at 5 and 60 minutes.

Every process started here is stopped by PID in ``finally`` blocks; statbus gets a
temporary XDG_STATE_HOME, Glances a temporary HOME, so neither writes into the real one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pipeline.plugins import PLUGINS  # noqa: E402

GLANCES_SPEC = "glances>=4.5,<4.6"
#: what ``glances --export mqtt`` and ``glances -w`` import beyond glances itself
GLANCES_EXTRAS = ("paho-mqtt", "certifi", "fastapi", "uvicorn", "orjson", "jinja2")
DEFAULT_VENV = Path.home() / ".cache" / "statbus-bench" / "glances-venv"
MOSQUITTO = "/usr/sbin/mosquitto"
TICKS = os.sysconf("SC_CLK_TCK")
SECTION = "## statbus against Glances"
SOAK_SECTION = "## statbus soak"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime (all threads) + cutime + cstime (reaped children), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): fields 14..17 are at indexes 11..14
    return sum(int(f) for f in fields[11:15]) / TICKS


def pids_now() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                kids = Path(f"/proc/{p}/task/{task}/children").read_text().split()
                out.extend(int(k) for k in kids)
                todo.extend(int(k) for k in kids)
    return out


def tree_cpu(pid: int) -> float:
    total = cpu_seconds(pid)
    for child in descendants(pid):
        with contextlib.suppress(OSError, ValueError):
            total += cpu_seconds(child)
    return total


def stop(proc: subprocess.Popen[bytes], name: str) -> None:
    if proc.poll() is None:
        for child in descendants(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            log(f"{name} (pid {proc.pid}) ignored SIGTERM: SIGKILL")
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def started(
    argv: Sequence[str], name: str, env: dict[str, str], logfile: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with logfile.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        yield proc
    finally:
        stop(proc, name)


@contextlib.contextmanager
def idle_processes(count: int) -> Iterator[None]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            procs.append(subprocess.Popen(["sleep", "600"]))
        yield
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
        for p in procs:
            p.wait()


@contextlib.contextmanager
def mosquitto(tmp: Path) -> Iterator[int]:
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n"
    )
    with started(
        [MOSQUITTO, "-c", str(conf)], "mosquitto", dict(os.environ), tmp / "mosquitto.log"
    ) as proc:
        wait_port(port, proc, "mosquitto", 10)
        log(f"mosquitto pid {proc.pid} on 127.0.0.1:{port}")
        yield port


def tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_port(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on {port} within {timeout} s")


def wait_http(url: str, proc: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before serving")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not serve {url} within {timeout} s")


# --------------------------------------------------------------------------- the tools


def ensure_glances(venv: Path) -> Path:
    exe = venv / "bin" / "glances"
    probe = "import glances, paho.mqtt, certifi, fastapi, uvicorn, orjson, jinja2"
    if exe.exists() and subprocess.run([str(venv / "bin" / "python"), "-c", probe]).returncode:
        exe.unlink()  # an incomplete venv: install what is missing
    if not exe.exists():
        log(f"installing {GLANCES_SPEC} {' '.join(GLANCES_EXTRAS)} into {venv}")
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, GLANCES_SPEC, *GLANCES_EXTRAS], check=True)
    return exe


def glances_version(venv: Path) -> str:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import glances; print(glances.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def glances_only_plugins(venv: Path) -> list[str]:
    """Glances plugins statbus does not have: disabled in Glances for the same work."""
    found = sorted(venv.glob("lib/python*/site-packages/glances/plugins"))
    names = {p.name for p in found[0].iterdir() if (p / "__init__.py").exists()}
    return sorted(names - set(PLUGINS) - {"plugin", "help"})


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        log("installing wrk (apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env).returncode:
            subprocess.run(["apt-get", "update"], env=env, check=True)
            subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, check=True)
        wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not available")
    return wrk


def isolated_env(tmp: Path) -> dict[str, str]:
    """The environment with a home (and XDG directories) of its own under ``tmp``, so
    neither tool reads or writes the user's state."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }


@dataclass
class Tools:
    glances: Path
    disabled: list[str]
    tmp: Path
    broker: int

    def glances_conf(self, refresh: float) -> Path:
        conf = self.tmp / f"glances-{refresh:g}.conf"
        conf.write_text(
            f"[global]\nrefresh={refresh:g}\n\n"
            "[mqtt]\nhost=127.0.0.1\n"
            f"port={self.broker}\n"
            "tls=false\nuser=glances\npassword=anything\n"
            "topic=glances\ndevicename=bench-glances\ntopic_structure=per-plugin\n"
        )
        return conf

    def statbus_conf(
        self, refresh: float, *, mqtt: bool, api_port: int, every_plugin: bool = False
    ) -> Path:
        """``every_plugin``: every plugin at ``refresh``, even those the reference
        samples less often (fs, ip, system, sensors, versions)."""
        conf = self.tmp / f"statbus-{refresh:g}-{int(mqtt)}-{api_port}-{int(every_plugin)}.toml"
        slow = [name for name, info in PLUGINS.items() if info.refresh is not None]
        overrides = "".join(f"\n[{name}]\nrefresh = {refresh:g}\n" for name in slow)
        conf.write_text(
            f'[global]\nrefresh = {refresh:g}\nlog_level = "WARNING"\n'
            f'data_dir = "{self.tmp / "statbus-state"}"\n\n'
            f'[api]\nenabled = {str(not mqtt).lower()}\nbind = "127.0.0.1"\n'
            f"port = {api_port}\n\n"
            f'[mqtt]\nenabled = {str(mqtt).lower()}\nhost = "127.0.0.1"\n'
            f'port = {self.broker}\ntopic = "glances"\ndevicename = "bench-statbus"\n'
            'topic_structure = "per-plugin"\nqos = 0\n\n'
            "[mqtt.homeassistant]\nenabled = false\n" + (overrides if every_plugin else "")
        )
        return conf

    def env(self) -> dict[str, str]:
        return isolated_env(self.tmp)

    def glances_sampling(self, refresh: float) -> list[str]:
        return [
            str(self.glances),
            "-C",
            str(self.glances_conf(refresh)),
            "--quiet",
            "--export",
            "mqtt",
            "-t",
            f"{refresh:g}",
            "--disable-plugin",
            ",".join(self.disabled),
        ]

    def statbus_sampling(self, refresh: float) -> list[str]:
        conf = self.statbus_conf(refresh, mqtt=True, api_port=0)
        return [sys.executable, "-m", "api.cli", "--config", str(conf)]

    def glances_api(self, port: int) -> list[str]:
        return [
            str(self.glances),
            "-C",
            str(self.glances_conf(2)),
            "-w",
            "--disable-webui",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--disable-plugin",
            ",".join(self.disabled),
        ]

    def statbus_api(self, port: int) -> list[str]:
        conf = self.statbus_conf(2, mqtt=False, api_port=port)
        return [sys.executable, "-m", "api.cli", "--config", str(conf)]


# --------------------------------------------------------------------------- measures


@dataclass
class Sample:
    cpu: float = 0.0  # seconds
    wall: float = 0.0  # seconds
    hwm: int = 0  # KiB, the max over the rounds
    rss: int = 0  # KiB, the last
    messages: int = 0

    @property
    def cpu_per_min(self) -> float:
        return self.cpu / self.wall * 60 if self.wall else float("nan")


def count_messages(path: Path, device: str) -> int:
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text(errors="replace").splitlines() if device in line)


def sampling_window(
    tools: Tools, tool: str, refresh: float, window: float, warmup: float, into: Sample
) -> None:
    argv = tools.glances_sampling(refresh) if tool == "glances" else tools.statbus_sampling(refresh)
    device = "bench-glances" if tool == "glances" else "bench-statbus"
    sub_log = tools.tmp / f"sub-{tool}-{refresh:g}-{time.monotonic_ns()}.log"
    sub_argv = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(tools.broker), "-t", "#", "-v"]
    logfile = tools.tmp / f"{tool}.log"
    with started(argv, tool, tools.env(), logfile) as proc:
        time.sleep(warmup)
        if proc.poll() is not None:
            raise RuntimeError(f"{tool} exited with {proc.returncode}: {tail(logfile)}")
        sub = (
            contextlib.nullcontext()
            if shutil.which("mosquitto_sub") is None
            else started(sub_argv, "mosquitto_sub", dict(os.environ), sub_log)
        )
        with sub:
            c0, t0 = tree_cpu(proc.pid), time.monotonic()
            time.sleep(window)
            c1, t1 = tree_cpu(proc.pid), time.monotonic()
            into.hwm = max(into.hwm, status_kib(proc.pid, "VmHWM"))
            into.rss = status_kib(proc.pid, "VmRSS")
        if proc.poll() is not None:
            raise RuntimeError(f"{tool} exited with {proc.returncode}: {tail(logfile)}")
    into.cpu += c1 - c0
    into.wall += t1 - t0
    into.messages += count_messages(sub_log, f"glances/{device}/")


@dataclass
class Wrk:
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    non2xx: int = 0
    socket_errors: int = 0
    requests: int = 0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(text)
    return float(m[1]) * _UNITS[m[2]]


def parse_wrk(out: str) -> Wrk:
    w = Wrk()
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        w.rps = float(m[1])
    if m := re.search(r"^\s+50%\s+(\S+)", out, re.M):
        w.p50_ms = _ms(m[1])
    if m := re.search(r"^\s+99%\s+(\S+)", out, re.M):
        w.p99_ms = _ms(m[1])
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        w.non2xx = int(m[1])
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        w.socket_errors = sum(int(x) for x in m.groups())
    if m := re.search(r"(\d+) requests in", out):
        w.requests = int(m[1])
    return w


def api_round(
    tool: str,
    proc: subprocess.Popen[bytes],
    base: str,
    wrk: str,
    paths: Sequence[str],
    duration: float,
    connections: int,
    into: dict[str, list[Wrk]],
    rss: dict[str, int],
) -> None:
    """``wrk`` on each path of ``base`` (the resident ``tool``, already warm)."""
    threads = str(min(connections, os.cpu_count() or 1))
    for path in paths:
        out = subprocess.run(
            [
                wrk,
                "-t",
                threads,
                "-c",
                str(connections),
                "-d",
                f"{duration:g}s",
                "--latency",
                "--timeout",
                "10s",
                base + path,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        into.setdefault(path, []).append(parse_wrk(out))
    rss[tool] = max(rss.get(tool, 0), status_kib(proc.pid, "VmRSS"))
    rss[tool + "_hwm"] = max(rss.get(tool + "_hwm", 0), status_kib(proc.pid, "VmHWM"))
    if proc.poll() is not None:
        raise RuntimeError(f"{tool} exited with {proc.returncode}")


def merge(runs: list[Wrk]) -> Wrk:
    """Rounds of equal duration: requests/s averaged, latencies the worst round's p99
    and the median-ish (mean) p50, errors summed."""
    return Wrk(
        rps=sum(r.rps for r in runs) / len(runs),
        p50_ms=sum(r.p50_ms for r in runs) / len(runs),
        p99_ms=max(r.p99_ms for r in runs),
        non2xx=sum(r.non2xx for r in runs),
        socket_errors=sum(r.socket_errors for r in runs),
        requests=sum(r.requests for r in runs),
    )


@dataclass
class Resident:
    """Glances ``-w`` and statbus (API on, history on) running side by side for
    ``minutes``, each asked for ``/api/4/all`` every ``period`` s (a dashboard or Home
    Assistant polling), so both keep sampling and both keep their history: their RSS
    after that time is the memory figure."""

    tools: Tools
    minutes: float
    period: float = 2.0

    @contextlib.contextmanager
    def running(self) -> Iterator[Resident]:
        ports = {"glances": free_port(), "statbus": free_port()}
        argvs = {
            "glances": self.tools.glances_api(ports["glances"]),
            "statbus": self.tools.statbus_api(ports["statbus"]),
        }
        with contextlib.ExitStack() as stack:
            self.procs = {
                tool: stack.enter_context(
                    started(argv, tool, self.tools.env(), self.tools.tmp / f"{tool}-rss.log")
                )
                for tool, argv in argvs.items()
            }
            self.bases = {t: f"http://127.0.0.1:{p}/api/4" for t, p in ports.items()}
            self.urls = {t: base + "/all" for t, base in self.bases.items()}
            for tool, proc in self.procs.items():
                wait_http(self.urls[tool], proc, tool, 60)
            self.since = time.monotonic()
            stop_polling = threading.Event()
            self.paused = threading.Event()
            poller = threading.Thread(target=self._poll, args=(stop_polling,), daemon=True)
            poller.start()
            log(f"resident: Glances -w and statbus up, polled every {self.period:g} s")
            try:
                yield self
            finally:
                stop_polling.set()
                poller.join(30)

    def _poll(self, stop: threading.Event) -> None:
        while not stop.wait(self.period):
            if self.paused.is_set():
                continue
            for url in self.urls.values():
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310
                        resp.read()

    def rss(self) -> dict[str, tuple[int, int]]:
        """``{tool: (VmRSS, VmHWM)}`` in KiB, once both have been up ``minutes``."""
        wait = self.since + self.minutes * 60 - time.monotonic()
        if wait > 0:
            log(f"resident: waiting {wait:.0f} s for {self.minutes:g} minutes of uptime")
            time.sleep(wait)
        found = {}
        for tool, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{tool} (resident) exited with {proc.returncode}")
            found[tool] = (status_kib(proc.pid, "VmRSS"), status_kib(proc.pid, "VmHWM"))
        return found

    def describe(self, found: dict[str, tuple[int, int]], when: str) -> str:
        up = (time.monotonic() - self.since) / 60
        g, s = found["glances"], found["statbus"]
        return (
            f"| {when} | {up:.1f} | {g[0] / 1024:.1f} ({g[1] / 1024:.1f}) | "
            f"{s[0] / 1024:.1f} ({s[1] / 1024:.1f}) | **{ratio(s[0], g[0])}** |"
        )


# --------------------------------------------------------------------------- report


def machine(glances_ver: str) -> str:
    import psutil

    mem = psutil.virtual_memory().total / 2**30
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, psutil "
        f"{psutil.__version__}, Glances {glances_ver}"
    )


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def sampling_rows(tools: Tools, ns: argparse.Namespace, per: float) -> list[str]:
    rows: list[str] = []
    for extra in ns.extra:
        with idle_processes(extra):
            nproc = len([p for p in os.listdir("/proc") if p.isdigit()])
            for refresh in ns.refresh:
                res = {"glances": Sample(), "statbus": Sample()}
                warmup = max(ns.warmup, 2 * refresh)
                for r in range(ns.rounds):
                    for tool in ("glances", "statbus"):
                        log(f"sampling: {tool} R={refresh:g} extra={extra} round {r + 1}")
                        sampling_window(tools, tool, refresh, per, warmup, res[tool])
                g, s = res["glances"], res["statbus"]
                rows.append(
                    f"| {refresh:g} | {extra} ({nproc}) | {g.cpu_per_min:.2f} | "
                    f"{s.cpu_per_min:.2f} | **{ratio(s.cpu, g.cpu * s.wall / g.wall)}** | "
                    f"{g.hwm / 1024:.1f} | {s.hwm / 1024:.1f} | "
                    f"{ratio(s.hwm, g.hwm)} | {g.messages} / {s.messages} |"
                )
                log(rows[-1])
    return rows


def api_section(resident: Resident, wrk: str, ns: argparse.Namespace) -> list[str]:
    """wrk on the resident pair, A B A B, the poller paused."""
    paths = ["/all", "/cpu"]
    results: dict[str, dict[str, list[Wrk]]] = {"glances": {}, "statbus": {}}
    rss: dict[str, int] = {}
    resident.paused.set()
    try:
        for r in range(ns.rounds):
            for tool in ("glances", "statbus"):
                log(f"API: {tool} round {r + 1}")
                api_round(
                    tool,
                    resident.procs[tool],
                    resident.bases[tool],
                    wrk,
                    paths,
                    ns.api_duration,
                    ns.connections,
                    results[tool],
                    rss,
                )
    finally:
        resident.paused.clear()
    rows = []
    for path in paths:
        gw, sw = merge(results["glances"][path]), merge(results["statbus"][path])
        rows.append(
            f"| /api/4{path} | {gw.rps:.0f} | {sw.rps:.0f} | "
            f"**{ratio(sw.rps, gw.rps)}** | "
            f"{gw.p50_ms:.1f} | {sw.p50_ms:.1f} | {gw.p99_ms:.1f} | {sw.p99_ms:.1f} | "
            f"**{ratio(sw.p99_ms, gw.p99_ms)}** | "
            f"{gw.non2xx}+{gw.socket_errors} | {sw.non2xx}+{sw.socket_errors} |"
        )
        log(rows[-1])
    return [
        f"API (the resident pair below, both up and polled for {ns.rss_minutes:g} minutes "
        f"first; wrk, {ns.connections} connections, {ns.api_duration:g} s per path per "
        f"round, {ns.rounds} rounds A B A B; requests/s and p50 averaged over the rounds, "
        "p99 the worst round's; errors = non-2xx + socket errors):",
        "",
        "| path | Glances req/s | statbus req/s | statbus / Glances | "
        "Glances p50 ms | statbus p50 ms | Glances p99 ms | statbus p99 ms | "
        "p99 statbus / Glances | Glances errors | statbus errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def run(ns: argparse.Namespace) -> str:
    glances = ensure_glances(Path(ns.glances_venv).expanduser())
    venv = glances.parent.parent
    gver = glances_version(venv)
    disabled = glances_only_plugins(venv)
    wrk = ensure_wrk() if ns.api_duration > 0 else ""
    mach = machine(gver)
    log(mach)
    log(f"Glances-only plugins, disabled in Glances: {','.join(disabled)}")
    log(
        "statbus: all its plugins on (Glances --quiet samples the same ones); MQTT exports "
        "the same set as Glances (not alert/help/psutilversion/quicklook/version/process "
        "lists), qos 0, Home Assistant discovery off, API off while measuring sampling"
    )
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="statbus-bench-") as tmpdir:
        tmp = Path(tmpdir)
        with mosquitto(tmp) as broker:
            tools = Tools(glances, disabled, tmp, broker)
            if ns.soak:
                return soak(tools, ns)
            per = ns.window / ns.rounds
            resident = Resident(tools, ns.rss_minutes)
            with resident.running():
                rows = sampling_rows(tools, ns, per)
                rss_rows = [resident.describe(resident.rss(), "polled only")]
                log(rss_rows[-1])
                lines += [
                    "Sampling + export (CPU s per minute of wall time, user + sys, all "
                    "threads; peak RSS = VmHWM; messages = MQTT messages the broker relayed "
                    "for each over its measuring windows):",
                    "",
                    "| R s | extra (processes) | Glances CPU s/min | statbus CPU s/min | "
                    "statbus / Glances | Glances peak RSS MiB | statbus peak RSS MiB | "
                    "RSS ratio | messages G / s |",
                    "|---|---|---|---|---|---|---|---|---|",
                    *rows,
                    "",
                ]
                if ns.api_duration > 0:
                    lines += api_section(resident, wrk, ns)
                    rss_rows.append(resident.describe(resident.rss(), "after the API load"))
                    log(rss_rows[-1])
            lines += [
                f"RSS of the resident pair (Glances `-w`, statbus with API and history on, "
                f"1200 points), started together before the sampling rounds and asked "
                f"for `/api/4/all` every {resident.period:g} s (paused while `wrk` runs), "
                "MiB (peak):",
                "",
                "| when | minutes up | Glances -w | statbus | statbus / Glances |",
                "|---|---|---|---|---|",
                *rss_rows,
                "",
            ]
    header = [
        f"Machine: {mach}.",
        "",
        "Same work: Glances runs with the plugins statbus does not have disabled "
        f"(`--disable-plugin {','.join(disabled)}`); statbus with all its plugins, history "
        "on (1200 points), MQTT qos 0 and Home Assistant discovery off, as Glances "
        "publishes; both export per-plugin topics to a private Mosquitto on loopback. "
        f"Each tool is measured {ns.window:g} s per configuration in {ns.rounds} windows, "
        "alternating Glances, statbus, Glances, statbus, after a warm-up of "
        f"max({ns.warmup:g} s, 2 R).",
        "",
        "Both sample fs, ip and system every 60 s and sensors every 10 s (the reference's "
        "per-plugin refresh); Glances re-publishes its cached values every refresh, "
        "statbus publishes a plugin when it has a new sample, hence the message counts. "
        "While measuring sampling statbus has its API off and no MQTT export of the "
        "process lists (Glances exports none by default either), so it samples "
        "processlist and programlist only on demand (docs/plugins.md): with no alert "
        "going on, it only counts processes. Glances builds its process list every "
        "refresh.",
        "",
    ]
    return "\n".join(header + lines)


def fill_history(tools: Tools, points: int = 1200, refresh: float = 0.1) -> None:
    """Run statbus with every plugin at ``refresh`` until each history series holds
    ``points`` points, then stop it: the next statbus on the same data directory starts
    with its history full (it is persisted)."""
    port = free_port()
    conf = tools.statbus_conf(refresh, mqtt=False, api_port=port, every_plugin=True)
    argv = [sys.executable, "-m", "api.cli", "--config", str(conf)]
    log(f"soak: filling the history ({points} points at {refresh:g} s)")
    with started(argv, "statbus", tools.env(), tools.tmp / "statbus-fill.log") as proc:
        wait_http(f"http://127.0.0.1:{port}/api/4/status", proc, "statbus", 60)
        deadline = time.monotonic() + points * refresh * 4 + 60
        while time.monotonic() < deadline:
            url = f"http://127.0.0.1:{port}/api/4/cpu/history/{points + 1}"
            with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
                body = json.loads(resp.read())
            if min((len(v) for v in body.values()), default=0) >= points:
                break
            time.sleep(5)
        else:
            raise RuntimeError("the history did not fill")


def soak(tools: Tools, ns: argparse.Namespace) -> str:
    """statbus alone at refresh 1 s, history full from the start (filled first), a
    client asking for ``/api/4/all`` every 2 s; RSS at 5 and 60 minutes."""
    checkpoints = (5 * 60, 60 * 60) if not ns.quick else (60, 180)
    fill_history(tools)
    port = free_port()
    conf = tools.statbus_conf(1, mqtt=False, api_port=port)
    argv = [sys.executable, "-m", "api.cli", "--config", str(conf)]
    found: list[tuple[int, int, int]] = []  # (seconds, RSS KiB, processes on the host)
    start = time.monotonic()
    with started(argv, "statbus", tools.env(), tools.tmp / "statbus-soak.log") as proc:
        wait_http(f"http://127.0.0.1:{port}/api/4/status", proc, "statbus", 60)
        for at in checkpoints:
            while time.monotonic() < start + at:
                if proc.poll() is not None:
                    raise RuntimeError(f"statbus exited with {proc.returncode}")
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(  # noqa: S310 - loopback
                        f"http://127.0.0.1:{port}/api/4/all", timeout=10
                    ) as resp:
                        resp.read()
                time.sleep(min(2.0, max(0.0, start + at - time.monotonic())))
            # the host's process count: statbus' memory follows it (a burst of processes
            # leaves allocator arenas behind), so a growth is read against it
            found.append((at, status_kib(proc.pid, "VmRSS"), len(pids_now())))
            _, kib, count = found[-1]
            log(f"soak: {at / 60:g} min: RSS {kib / 1024:.1f} MiB, {count} processes")
    growth = (found[-1][1] - found[0][1]) / 1024
    return (
        "Soak (statbus alone, refresh 1 s, history full from the start: a first statbus "
        "with every plugin at 0.1 s filled 1200 points a series into the data directory; "
        "a client asked for `/api/4/all` every 2 s): "
        + ", ".join(
            f"RSS at {at / 60:g} min {kib / 1024:.1f} MiB ({n} processes on the host)"
            for at, kib, n in found
        )
        + f"; growth {growth:+.2f} MiB (target < 3 MB).\n"
    )


def write_docs(body: str, command: str, heading: str = SECTION) -> None:
    """Rewrite the ``heading`` section of docs/benchmarks.md (append it if absent)."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text()
    section = (
        f"{heading}\n\n```sh\n{command}\n```\n\n"
        f"Measured {time.strftime('%Y-%m-%d')}. {body.rstrip()}\n"
    )
    start = text.find(f"\n{heading}\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + 1)
        rest = "" if nxt < 0 else text[nxt:]
        text = text[: start + 1] + section + rest
    path.write_text(text)
    log(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--glances-venv", default=str(DEFAULT_VENV))
    parser.add_argument("--refresh", default="2,1", help="refresh intervals, s (2,1)")
    parser.add_argument("--extra", default="0,300", help="extra idle processes (0,300)")
    parser.add_argument(
        "--window",
        type=float,
        default=60.0,
        help="measured seconds per tool per configuration, split over the rounds (60)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="A B rounds (2: A B A B)")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds before measuring")
    parser.add_argument("--api-duration", type=float, default=20.0, help="wrk seconds, 0: skip")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="15 s windows, 5 s wrk runs")
    parser.add_argument(
        "--rss-minutes",
        type=float,
        default=5.0,
        help="uptime of the side-by-side RSS pair (Glances -w, statbus) when read (5)",
    )
    parser.add_argument("--soak", action="store_true", help="statbus alone for 60 minutes")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    ns = parser.parse_args(argv)
    if ns.quick:
        ns.window, ns.api_duration, ns.rss_minutes = 15.0, 5.0, min(ns.rss_minutes, 2.0)
    ns.refresh = [float(x) for x in ns.refresh.split(",")]
    ns.extra = [int(x) for x in ns.extra.split(",")]
    command = "python tests/benchmarks/vs_glances.py " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:]) if a != "--write-docs"
    )
    started_at = time.monotonic()
    body = run(ns)
    elapsed = time.monotonic() - started_at
    print(body)
    print(f"(ran in {elapsed / 60:.1f} min)")
    if ns.write_docs:
        if ns.quick:
            body = (
                "**Quick-window figures (`--quick`: 15 s per tool per configuration, 5 s wrk "
                "runs): a check that the harness works, noisier than the default run.**\n\n" + body
            )
        write_docs(body, command.rstrip(), SOAK_SECTION if ns.soak else SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
