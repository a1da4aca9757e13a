"""Load (issue 9): 200 clients on ``/api/4/all`` while MQTT and webhooks run.

    python tests/benchmarks/load.py [--duration 60] [--connections 200] [--refresh 2]
        [--auth none,plain,hash] [--no-glances] [--wait-quiet 60]

One private Mosquitto on a free loopback port and one webhook receiver (a threaded
HTTP server in this process, on loopback) serve every run.  Each run starts the tool
under test, waits ``--warmup`` seconds (samplers primed, the alert open), then runs
``wrk -t2 -c200 -d60s --latency`` on ``/api/4/all`` and measures, over exactly the
time wrk runs:

- **wrk**: requests/s, latency p50 / p90 / p99 / max, errors = responses >= 400
  (wrk's "Non-2xx or 3xx responses", which counts statuses above 399) + socket errors
  (connect, read, write, timeout at 10 s); bytes a response (a short error body would
  show there); wrk's own CPU;
- **the tool**: CPU of its process tree (utime + stime, all threads, in cores: 1.00 is
  one core busy), RSS (max of a 1 s poll) and VmHWM;
- **sampler cadence**: a client of ``/api/4/stream`` (statbus) records each sample's
  ``ts``, stamped by the runner when the sample is complete: its lateness against the
  plugin's beat (below) is the samplers' own, whatever the stream's delivery time;
- **MQTT**: a ``mosquitto_sub`` process subscribed to ``glances/<device>/+`` stamps
  every arrival (``-F %U``: epoch with ns).  Messages received against the beats in the
  window (per plugin ``window / interval``); and the **cadence**: per plugin, arrival
  ``i`` is given beat ``k_i = k_{i-1} + max(1, round(gap / interval))`` (a gap of two
  intervals is a missed beat), its lateness is ``t_i - k_i * interval`` less the
  smallest such value of that plugin in the window (the beat's phase).  p50 / p99 / max
  over every plugin that publishes and whose interval is at most a third of the window;
  missed beats; and the largest gap between two arrivals less the interval;
- **webhooks** (statbus): ``[mem]`` thresholds every host crosses (careful 0.5,
  warning 1, critical 99 % used) keep a MEM event open, and the receiver has
  ``repeat_interval = 1``: one ``repeated`` POST a second for it (and for CPU_TOTAL,
  which the load itself opens), counted on arrival, with the receiver's counters from
  ``/api/4/pipeline`` (sent, failed, retried, dropped), the sampler runs and the bus'
  drops over the window.

Runs (``--auth``): statbus without a password, then Glances (when its venv exists),
then statbus with HTTP Basic (the Home Assistant integration sends it), the password in
clear (``plain``) and as a ``statbus hash-password`` hash (``hash``).  Glances 4.5
serves the API (``glances -w``) but exports nothing in that mode, so its reference is
two processes, as a Glances user who wants both runs it: ``glances -w --disable-webui
--cached-time R`` and ``glances --quiet --export mqtt -t R``, the same thresholds, the
plugins statbus lacks disabled; their CPU and RSS are summed.  Glances has no webhooks.

``--wait-quiet N``: first wait (polling every 30 s, up to N minutes) until the 1-minute
load average is below 0.5 and no pytest runs; the load at the start of each run is
printed either way.  Not collected by pytest (no ``test_`` prefix); figures, never a
pass/fail on time.  Every process started here is stopped by PID.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vs_glances import (  # noqa: E402
    DEFAULT_VENV,
    ROOT,
    descendants,
    ensure_wrk,
    free_port,
    glances_only_plugins,
    glances_version,
    isolated_env,
    log,
    machine,
    mosquitto,
    parse_wrk,
    ratio,
    started,
    status_kib,
    tail,
    tree_cpu,
)

USER, PASSWORD = "glances", "load-bench-secret"
#: [mem] thresholds every host crosses: a MEM event stays open (WARNING)
MEM_LIMITS = {"careful": 0.5, "warning": 1.0, "critical": 99.0}
REPEAT_INTERVAL = 1.0


# --------------------------------------------------------------------------- helpers


def pytest_running() -> bool:
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            if any(b"pytest" in a for a in argv[:4]):
                return True
    return False


def wait_quiet(minutes: float) -> str:
    """Wait until load1 < 0.5 and no pytest, polling every 30 s, for at most
    ``minutes``; a line saying how it went."""
    deadline = time.monotonic() + minutes * 60
    waited = time.monotonic()
    while True:
        load1, busy = os.getloadavg()[0], pytest_running()
        if load1 < 0.5 and not busy:
            return f"quiet after {(time.monotonic() - waited) / 60:.1f} min (load {load1:.2f})"
        if time.monotonic() >= deadline:
            return (
                f"NOT quiet after {minutes:g} min (load {load1:.2f}, pytest "
                f"{'running' if busy else 'not running'}): measured anyway"
            )
        log(f"waiting for a quiet machine: load {load1:.2f}, pytest {busy}")
        time.sleep(30)


def get_json(url: str, auth: str | None = None, timeout: float = 10) -> Any:
    req = urllib.request.Request(url)  # noqa: S310 - loopback
    if auth:
        req.add_header("Authorization", auth)
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())


def wait_json(url: str, proc: subprocess.Popen[bytes], name: str, auth: str | None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before serving")
        with contextlib.suppress(OSError, ValueError):
            get_json(url, auth, timeout=5)
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not serve {url} within 60 s")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank of the sorted ``values`` (nan when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


class StreamTap:
    """Reads ``/api/4/stream`` (stats) in a thread: each sample's ``ts`` per plugin, the
    time the runner stamped it complete, so its lateness is the samplers' own (the
    stream's delivery does not change it)."""

    def __init__(self, base: str, plugins: Sequence[str], auth: str | None) -> None:
        self.url = f"{base}/stream?topics=stats&plugins={','.join(sorted(plugins))}"
        self.auth = auth
        self.ts: dict[str, list[float]] = defaultdict(list)
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        req = urllib.request.Request(self.url)  # noqa: S310 - loopback
        if self.auth:
            req.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
                for line in resp:
                    if self._stop.is_set():
                        return
                    if line.startswith(b"data: "):
                        doc = json.loads(line[6:])
                        self.ts[doc["plugin"]].append(float(doc["ts"]))
        except (OSError, ValueError) as exc:
            if not self._stop.is_set():
                self.error = repr(exc)

    def __enter__(self) -> StreamTap:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # the thread ends at the next sample (or its timeout): daemon

    def between(self, t0: float, t1: float) -> dict[str, list[float]]:
        return {p: [t for t in ts if t0 <= t <= t1] for p, ts in list(self.ts.items())}


class RssPoll:
    """Max VmRSS of ``pids`` (summed) polled every second while running."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids, self.max_kib = list(pids), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(OSError):
                self.max_kib = max(self.max_kib, sum(status_kib(p, "VmRSS") for p in self.pids))

    def __enter__(self) -> RssPoll:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


# --------------------------------------------------------------------------- webhooks


class Receiver:
    """Loopback webhook receiver: a :class:`Hook` per POST."""

    def __init__(self) -> None:
        self.got: list[Hook] = []
        lock = threading.Lock()
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    doc = json.loads(body)
                    hook = Hook(
                        time.time(),
                        self.path,
                        str(doc["transition"]),
                        str(doc["event"]["type"]),
                        str(doc["fingerprint"]),
                    )
                except (ValueError, KeyError, TypeError):
                    hook = Hook(time.time(), self.path, "?", "?", "?")
                with lock:
                    got.append(hook)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def between(self, path: str, t0: float, t1: float) -> list[Hook]:
        return [h for h in list(self.got) if h.path == path and t0 <= h.at <= t1]


@dataclass(frozen=True)
class Hook:
    at: float  # time.time() on arrival
    path: str
    transition: str
    type: str  # the event's type: MEM, CPU_TOTAL ...
    fingerprint: str


@dataclass
class Hooks:
    """The webhooks received in the window."""

    received: int
    by_type: dict[str, int]  # "MEM repeated": count
    mem_repeats: int  # ``repeated`` POSTs about the MEM event, one every REPEAT_INTERVAL
    expected: int
    max_gap_over_ms: float  # between two MEM repeats, less REPEAT_INTERVAL


def webhooks(hooks: list[Hook], window: float) -> Hooks:
    by_type: dict[str, int] = defaultdict(int)
    for h in hooks:
        by_type[f"{h.type} {h.transition}"] += 1
    mem = sorted(h.at for h in hooks if h.type == "MEM" and h.transition == "repeated")
    gaps = [b - a - REPEAT_INTERVAL for a, b in zip(mem, mem[1:], strict=False)]
    return Hooks(
        received=len(hooks),
        by_type=dict(by_type),
        mem_repeats=len(mem),
        expected=int(window / REPEAT_INTERVAL),
        max_gap_over_ms=max(gaps, default=float("nan")) * 1000,
    )


# --------------------------------------------------------------------------- cadence


@dataclass
class Cadence:
    received: int = 0
    expected: float = 0.0  # beats in the window of the plugins that publish
    missed: int = 0  # beats with no message, between two messages
    lateness_ms: list[float] = field(default_factory=list)
    max_gap_over_ms: float = 0.0  # the largest gap between two arrivals, less the interval
    silent: list[str] = field(default_factory=list)  # published before, not in the window
    nothing: list[str] = field(default_factory=list)  # never published (nothing to report)


def cadence(
    arrivals: dict[str, list[float]],
    published: set[str],
    intervals: dict[str, float],
    window: float,
) -> Cadence:
    """``arrivals``: per plugin, epoch seconds within the window; ``published``: the
    plugins that published at all during the run; ``intervals`` the plugins expected
    and their refresh."""
    c = Cadence()
    for plugin, interval in sorted(intervals.items()):
        if plugin not in published:
            c.nothing.append(plugin)
            continue
        times = sorted(arrivals.get(plugin, []))
        c.received += len(times)
        c.expected += window / interval
        if not times:
            c.silent.append(plugin)
            continue
        if interval > window / 3:
            continue  # too few beats in the window to speak of a cadence
        beats = [0]
        for prev, now in zip(times, times[1:], strict=False):
            step = max(1, round((now - prev) / interval))
            c.missed += step - 1
            beats.append(beats[-1] + step)
            c.max_gap_over_ms = max(c.max_gap_over_ms, (now - prev - interval) * 1000)
        phase = [t - k * interval for t, k in zip(times, beats, strict=True)]
        base = min(phase)
        c.lateness_ms.extend((p - base) * 1000 for p in phase)
    return c


def read_arrivals(path: Path, t0: float, t1: float) -> dict[str, list[float]]:
    """``mosquitto_sub -F '%U %t'`` lines: per last topic level, arrivals in [t0, t1]."""
    found: dict[str, list[float]] = defaultdict(list)
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            stamp, _, topic = line.partition(" ")
            with contextlib.suppress(ValueError):
                t = float(stamp)
                if t0 <= t <= t1:
                    found[topic.rsplit("/", 1)[-1]].append(t)
    return found


# --------------------------------------------------------------------------- the tools


@dataclass
class Bench:
    tmp: Path
    broker: int
    receiver: Receiver
    refresh: float
    glances_venv: Path | None
    disabled: list[str] = field(default_factory=list)
    glances_plugins: set[str] = field(default_factory=set)

    def env(self) -> dict[str, str]:
        return isolated_env(self.tmp)

    def statbus_conf(self, name: str, port: int, password: str) -> Path:
        """``password``: ``api.password`` ("" for none: no auth)."""
        conf = self.tmp / f"{name}.toml"
        limits = "".join(f"{k} = {v}\n" for k, v in MEM_LIMITS.items())
        conf.write_text(
            f'[global]\nrefresh = {self.refresh:g}\nlog_level = "WARNING"\n'
            f'data_dir = "{self.tmp / (name + "-state")}"\n\n'
            f'[api]\nbind = "127.0.0.1"\nport = {port}\n'
            f'username = "{USER}"\npassword = "{password}"\n'
            + f'\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {self.broker}\n'
            f'devicename = "{name}"\n\n'
            f"[mem]\n{limits}\n"
            f'[[webhooks]]\nurl = "http://127.0.0.1:{self.receiver.port}/hook/{name}"\n'
            f'name = "bench"\nrepeat_interval = {REPEAT_INTERVAL:g}\n'
        )
        return conf

    def glances_conf(self) -> Path:
        conf = self.tmp / "glances.conf"
        limits = "".join(f"{k}={v}\n" for k, v in MEM_LIMITS.items())
        conf.write_text(
            f"[global]\nrefresh={self.refresh:g}\n\n[mem]\n{limits}\n"
            f"[mqtt]\nhost=127.0.0.1\nport={self.broker}\n"
            "tls=false\nuser=glances\npassword=anything\n"
            "topic=glances\ndevicename=load-glances\ntopic_structure=per-plugin\n"
        )
        return conf


@dataclass
class Result:
    label: str
    load1: float
    wrk: dict[str, Any]
    cpu_cores: float
    rss_mib: float
    hwm_mib: float
    wrk_cpu_cores: float
    cad: Cadence
    sampled: Cadence | None = None  # from the samples' own ts (statbus' stream)
    hooks: Hooks | None = None
    pipeline: dict[str, Any] = field(default_factory=dict)


WRK_MAX = re.compile(r"Latency\s+\S+\s+\S+\s+(\S+)")
WRK_P = re.compile(r"^\s+(50|75|90|99)%\s+(\S+)", re.M)
WRK_BYTES = re.compile(r"([\d.]+)([KMG]?B) read")


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return float("nan")
    return float(m[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m[2]]


def run_wrk(
    wrk: str, url: str, ns: argparse.Namespace, auth: str | None, out: Path
) -> tuple[dict[str, Any], float, float, float]:
    """wrk's figures, its CPU (cores), the wall-clock window (epoch) it ran."""
    argv = [
        wrk,
        "-t",
        str(ns.threads),
        "-c",
        str(ns.connections),
        "-d",
        f"{ns.duration:g}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if auth:
        argv += ["-H", f"Authorization: {auth}"]
    with out.open("wb") as f:
        t0, m0 = time.time(), time.monotonic()
        proc = subprocess.Popen([*argv, url], stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        t1, m1 = time.time(), time.monotonic()
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = out.read_text(errors="replace")
    if proc.returncode:
        raise RuntimeError(f"wrk exited with {proc.returncode}: {text}")
    w = parse_wrk(text)
    figures: dict[str, Any] = {
        "rps": w.rps,
        "requests": w.requests,
        "non2xx": w.non2xx,
        "socket": w.socket_errors,
        "text": text,
    }
    for q, value in WRK_P.findall(text):
        figures[f"p{q}"] = _ms(value)
    m = WRK_MAX.search(text)
    figures["max"] = _ms(m[1]) if m else float("nan")
    m = WRK_BYTES.search(text)
    if m and w.requests:
        scale = {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30}[m[2]]
        figures["bytes_per_req"] = float(m[1]) * scale / w.requests
    wrk_cpu = (usage.ru_utime + usage.ru_stime) / (m1 - m0)
    return figures, wrk_cpu, t0, t1


@contextlib.contextmanager
def subscriber(bench: Bench, device: str, out: Path) -> Iterator[None]:
    argv = [
        "mosquitto_sub",
        "-h",
        "127.0.0.1",
        "-p",
        str(bench.broker),
        "-q",
        "1",
        "-t",
        f"glances/{device}/+",
        "-F",
        "%U %t",
    ]
    # line-buffered, so nothing is lost in a stdio buffer when it is stopped
    argv = ["stdbuf", "-oL", *argv]
    with started(argv, "mosquitto_sub", dict(os.environ), out):
        yield


def measure(
    bench: Bench,
    label: str,
    procs: Sequence[subprocess.Popen[bytes]],
    base: str,
    device: str,
    intervals: dict[str, float] | None,
    wrk: str,
    ns: argparse.Namespace,
    auth: str | None,
) -> Result:
    """``procs`` already serving ``base``: warm up, then wrk and everything else."""
    arrivals_log = bench.tmp / f"arrivals-{label}.log"
    tap = None if intervals is None else StreamTap(base, list(intervals), auth)
    with subscriber(bench, device, arrivals_log), tap or contextlib.nullcontext():
        time.sleep(ns.warmup)
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{label}: pid {p.pid} exited with {p.returncode}")
        before = get_json(base + "/pipeline", auth) if intervals is not None else {}
        load1 = os.getloadavg()[0]
        log(f"{label}: wrk for {ns.duration:g} s (load {load1:.2f})")
        pids = [q for p in procs for q in (p.pid, *descendants(p.pid))]
        c0 = sum(tree_cpu(p.pid) for p in procs)
        m0 = time.monotonic()
        with RssPoll(pids) as rss:
            figures, wrk_cpu, t0, t1 = run_wrk(
                wrk, base + "/all", ns, auth, bench.tmp / f"wrk-{label}.txt"
            )
        c1, m1 = sum(tree_cpu(p.pid) for p in procs), time.monotonic()
        hwm = sum(status_kib(p, "VmHWM") for p in pids)
        after = get_json(base + "/pipeline", auth) if intervals is not None else {}
        time.sleep(0.5)  # the last arrivals
    for p in procs:
        if p.poll() is not None:
            raise RuntimeError(f"{label}: pid {p.pid} exited with {p.returncode}")
    window = t1 - t0
    published = set(read_arrivals(arrivals_log, 0, float("inf")))
    if intervals is None:  # Glances: every plugin it published, every refresh
        intervals = dict.fromkeys(published & bench.glances_plugins, bench.refresh)
    cad = cadence(read_arrivals(arrivals_log, t0, t1), published, intervals, window)
    sampled = None
    if tap is not None:
        if tap.error:
            log(f"{label}: the stream failed: {tap.error}")
        # the plugins with something to publish (the others' samples are not events:
        # the stream only sends them once, as the state on connecting)
        sampled = cadence(tap.between(t0, t1), published, intervals, window)
    result = Result(
        label=label,
        load1=load1,
        wrk=figures,
        cpu_cores=(c1 - c0) / (m1 - m0),
        rss_mib=rss.max_kib / 1024,
        hwm_mib=hwm / 1024,
        wrk_cpu_cores=wrk_cpu,
        cad=cad,
        sampled=sampled,
    )
    if after:
        result.hooks = webhooks(bench.receiver.between(f"/hook/{label}", t0, t1), window)
        result.pipeline = pipeline_delta(before, after, window)
    log(summary(result))
    return result


def pipeline_delta(before: dict[str, Any], after: dict[str, Any], window: float) -> dict[str, Any]:
    """What ``/api/4/pipeline`` counted during the window."""
    expected_runs = sum(window / float(s["interval"]) for s in after["samplers"].values())
    runs = sum(s["runs"] for s in after["samplers"].values()) - sum(
        s["runs"] for s in before["samplers"].values()
    )
    failures = sum(s["failures"] for s in after["samplers"].values()) - sum(
        s["failures"] for s in before["samplers"].values()
    )

    def drops(doc: dict[str, Any]) -> dict[str, int]:
        subs = doc.get("subscribers", [])
        items = subs.values() if isinstance(subs, dict) else subs
        return {f"{s['name']}/{s['topic']}": int(s.get("dropped", 0)) for s in items}

    d0, d1 = drops(before), drops(after)
    dropped = {k: v - d0.get(k, 0) for k, v in d1.items() if v - d0.get(k, 0)}
    sinks_after, sinks_before = after.get("sinks", {}), before.get("sinks", {})
    mqtt_after, mqtt_before = sinks_after.get("mqtt", {}), sinks_before.get("mqtt", {})
    hook_after = sinks_after.get("webhooks", {}).get("bench", {})
    hook_before = sinks_before.get("webhooks", {}).get("bench", {})

    def delta(a: dict[str, Any], b: dict[str, Any], key: str) -> int:
        return int(a.get(key, 0) or 0) - int(b.get(key, 0) or 0)

    return {
        "sampler_runs": runs,
        "sampler_beats": expected_runs,
        "sampler_failures": failures,
        "bus_dropped": dropped,
        "mqtt_published": delta(mqtt_after, mqtt_before, "published"),
        "mqtt_dropped": delta(mqtt_after, mqtt_before, "dropped"),
        "mqtt_disconnects": delta(mqtt_after, mqtt_before, "disconnects"),
        "webhook_sent": delta(hook_after, hook_before, "sent"),
        "webhook_failed": delta(hook_after, hook_before, "failed"),
        "webhook_retried": delta(hook_after, hook_before, "retried"),
        "webhook_dropped": delta(hook_after, hook_before, "dropped"),
    }


def hashed(password: str) -> str:
    """``statbus hash-password``'s output for ``password`` (read from standard input)."""
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", "hash-password"],
        input=password + "\n",
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return out.stdout.strip()


#: ``--auth`` modes: the run's label and how api.password is set
AUTH_MODES = {
    "none": "statbus",  # no password: no auth
    "plain": "statbus-basic",  # HTTP Basic, api.password in clear
    "hash": "statbus-basic-hash",  # HTTP Basic, api.password a `statbus hash-password`
}


def statbus_run(bench: Bench, wrk: str, ns: argparse.Namespace, auth: str) -> Result:
    label = AUTH_MODES[auth]
    port = free_port()
    password = {"none": "", "plain": PASSWORD, "hash": ""}[auth]
    if auth == "hash":
        password = hashed(PASSWORD)
    conf = bench.statbus_conf(label, port, password)
    argv = [sys.executable, "-m", "api.cli", "--config", str(conf)]
    header = None
    if auth != "none":
        header = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    logfile = bench.tmp / f"{label}.log"
    base = f"http://127.0.0.1:{port}/api/4"
    with started(argv, label, bench.env(), logfile, cwd=ROOT) as proc:
        try:
            wait_json(base + "/all", proc, label, header)
            doc = get_json(base + "/pipeline", header)
            exported = {p for p in get_json(base + "/pluginslist", header)}
            intervals = {
                plugin: float(s["interval"])
                for s in doc["samplers"].values()
                for plugin in s["plugins"]
                if plugin in exported and plugin in MQTT_PLUGINS
            }
            return measure(bench, label, [proc], base, label, intervals, wrk, ns, header)
        except Exception:
            log(f"{label} log:\n{tail(logfile)}")
            raise


#: what statbus publishes by default ([mqtt] plugins): the cadence is counted on these
MQTT_PLUGINS = frozenset(
    "amps cloud connections containers core cpu diskio folders fs gpu ip irq load mem "
    "memswap network now percpu ports processcount raid sensors smart system uptime vms "
    "wifi".split()
)


def glances_run(bench: Bench, wrk: str, ns: argparse.Namespace) -> Result:
    assert bench.glances_venv is not None
    exe = str(bench.glances_venv / "bin" / "glances")
    conf = str(bench.glances_conf())
    disabled = ",".join(bench.disabled)
    port = free_port()
    web = [
        exe,
        "-C",
        conf,
        "-w",
        "--disable-webui",
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--cached-time",
        f"{max(1, round(bench.refresh))}",
        "--disable-plugin",
        disabled,
    ]
    export = [exe, "-C", conf, "--quiet", "--export", "mqtt", "-t", f"{bench.refresh:g}"]
    export += ["--disable-plugin", disabled]
    base = f"http://127.0.0.1:{port}/api/4"
    env = bench.env()
    with (
        started(web, "glances -w", env, bench.tmp / "glances-w.log") as w,
        started(export, "glances export", env, bench.tmp / "glances-export.log") as e,
    ):
        try:
            wait_json(base + "/all", w, "glances -w", None)
            return measure(bench, "glances", [w, e], base, "load-glances", None, wrk, ns, None)
        except Exception:
            log(f"glances logs:\n{tail(bench.tmp / 'glances-w.log')}")
            log(tail(bench.tmp / "glances-export.log"))
            raise


# --------------------------------------------------------------------------- report


def fmt(x: float, digits: int = 1) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"  # noqa: PLR0124 - nan check


def summary(r: Result) -> str:
    w, c = r.wrk, r.cad
    return (
        f"{r.label}: {w['rps']:.0f} req/s, p50 {fmt(w.get('p50', float('nan')))} p90 "
        f"{fmt(w.get('p90', float('nan')))} p99 {fmt(w.get('p99', float('nan')))} max "
        f"{fmt(w['max'])} ms, errors {w['non2xx']}+{w['socket']}, CPU {r.cpu_cores:.2f}, "
        f"RSS {r.rss_mib:.1f} MiB, MQTT {c.received}/{c.expected}, lateness p99 "
        f"{fmt(percentile(c.lateness_ms, 99))} max {fmt(max(c.lateness_ms, default=float('nan')))}"
        f" ms, missed {c.missed}, webhooks "
        + ("n/a" if r.hooks is None else f"{r.hooks.received} ({r.hooks.by_type})")
    )


def report(results: list[Result], ns: argparse.Namespace, mach: str, quiet: str) -> str:
    nan = float("nan")
    lines = [
        f"Machine: {mach}. {quiet}.",
        "",
        f"`wrk -t{ns.threads} -c{ns.connections} -d{ns.duration:g}s --latency --timeout 10s` "
        f"on `/api/4/all`; refresh {ns.refresh:g} s; warm-up {ns.warmup:g} s. Glances: "
        "`glances -w` + `glances --quiet --export mqtt` (two processes, CPU and RSS summed).",
        "",
        "| run | load1 at start | req/s | p50 ms | p90 ms | p99 ms | max ms | errors "
        "(>=400 + socket) | kB/response | CPU (cores) | RSS max / peak MiB | wrk CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        w = r.wrk
        lines.append(
            f"| {r.label} | {r.load1:.2f} | {w['rps']:.0f} | {fmt(w.get('p50', nan))} | "
            f"{fmt(w.get('p90', nan))} | {fmt(w.get('p99', nan))} | {fmt(w['max'])} | "
            f"{w['non2xx']}+{w['socket']} | {fmt(w.get('bytes_per_req', nan) / 1000)} | "
            f"{r.cpu_cores:.2f} | {r.rss_mib:.1f} / {r.hwm_mib:.1f} | {r.wrk_cpu_cores:.2f} |"
        )
    lines += [
        "",
        "Cadence: per plugin, lateness against the plugin's beat, of each sample's own "
        "timestamp (statbus' `/api/4/stream`: when the runner stamped it complete) and of "
        "its MQTT arrival (publication):",
        "",
        "| run | samples / beats | sample lateness p50 / p99 / max ms | "
        "MQTT received / beats | missed beats | MQTT lateness p50 / p99 / max ms | "
        "largest gap − interval ms | sampler runs / beats (failures) | MQTT published "
        "(dropped) | bus drops |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c, p, t = r.cad, r.pipeline, r.sampled
        late = c.lateness_ms
        own = (
            "n/a | n/a"
            if t is None
            else f"{t.received} / {t.expected:.1f} (missed {t.missed}) | "
            f"{fmt(percentile(t.lateness_ms, 50))} / {fmt(percentile(t.lateness_ms, 99))} / "
            f"{fmt(max(t.lateness_ms, default=nan))}"
        )
        runs = (
            f"{p['sampler_runs']} / {p['sampler_beats']:.1f} ({p['sampler_failures']})"
            if p
            else "n/a"
        )
        mqtt = f"{p['mqtt_published']} ({p['mqtt_dropped']})" if p else "n/a"
        drops = (", ".join(f"{k} {v}" for k, v in p["bus_dropped"].items()) or "0") if p else "n/a"
        lines.append(
            f"| {r.label} | {own} | {c.received} / {c.expected:.1f} | {c.missed} | "
            f"{fmt(percentile(late, 50))} / {fmt(percentile(late, 99))} / "
            f"{fmt(max(late, default=nan))} | {fmt(c.max_gap_over_ms)} | {runs} | {mqtt} | "
            f"{drops} |"
        )
    silent = {r.label: (r.cad.silent, r.cad.nothing) for r in results}
    for label, (quiet_plugins, nothing) in silent.items():
        if quiet_plugins or nothing:
            lines.append(
                f"\n{label}: no message in the window from {', '.join(quiet_plugins) or '-'} "
                f"(interval longer than the window, or missing); nothing to publish from "
                f"{', '.join(nothing) or '-'} (not counted)."
            )
    hooked = [r for r in results if r.hooks is not None]
    if hooked:
        lines += [
            "",
            "Webhooks (a MEM event open all along, `repeat_interval = 1`; received in the "
            "window, and statbus' counters for it):",
            "",
            "| run | received | MEM repeats / expected | largest gap between MEM repeats − "
            "1 s, ms | sent / failed / retried / dropped | received by event |",
            "|---|---|---|---|---|---|",
        ]
        for r in hooked:
            h, p = r.hooks, r.pipeline
            assert h is not None
            lines.append(
                f"| {r.label} | {h.received} | {h.mem_repeats} / {h.expected} | "
                f"{fmt(h.max_gap_over_ms)} | {p['webhook_sent']} / {p['webhook_failed']} / "
                f"{p['webhook_retried']} / {p['webhook_dropped']} | "
                + ", ".join(f"{k} {v}" for k, v in sorted(h.by_type.items()))
                + " |"
            )
    by = {r.label: r for r in results}
    if "glances" in by:
        g = by["glances"]
        lines += [
            "",
            "| statbus run / Glances | req/s | p50 | p99 | max | CPU | CPU per request | "
            "RSS max | MQTT lateness p99 | MQTT lateness max |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results:
            if r is g:
                continue
            gw, sw = g.wrk, r.wrk
            per_req_s = r.cpu_cores / sw["rps"] if sw["rps"] else nan
            per_req_g = g.cpu_cores / gw["rps"] if gw["rps"] else nan
            late_s, late_g = r.cad.lateness_ms, g.cad.lateness_ms
            lines.append(
                f"| {r.label} | **{ratio(sw['rps'], gw['rps'])}** | "
                f"{ratio(sw.get('p50', nan), gw.get('p50', nan))} | "
                f"**{ratio(sw.get('p99', nan), gw.get('p99', nan))}** | "
                f"{ratio(sw['max'], gw['max'])} | {ratio(r.cpu_cores, g.cpu_cores)} | "
                f"{ratio(per_req_s, per_req_g)} | {ratio(r.rss_mib, g.rss_mib)} | "
                f"{ratio(percentile(late_s, 99), percentile(late_g, 99))} | "
                f"{ratio(max(late_s, default=nan), max(late_g, default=nan))} |"
            )
    ours = [r for r in results if r.label != "glances"]
    errors = sum(r.wrk["non2xx"] + r.wrk["socket"] for r in ours)
    lost = sum(
        r.pipeline.get("webhook_failed", 0) + r.pipeline.get("webhook_dropped", 0) for r in ours
    )
    lost += sum(r.pipeline.get("mqtt_dropped", 0) for r in ours)
    lines += [
        "",
        f"statbus errors under load: {errors} HTTP, {lost} MQTT/webhook deliveries failed or "
        f"dropped (target 0: {'met' if not errors and not lost else 'NOT met'}).",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="wrk seconds per run (60)")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--refresh", type=float, default=2.0, help="refresh of both tools (2)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before wrk (10)")
    parser.add_argument(
        "--auth",
        default="none,plain,hash",
        help="statbus runs, comma-separated: none (no password), plain (HTTP Basic, "
        "password in clear), hash (HTTP Basic, a hash-password hash); none,plain,hash",
    )
    parser.add_argument("--no-glances", action="store_true", help="skip the reference")
    parser.add_argument("--glances-venv", default=str(DEFAULT_VENV))
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="first wait up to MINUTES for load1 < 0.5 and no pytest (0: do not wait)",
    )
    ns = parser.parse_args(argv)
    modes = [m for m in ns.auth.split(",") if m]
    if not modes or any(m not in AUTH_MODES for m in modes):
        parser.error(f"--auth: comma-separated of {', '.join(AUTH_MODES)}")
    started_at = time.monotonic()
    quiet = wait_quiet(ns.wait_quiet) if ns.wait_quiet > 0 else "did not wait for a quiet machine"
    quiet += f"; load average at the start {' / '.join(f'{x:.2f}' for x in os.getloadavg())}"
    venv = Path(ns.glances_venv).expanduser()
    use_glances = not ns.no_glances and (venv / "bin" / "glances").exists()
    if not ns.no_glances and not use_glances:
        log(f"no Glances venv at {venv} (vs_glances.py installs it): the reference is skipped")
    wrk = ensure_wrk()
    mach = machine(glances_version(venv) if use_glances else "not run")
    log(mach)
    results: list[Result] = []
    with (
        tempfile.TemporaryDirectory(prefix="statbus-load-") as tmpdir,
        Receiver() as receiver,
    ):
        tmp = Path(tmpdir)
        with mosquitto(tmp) as broker:
            bench = Bench(tmp, broker, receiver, ns.refresh, venv if use_glances else None)
            if use_glances:
                bench.disabled = glances_only_plugins(venv)
                found = sorted(venv.glob("lib/python*/site-packages/glances/plugins/*/__init__.py"))
                bench.glances_plugins = {f.parent.name for f in found}
            # the reference after the first statbus run, so drift shows between them
            results.append(statbus_run(bench, wrk, ns, modes[0]))
            if use_glances:
                results.append(glances_run(bench, wrk, ns))
            for mode in modes[1:]:
                results.append(statbus_run(bench, wrk, ns, mode))
    print(report(results, ns, mach, quiet))
    print(f"(ran in {(time.monotonic() - started_at) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
