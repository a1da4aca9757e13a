"""Latency from a sample's timestamp to its arrival at an MQTT subscriber.

    python tests/benchmarks/mqtt_latency.py [--duration 40,30] [--refresh default,0.1]

Starts a private mosquitto on a free loopback port, then, for each refresh setting,
runs the real pipeline in-process (``api.main.serve``: every sampler, the stages,
the MQTT sink with the default ``[mqtt]`` settings apart from host, port and
devicename; the API off; a temporary data directory) and a subscriber to
``glances/bench/+`` (QoS 1) in a **separate process**, so that its arrival times are
not skewed by the pipeline holding the GIL, and vice versa.

*Latency* is the subscriber's arrival time (``time.time()`` in paho's ``on_message``)
minus the sample's timestamp: the ``ts`` of the ``StatEvent`` the sampler runner
publishes (wall clock taken when the sample is complete, just before it goes on the
bus).  Both clocks are the same machine's ``time.time()``.  So the figure covers the
bus, the sink (decode, layout, JSON), paho, the broker, and the subscriber's paho.

The per-plugin JSON carries no timestamp, so arrivals are matched to samples: a tap
subscribes to the bus in-process (lossless) and records, per plugin, each sample's
``ts`` and the payload the sink's layout makes of it.  Per topic, MQTT delivers in
order (one connection, QoS 1), so arrival *i* is matched to the earliest not yet
matched sample, at or after the previous match, with the same payload and a ``ts`` not
after the arrival.  When every sample is delivered this is exact (arrival *i* is sample
*i*); when the sink's latest-wins table superseded a sample whose payload equals the
next one's, the match is the older sample: the error can only overstate latency.
Arrivals that match no sample (the latest state re-sent after Home Assistant discovery
configs) are counted and left out.  Samples from the first ``--warmup`` seconds are
left out (connection, first discovery).

Not collected by pytest (no ``test_`` prefix).  Target: p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any

import trio

from api.main import serve
from pipeline.bus import Policy
from pipeline.config import load
from pipeline.events import StatEvent
from pipeline.plugins import SAMPLED
from pipeline.topics import STATS_TOPIC
from sinks.mqtt_layout import Layout

DEVICE = "bench"

SUBSCRIBER = r"""
import sys, time
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

port, topic, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
got = []
client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-subscriber")
client.on_connect = lambda c, *a: c.subscribe(topic, 1)
client.on_subscribe = lambda *a: print("ready", flush=True)
client.on_message = lambda c, u, m: got.append((time.time(), m.topic, m.payload))
client.connect("127.0.0.1", port, 60)
client.loop_start()
sys.stdin.readline()  # "stop"
client.disconnect()
client.loop_stop()
with open(out, "w") as f:
    for t, topic, payload in got:
        f.write(f"{t!r}\t{topic}\t{payload.hex()}\n")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if binary is None:
        sys.exit("mosquitto not found: apt-get install -y mosquitto")
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    with open(folder / "mosquitto.log", "ab") as log:
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    sys.exit("mosquitto did not start: " + (folder / "mosquitto.log").read_text())


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


async def run_pipeline(
    port: int, refresh: float | None, duration: float, warmup: float, folder: Path
) -> tuple[dict[str, list[tuple[float, bytes]]], float]:
    """Serve for ``warmup + duration`` s; the tap's ``{topic: [(ts, payload)]}`` and the
    start of the measured window."""
    overrides: dict[str, Any] = {
        "mqtt.enabled": True,
        "mqtt.host": "127.0.0.1",
        "mqtt.port": port,
        "mqtt.devicename": DEVICE,
        "api.enabled": False,
        "global.data_dir": str(folder / "data"),
    }
    if refresh is not None:
        overrides |= {f"{p}.refresh": refresh for p in SAMPLED}
    config = load(None, overrides)
    mqtt = config.mqtt
    layout = Layout(mqtt.topic, DEVICE, mqtt.topic_structure, set(mqtt.plugins) - set(mqtt.exclude))
    samples: dict[str, list[tuple[float, bytes]]] = defaultdict(list)

    async def tap(sub: Any) -> None:
        async for event in sub:
            if isinstance(event, StatEvent) and layout.exported(event.plugin):
                for topic, payload in layout.messages(event.plugin, event.data):
                    samples[topic].append((event.ts, payload))

    async with trio.open_nursery() as nursery:
        running = await nursery.start(partial(serve, config))
        with running.bus.subscribe(
            STATS_TOPIC, name="bench-tap", policy=Policy.LOSSLESS, maxsize=100_000
        ) as sub:
            nursery.start_soon(tap, sub)
            start = time.time() + warmup
            await trio.sleep(warmup + duration)
        running.shutdown.set()
    return samples, start


def match(
    samples: dict[str, list[tuple[float, bytes]]],
    arrivals: list[tuple[float, str, bytes]],
    start: float,
) -> tuple[list[float], dict[str, list[float]], int, int]:
    """Latencies (s), per plugin; arrivals matching no sample; samples in the window."""
    by_topic: dict[str, list[tuple[float, bytes]]] = defaultdict(list)
    for t, topic, payload in arrivals:
        by_topic[topic].append((t, payload))
    latencies: list[float] = []
    per_plugin: dict[str, list[float]] = defaultdict(list)
    unmatched = 0
    for topic, got in by_topic.items():
        series = samples.get(topic, [])
        j = 0
        for t, payload in got:
            k = j
            while k < len(series) and series[k][1] != payload and series[k][0] <= t:
                k += 1
            if k < len(series) and series[k][1] == payload and series[k][0] <= t:
                j = k + 1
                if series[k][0] >= start:
                    latencies.append(t - series[k][0])
                    per_plugin[topic.rsplit("/", 1)[-1]].append(t - series[k][0])
            else:
                unmatched += 1
    in_window = sum(1 for s in samples.values() for ts, _ in s if ts >= start)
    return latencies, per_plugin, unmatched, in_window


def measure(
    port: int, refresh: float | None, duration: float, warmup: float, folder: Path
) -> dict[str, Any]:
    out = folder / "arrivals.tsv"
    sub = subprocess.Popen(
        [sys.executable, "-c", SUBSCRIBER, str(port), f"glances/{DEVICE}/+", str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sub.stdout is not None and sub.stdin is not None
        if sub.stdout.readline().strip() != "ready":
            sys.exit("the subscriber did not start")
        samples, start = trio.run(run_pipeline, port, refresh, duration, warmup, folder)
        time.sleep(0.5)  # the last messages in flight
        sub.stdin.write("stop\n")
        sub.stdin.flush()
        sub.wait(timeout=10)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    arrivals = []
    for line in out.read_text().splitlines():
        t, topic, payload = line.split("\t")
        arrivals.append((float(t), topic, bytes.fromhex(payload)))
    latencies, per_plugin, unmatched, in_window = match(samples, arrivals, start)
    latencies.sort()
    worst = sorted(per_plugin.items(), key=lambda kv: -max(kv[1]))[:3]
    return {
        "refresh": "default (2 s)" if refresh is None else f"{refresh:g} s",
        "count": len(latencies),
        "samples": in_window,
        "unmatched": unmatched,
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "max": latencies[-1] * 1000,
        "worst": ", ".join(f"{p} {max(v) * 1000:.1f}" for p, v in worst),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refresh", default="default,0.1", help="settings, comma-separated")
    parser.add_argument("--duration", default="40,30", help="seconds measured per setting")
    parser.add_argument("--warmup", type=float, default=3.0)
    ns = parser.parse_args(argv)
    settings = [None if r == "default" else float(r) for r in ns.refresh.split(",")]
    durations = [float(d) for d in ns.duration.split(",")]
    durations += durations[-1:] * (len(settings) - len(durations))
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="statbus-mqtt-bench-") as tmp:
        broker, port = start_broker(Path(tmp))
        try:
            for refresh, duration in zip(settings, durations, strict=True):
                folder = Path(tmp) / f"run{len(results)}"
                folder.mkdir()
                results.append(measure(port, refresh, duration, ns.warmup, folder))
                r = results[-1]
                print(
                    f"refresh {r['refresh']:>14}: n={r['count']} (of {r['samples']} samples"
                    f", {r['unmatched']} unmatched arrivals)  p50 {r['p50']:.1f} ms  "
                    f"p99 {r['p99']:.1f} ms  max {r['max']:.1f} ms  "
                    f"(slowest: {r['worst']})",
                    flush=True,
                )
        finally:
            broker.terminate()
            broker.wait(timeout=5)
    print("\n| refresh | messages | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['refresh']} | {r['count']} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} |"
        )
    ok = all(r["p99"] < 50 for r in results)
    print(f"\ntarget p99 < 50 ms: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
