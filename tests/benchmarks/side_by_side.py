"""statbus revisions (or configurations) side by side: CPU of each over the same minutes.

    python tests/benchmarks/side_by_side.py [--seconds 120] [--refresh 2] \\
        NAME=REV[,key=value...] NAME=REV[,key=value...] ...

Each ``NAME=REV`` is one statbus: ``REV`` a git revision of this repository (checked
out into a temporary worktree, removed afterwards) or ``.`` for the working tree; the
optional ``key=value`` pairs set config keys (``global.history_persist=false``,
``sensors.disable=true``; values in TOML syntax).  All of them run at once with the sampling
configuration of ``vs_glances.py`` (API off, MQTT sink on to one private Mosquitto on
loopback, history on), so machine noise hits them alike; after a warm-up, the CPU each
uses (utime + stime, all threads) over ``--seconds`` is printed in ms per second, with
its peak RSS.  Used for the before/after figures of docs/benchmarks.md ("what changed,
step by step"): run a revision before and after a change, twice each.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vs_glances import (  # noqa: E402
    ROOT,
    Tools,
    cpu_seconds,
    log,
    mosquitto,
    started,
    status_kib,
)

from pipeline.config import toml_value  # noqa: E402


@contextlib.contextmanager
def checkout(rev: str, tmp: Path) -> Iterator[Path]:
    """The tree of ``rev`` (``.``: the working tree itself)."""
    if rev == ".":
        yield ROOT
        return
    where = tmp / f"worktree-{rev.replace('/', '_')}"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(where), rev],
        check=True,
    )
    try:
        yield where
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], check=False
        )


def with_sets(text: str, sets: Sequence[str]) -> str:
    """The TOML ``text`` with each ``section.key=value`` set (``value`` in TOML syntax)."""
    doc = tomllib.loads(text)
    for item in sets:
        path, _, raw = item.partition("=")
        *sections, key = path.split(".")
        table = doc
        for section in sections:
            table = table.setdefault(section, {})
        table[key] = tomllib.loads(f"v = {raw}")["v"]
    return _dump(doc)


def _dump(doc: dict[str, Any], prefix: str = "") -> str:
    plain = [f"{k} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    out = ([f"[{prefix}]"] if prefix else []) + plain
    for k, v in doc.items():
        if isinstance(v, dict):
            out += ["", _dump(v, f"{prefix}.{k}" if prefix else k)]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--refresh", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("runs", nargs="+", metavar="NAME=REV[,key=value...]")
    ns = parser.parse_args(argv)
    runs = []
    for arg in ns.runs:
        name, _, spec = arg.partition("=")
        rev, *sets = spec.split(",")
        runs.append((name, rev or ".", sets))
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="statbus-sbs-")))
        broker = stack.enter_context(mosquitto(tmp))
        procs = []
        trees: dict[str, Path] = {}  # one checkout per revision, shared by its runs
        for name, rev, sets in runs:
            if rev not in trees:
                trees[rev] = stack.enter_context(checkout(rev, tmp))
            tree = trees[rev]
            own = tmp / name
            own.mkdir()
            tools = Tools(Path("/nonexistent"), [], own, broker)
            conf = tools.statbus_conf(ns.refresh, mqtt=True, api_port=0)
            # its own MQTT client id (the device name names it)
            text = conf.read_text().replace("bench-statbus", f"bench-{name}")
            conf.write_text(with_sets(text, sets))
            argv_ = [sys.executable, "-m", "api.cli", "--config", str(conf)]
            env = {**tools.env(), "PYTHONPATH": str(tree)}
            proc = stack.enter_context(started(argv_, name, env, own / "statbus.log", cwd=tree))
            procs.append((name, rev, sets, proc))
        time.sleep(max(ns.warmup, 3 * ns.refresh))
        before = {name: cpu_seconds(p.pid) for name, _, _, p in procs}
        t0 = time.monotonic()
        time.sleep(ns.seconds)
        elapsed = time.monotonic() - t0
        after = {name: cpu_seconds(p.pid) for name, _, _, p in procs}
        log(f"{ns.seconds:g} s side by side, refresh {ns.refresh:g} s")
        for name, rev, sets, p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode}")
            ms = 1000 * (after[name] - before[name]) / elapsed
            peak = status_kib(p.pid, "VmHWM") / 1024
            extra = f" {' '.join(sets)}" if sets else ""
            print(f"{name:>12}  {rev:>10}{extra}  {ms:6.2f} ms/s  peak RSS {peak:5.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
