"""Disk family: ``diskio`` (per-disk I/O counters) and ``fs`` (mounted file systems).

``diskio`` publishes read/write counts, bytes and times as Glances v4 rate fields, so
``time_since_update`` is never 0 (the Home Assistant integration divides by it): the
first call only primes.  ``read_latency``/``write_latency`` are the mean milliseconds per
operation over the interval (time delta / count delta; 0 with no operation), which is
Glances' ``int(time_rate / count_rate)`` without the rounding of the two floored rates.
``ram*`` disks are skipped, as in the reference.

``fs`` lists the physical partitions (what ``psutil.disk_partitions(all=False)`` lists), one entry
per mount point (a later mount over the same point wins, as the kernel shows it).  A
mount whose usage cannot be read is skipped for that round only.  The ``allow`` option
adds the mounts (of ``psutil.disk_partitions(all=True)``) whose file-system type
contains one of its strings (``allow = ["tmpfs", "nfs"]``; ``"fuse"`` takes
``fuse.sshfs``), on mount points not already listed, as the reference does.  A mount
that ``hide``/``show`` hides is not even measured (no ``statvfs`` on it: a dead NFS
server cannot stall the round for a mount nobody wants), as in the reference; the
runner filters the published list again, with the aliases
(docs/plugins/options.md).

Both read their sources directly (:mod:`pipeline.samplers.procfs`) with psutil's
parsing and formulas: ``/proc/diskstats`` (psutil's ``nowrap`` kept in the state),
``/proc/filesystems`` and the mount table, ``statvfs``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil

from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import procfs
from pipeline.samplers.base import rate_fields

log = logging.getLogger(__name__)

DISKIO_COUNTERS = (
    "read_count", "write_count", "read_bytes", "write_bytes", "read_time", "write_time"
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DiskioState:
    ts: float
    #: disk name -> the DISKIO_COUNTERS values at ``ts`` (as psutil's nowrap gives them)
    counters: Mapping[str, tuple[int, ...]]
    #: psutil's nowrap state for every disk's counters (None: the first reading)
    wrap: procfs.Unwrapped | None = None


def _read_diskio(previous: procfs.Unwrapped | None) -> procfs.Unwrapped:
    """``psutil.disk_io_counters(perdisk=True)``'s DISKIO_COUNTERS, nowrap applied."""
    try:
        raw: Mapping[str, tuple[int, ...]] | None = procfs.parse_diskstats(procfs.proc("diskstats"))
    except OSError:  # no /proc/diskstats: psutil reads /sys/block
        raw = None
    if raw is None:
        perdisk = psutil.disk_io_counters(perdisk=True, nowrap=False) or {}
        raw = {name: tuple(getattr(c, f) for f in DISKIO_COUNTERS) for name, c in perdisk.items()}
    return procfs.unwrap(raw, previous)


def sample_diskio(
    previous: DiskioState | None, ctx: SampleContext
) -> tuple[dict[str, Any], DiskioState]:
    now = time.monotonic()
    wrap = _read_diskio(None if previous is None else previous.wrap)
    counters = {name: c for name, c in wrap.values.items() if not name.startswith("ram")}
    state = DiskioState(now, counters, wrap)
    if previous is None:
        return {}, state
    elapsed = now - previous.ts
    entries: list[dict[str, Any]] = []
    for name, values in counters.items():
        before = previous.counters.get(name)  # None: new disk, zero delta and rate
        entry: dict[str, Any] = {"key": "disk_name", "disk_name": name}
        for i, field in enumerate(DISKIO_COUNTERS):
            rate_fields(entry, field, values[i], None if before is None else before[i], elapsed)
        for op in ("read", "write"):
            count = entry[f"{op}_count"]
            entry[f"{op}_latency"] = int(entry[f"{op}_time"] / count) if count else 0
        entry["time_since_update"] = elapsed
        entries.append(entry)
    return {"diskio": entries}, state


def all_partitions() -> list[procfs.Partition]:
    """``psutil.disk_partitions(all=True)``: every mount, whatever its type (a ``none``
    device is ""), read from the mount table :func:`procfs.disk_partitions` reads."""
    if procfs.PROC == "/proc" and os.path.isfile("/etc/mtab"):
        mounts_path = "/etc/mtab"
    else:
        mounts_path = f"{procfs.PROC}/self/mounts"
    return [
        procfs.Partition("" if device == "none" else device, mountpoint, fstype, opts)
        for device, mountpoint, fstype, opts in procfs.parse_mounts(procfs.read(mounts_path))
    ]


def _partitions(allow: tuple[str, ...]) -> list[procfs.Partition]:
    """The physical partitions, then the mounts ``allow`` adds (a type containing one
    of its strings, on a mount point not listed yet)."""
    parts = procfs.disk_partitions()
    if not allow:
        return parts
    listed = {p.mountpoint for p in parts}
    for part in all_partitions():
        if part.mountpoint not in listed and any(a in part.fstype for a in allow):
            parts.append(part)
    return parts


#: the last configuration's fs hide/show filter: ``(config, filter)``
_FILTER: tuple[Any, Callable[[dict[str, Any]], bool] | None] | None = None


def _fs_filter(config: Any) -> Callable[[dict[str, Any]], bool] | None:
    global _FILTER
    cached = _FILTER
    if cached is not None and cached[0] is config:
        return cached[1]
    from pipeline.plugins.items import display_filter  # the runner's own rule

    shown = display_filter("fs", config)
    _FILTER = (config, shown)
    return shown


def sample_fs(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    by_mount: dict[str, dict[str, Any]] = {}
    shown = _fs_filter(ctx.config)
    for part in _partitions(ctx.config.plugins["fs"].options["allow"]):
        if shown is not None and not shown(
            {"mnt_point": part.mountpoint, "device_name": part.device}
        ):
            continue
        try:
            usage = procfs.disk_usage(part.mountpoint)
        except OSError as exc:  # gone, or unreadable (permissions, a dead device)
            log.debug("skipping %s this round: %s", part.mountpoint, exc)
            by_mount.pop(part.mountpoint, None)
            continue
        by_mount[part.mountpoint] = {
            "key": "mnt_point",
            "device_name": part.device,
            "fs_type": part.fstype,
            "mnt_point": part.mountpoint,
            "options": part.opts,
            "size": usage.total,
            "used": usage.used,
            "free": usage.free,
            "percent": usage.percent,
        }
    return {"fs": list(by_mount.values())}, None


SAMPLERS: list[SamplerSpec] = [
    SamplerSpec("diskio", ("diskio",), sample_diskio),
    SamplerSpec("fs", ("fs",), sample_fs),
]
