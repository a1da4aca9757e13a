"""What a full sampling round costs in CPU time, against the psutil floor.

    python tests/benchmarks/sampler_cost.py [--rounds 30] [--extra 0,300] [--families]

The *pipeline* round calls every sampler family from ``all_samplers()`` the way the
runner does (``data, state = spec.sample(state, ctx)``, with every plugin enabled),
then, per plugin produced, msgpack-encodes a ``StatEvent`` as the runner does and
hands it to a state stage (which decodes and JSON-encodes a sample only when a request
asks for it, at most once per sample: with no client polling, that costs nothing).  The
*floor* round makes the bare psutil calls (and file reads) for the same facts, each
fact read once, with no processing at all: it is what a psutil-based monitor reading
the same facts must pay.  (The samplers now read most of these facts from /proc
directly, with psutil's formulas, which costs less than the psutil calls: the pipeline
can come in under 1.0 x.)

Both are measured with ``time.process_time()`` and the median round is reported.  The
two are interleaved round by round, ``--interval`` seconds apart (a round after a pause
meets colder caches than one run back to back, so every figure uses the same cadence),
and take turns to go first, after two warm-up rounds (priming, first sight of every
process).
``--extra N`` starts N idle ``sleep`` processes first, so the per-process cost shows;
they are killed and reaped at the end, whatever happens.

A third figure, *live*, runs the real thing: the sampler runner (trio tasks, worker
threads, timeouts), the bus and the state stage, with every plugin's refresh set to
``--interval``, and divides the process's CPU time over ``--live-rounds`` intervals by
their number.  It includes everything the library loop leaves out (trio scheduling,
thread hand-offs), and so is the fairest "pipeline" figure.

Not collected by pytest (no ``test_`` prefix).  The target is pipeline <= 1.5 x floor.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import trio

from pipeline.bus import Bus
from pipeline.config import Config, load
from pipeline.demand import RuntimeOptions
from pipeline.events import StatEvent
from pipeline.plugins import ON_DEMAND, PLUGINS, SAMPLED
from pipeline.runner import SampleContext, SamplerRunner
from pipeline.samplers import all_samplers
from pipeline.stages.state import StateStage


class PipelineRound:
    def __init__(self) -> None:
        self.ctx = SampleContext(Config(), frozenset(PLUGINS))
        self.specs = all_samplers()
        self.states: dict[str, Any] = {spec.name: None for spec in self.specs}
        self.seq = 0
        self.state = StateStage(Bus(), PLUGINS)
        self.by_family: dict[str, float] = defaultdict(float)

    def __call__(self, record: bool) -> None:
        for spec in self.specs:
            t0 = time.process_time()
            data, self.states[spec.name] = spec.sample(self.states[spec.name], self.ctx)
            t1 = time.process_time()
            for plugin, value in data.items():
                self.seq += 1
                raw = StatEvent(plugin, time.time(), self.seq, value).to_msgpack()
                self.state.update_raw(raw)  # what the state stage does with each event
            if record:
                self.by_family[spec.name] += t1 - t0
                self.by_family["(msgpack + JSON)"] += time.process_time() - t1


class FloorRound:
    """The same psutil calls as the samplers, results thrown away."""

    def __init__(self) -> None:
        self.procs: dict[int, psutil.Process] = {}

    def __call__(self, record: bool) -> None:
        # Each fact once: the samplers share one reading between the plugins that need
        # it, so the floor reads it once too (it used to repeat the calls of the
        # families that each made their own).
        # cpu + percpu, load + core, quicklook: times, per-CPU times, stats, counts (the
        # physical core count is read once, as the samplers keep it), load, frequency,
        # /proc/cpuinfo's model name once (kept)
        psutil.cpu_times(), psutil.cpu_times(percpu=True), psutil.cpu_stats()
        psutil.cpu_count(), psutil.getloadavg(), psutil.cpu_freq()
        # mem + memswap (and quicklook's mem and swap)
        psutil.virtual_memory(), psutil.swap_memory()
        # network, ip
        psutil.net_io_counters(pernic=True), psutil.net_if_stats()
        psutil.net_if_addrs(), Path("/proc/net/route").read_bytes()
        # diskio, fs
        psutil.disk_io_counters(perdisk=True)
        for part in psutil.disk_partitions(all=False):
            psutil.disk_usage(part.mountpoint)
        # processes: one pass, Process objects kept as the sampler keeps them
        psutil.virtual_memory()
        alive: dict[int, psutil.Process] = {}
        for pid in psutil.pids():
            try:
                proc = self.procs.get(pid) or psutil.Process(pid)
                with proc.oneshot():
                    proc.cpu_times(), proc.status(), proc.num_threads(), proc.memory_info()
                    _quiet(proc.nice), _quiet(proc.io_counters)
                    if pid not in self.procs:  # static details, on first sight only
                        proc.name(), _quiet(proc.cmdline), _quiet(proc.uids), _quiet(proc.gids)
                alive[pid] = proc
            except psutil.Error:
                continue
        self.procs = alive
        # sensors
        for name in ("sensors_temperatures", "sensors_fans", "sensors_battery"):
            fn = getattr(psutil, name, None)
            if fn is not None:
                _quiet(fn)
        # system, uptime + now, versions
        platform.system(), platform.node(), platform.release(), platform.freedesktop_os_release()
        psutil.boot_time(), time.strftime("%Y-%m-%d %H:%M:%S %Z")


def _quiet(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except (psutil.Error, OSError):
        return None


def measure(rounds: int, pause: float) -> tuple[float, float, int, dict[str, float]]:
    """CPU seconds per round (median): ``(pipeline, floor, processes, per family mean)``."""
    pipe, floor = PipelineRound(), FloorRound()
    for _ in range(2):  # warm-up: priming, first sight of every process
        pipe(False)
        floor(False)
        time.sleep(pause)
    times: dict[str, list[float]] = {"pipe": [], "floor": []}
    for i in range(rounds):
        # whichever runs first after the pause meets colder caches: take turns
        order: list[tuple[str, Callable[[bool], None]]] = [("pipe", pipe), ("floor", floor)]
        for name, round_ in order if i % 2 == 0 else order[::-1]:
            t0 = time.process_time()
            round_(True)
            times[name].append(time.process_time() - t0)
        time.sleep(pause)
    families = {name: total / rounds for name, total in pipe.by_family.items()}
    # medians: on a shared machine a round now and then is slowed by others' work
    pipe_median = statistics.median(times["pipe"])
    floor_median = statistics.median(times["floor"])
    return pipe_median, floor_median, len(floor.procs), families


def measure_live(rounds: int, interval: float) -> float:
    """CPU seconds per interval of the real runner + bus + state stage (mean)."""
    overrides: dict[str, Any] = {f"{p}.refresh": interval for p in SAMPLED}
    config = load(overrides=overrides)

    async def main() -> float:
        bus = Bus()
        state = StateStage(bus, [p for p in config.enabled_plugins() if PLUGINS[p].sampled])
        # Every plugin, the process lists included (as with the API on): they are
        # sampled only on demand otherwise, and the floor reads them every round.
        options = RuntimeOptions()
        options.demand.always(ON_DEMAND)
        runner = SamplerRunner(bus, config, all_samplers(), options=options)
        async with trio.open_nursery() as nursery:
            await nursery.start(state.run)
            await nursery.start(runner.run)
            await state.wait_first_round()
            await trio.sleep(2 * interval)  # warm-up: first sight of every process
            t0 = time.process_time()
            await trio.sleep(rounds * interval)
            used = time.process_time() - t0
            nursery.cancel_scope.cancel()
        return used / rounds

    return trio.run(main)


def spawn_idle(n: int) -> list[subprocess.Popen[bytes]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL))
    except BaseException:
        reap(procs)
        raise
    return procs


def reap(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds (default 30)")
    parser.add_argument(
        "--extra", default="0,300", help="extra idle processes, comma-separated (default 0,300)"
    )
    parser.add_argument("--families", action="store_true", help="show the cost per family")
    parser.add_argument(
        "--live-rounds", type=int, default=20, help="intervals of the live run (default 20)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=0.5,
        help="seconds between rounds, in every mode (default 0.5): a round that follows a "
        "pause meets colder caches, so all three are measured at the same cadence",
    )
    args = parser.parse_args(argv)
    extras = [int(x) for x in args.extra.split(",") if x.strip()]
    print(f"psutil {psutil.__version__}, Python {platform.python_version()}, "
          f"{psutil.cpu_count()} CPUs, {args.rounds} rounds each")  # fmt: skip
    print(
        f"{'extra':>6} {'procs':>6} {'pipeline ms':>12} {'live ms':>8} {'floor ms':>9} "
        f"{'ratio':>6} {'live ratio':>10}"
    )
    worst = 0.0
    for extra in extras:
        idle = spawn_idle(extra)
        try:
            time.sleep(0.2)  # let them all reach their sleep
            pipe, floor, nprocs, families = measure(args.rounds, args.interval)
            live = measure_live(args.live_rounds, args.interval)
        finally:
            reap(idle)
        ratio = pipe / floor if floor else float("inf")
        live_ratio = live / floor if floor else float("inf")
        worst = max(worst, ratio, live_ratio)
        print(
            f"{extra:>6} {nprocs:>6} {pipe * 1e3:>12.2f} {live * 1e3:>8.2f} {floor * 1e3:>9.2f} "
            f"{ratio:>6.2f} {live_ratio:>10.2f}"
        )
        if args.families:
            for name, cost in sorted(families.items(), key=lambda kv: -kv[1]):
                print(f"{'':>14}{name:<18} {cost * 1e3:>8.2f} ms")
    print(f"target pipeline <= 1.5 x floor: {'met' if worst <= 1.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
