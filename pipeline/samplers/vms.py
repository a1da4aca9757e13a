"""The ``vms`` plugin: the virtual machines of multipass and libvirt (``virsh``).

Each engine found on ``PATH`` is asked; each VM is one entry::

    {"name": "win11", "id": "4", "release": "Windows 11", "status": "running",
     "cpu_count": 4, "cpu_time": 212.5, "cpu_time_gauge": 170214.56,
     "cpu_time_rate_per_sec": 106.0, "memory_usage": 8641654784,
     "memory_total": 8589934592, "load_1min": None, "load_5min": None,
     "load_15min": None, "ipv4": None, "engine": "virsh", "engine_version": "QEMU 8.2.2",
     "time_since_update": 2.0, "key": "name"}

**multipass** (derivations of the reference's ``engines/multipass.py``):
``multipass list --format json`` names the instances and their state; ``multipass info
--format json -- <names>`` details the ones shown: ``id`` is the image hash, ``status``
the state in lower case, ``release`` ``release`` (else ``image_release``),
``cpu_count``, ``memory_usage``/``memory_total`` (bytes), ``load_*`` and the first
``ipv4``.  When ``info`` fails the entry keeps what ``list`` gave (the rest ``None``).
multipass reports no CPU time: ``cpu_time`` and its rate fields are ``None``.
``engine_version`` is ``multipass`` of ``multipass version --format json``.

**virsh** (the reference's ``engines/virsh.py``): ``virsh list --all`` gives the
domains (``id``: ``-`` when shut off; ``status``: the state in lower case), then per
domain ``virsh domstats --nowait -- <domain>``: ``cpu_count`` is ``vcpu.current``,
``memory_usage``/``memory_total`` are ``balloon.rss``/``balloon.maximum`` KiB x 1024 and
``cpu_time`` is ``cpu.time`` ns / 1e9 x 100, a cumulative "percent" (100 per busy vCPU
second); ``release`` is ``virsh desc --title -- <domain>``; loads and ``ipv4`` are
``None``.  ``engine_version`` is the ``Running hypervisor:`` of ``virsh version``.

``cpu_time`` is a Glances v4 rate field (:func:`~pipeline.samplers.base.rate_fields`):
``cpu_time`` the delta since the previous round, ``cpu_time_gauge`` the cumulative
value, ``cpu_time_rate_per_sec`` ``delta // elapsed`` (so 100.0 is one busy vCPU).  A
VM seen for the first time is published at once with a delta and rate of 0; on the
very first round ``time_since_update`` is the time that round took.

Domain names are untrusted (anyone allowed to define a domain picks its name): they are
only ever one argument of an argument list, after ``--``, never seen by a shell (the
reference had a command injection there, CVE-2026-46606).  Every command runs with
``LC_ALL=C`` and the ``command_timeout`` option as its timeout; the whole round ends
within :data:`BUDGET_SHARE` of the sampler timeout.  The version and the domain titles
are read again every :data:`CACHE_TTL` seconds.

Only running (and, for virsh, paused; for multipass starting, restarting and in delayed
shutdown) VMs are listed unless the ``all`` option is set.  A name met twice (a
multipass instance on its libvirt driver is also a libvirt domain) keeps its first
entry.  Without multipass and virsh the plugin is ``{}`` (its registry empty value).
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.plugins import PLUGINS
from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers.base import rate_fields
from pipeline.samplers.smart import run

log = logging.getLogger(__name__)

#: the share of the sampler timeout one round may take
BUDGET_SHARE = 0.8
#: seconds an engine version or a domain title is kept before it is read again
CACHE_TTL = 300.0
#: at most this many domains are read at once
MAX_WORKERS = 8
#: the states listed without ``all`` (lower case)
VIRSH_SHOWN = frozenset({"running", "paused"})
MULTIPASS_SHOWN = frozenset({"running", "starting", "restarting", "delayed shutdown"})


@dataclass(frozen=True, slots=True)
class VmsState:
    ts: float
    #: virsh domain -> its ``cpu_time`` gauge at ``ts``
    cpu: Mapping[str, float] = field(default_factory=dict)
    #: engine -> (version or None, when it was read)
    versions: Mapping[str, tuple[str | None, float]] = field(default_factory=dict)
    #: virsh domain -> (title or None, when it was read)
    titles: Mapping[str, tuple[str | None, float]] = field(default_factory=dict)


class _Round:
    """One round's clock: each command gets ``min(command_timeout, time left)``."""

    def __init__(self, deadline: float, command_timeout: float) -> None:
        self.deadline = deadline
        self.command_timeout = command_timeout

    def run(self, argv: list[str]) -> str | None:
        """The command's stdout when it exited 0, else None."""
        timeout = min(self.command_timeout, self.deadline - time.monotonic())
        if timeout <= 0:
            log.debug("vms: no time left for %r this round", argv)
            return None
        result = run(argv, timeout)
        if result is None or result[0] != 0:
            if result is not None:
                log.debug("vms: %r exited with status %d", argv, result[0])
            return None
        return result[1].decode("utf-8", errors="replace")


def _entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "id": None,
        "release": None,
        "status": None,
        "cpu_count": None,
        "cpu_time": None,
        "cpu_time_gauge": None,
        "cpu_time_rate_per_sec": None,
        "memory_usage": None,
        "memory_total": None,
        "load_1min": None,
        "load_5min": None,
        "load_15min": None,
        "ipv4": None,
        "engine": None,
        "engine_version": None,
        "time_since_update": None,
        "key": "name",
    }


def _int(value: Any) -> int | None:
    """An int from a JSON number or a digit string (multipass writes both)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _json(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


# --- multipass -------------------------------------------------------------------------


def parse_multipass_list(text: str | None) -> list[dict[str, Any]]:
    """The instances of ``multipass list --format json`` (each has a ``name``)."""
    items = _json(text).get("list")
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, dict) and _text(i.get("name"))]


def multipass_entry(
    name: str, listed: Mapping[str, Any], info: Mapping[str, Any]
) -> dict[str, Any]:
    """The entry of one instance from its ``list`` item and its ``info`` (maybe ``{}``)."""
    entry = _entry(name)
    state = _text(info.get("state")) or _text(listed.get("state"))
    entry["status"] = state.lower() if state else None
    entry["id"] = _text(info.get("image_hash"))
    entry["release"] = (
        _text(info.get("release"))
        or _text(info.get("image_release"))
        or _text(listed.get("release"))
    )
    entry["cpu_count"] = _int(info.get("cpu_count"))
    memory = info.get("memory")
    if isinstance(memory, dict):
        entry["memory_usage"] = _int(memory.get("used"))
        entry["memory_total"] = _int(memory.get("total"))
    load = info.get("load")
    if isinstance(load, list) and len(load) == 3:
        entry["load_1min"], entry["load_5min"], entry["load_15min"] = map(_float, load)
    for source in (info.get("ipv4"), listed.get("ipv4")):
        if isinstance(source, list) and source and _text(source[0]):
            entry["ipv4"] = _text(source[0])
            break
    return entry


def _multipass(exe: str, shown_all: bool, clock: _Round) -> list[dict[str, Any]]:
    listed = parse_multipass_list(clock.run([exe, "list", "--format", "json"]))
    wanted = [
        i for i in listed if shown_all or str(i.get("state", "")).strip().lower() in MULTIPASS_SHOWN
    ]
    if not wanted:
        return []
    names = [str(i["name"]).strip() for i in wanted]
    info = _json(clock.run([exe, "info", "--format", "json", "--", *names])).get("info")
    details = info if isinstance(info, dict) else {}
    return [
        multipass_entry(name, item, d if isinstance(d := details.get(name), dict) else {})
        for name, item in zip(names, wanted, strict=True)
    ]


def multipass_version(text: str | None) -> str | None:
    return _text(_json(text).get("multipass"))


# --- virsh -----------------------------------------------------------------------------


def parse_virsh_list(text: str | None) -> list[tuple[str, str, str]]:
    """``[(id, name, state)]`` from ``virsh list --all``'s table.

    A row is `` <id>   <name>   <state>``: the id has no space, the state no run of
    two spaces (``shut off``, ``in shutdown``), so the name is what lies between (it may
    hold spaces itself)."""
    out: list[tuple[str, str, str]] = []
    for line in (text or "").splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) != 2 or set(line.strip()) == {"-"}:
            continue
        ident, rest = parts
        split = re.match(r"(.+?)\s{2,}(\S+(?: \S+)*)$", rest)
        if split is None or (ident == "Id" and split.group(2) == "State"):
            continue
        out.append((ident, split.group(1), split.group(2)))
    return out


def parse_domstats(text: str | None) -> dict[str, str]:
    """``{field: value}`` from ``virsh domstats`` of one domain."""
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        name, eq, value = line.strip().partition("=")
        if eq and name:
            out[name] = value.strip()
    return out


def virsh_version(text: str | None) -> str | None:
    """The ``Running hypervisor:`` of ``virsh version`` (``QEMU 8.2.2``)."""
    for line in (text or "").splitlines():
        label, colon, value = line.partition(":")
        if colon and label.strip() == "Running hypervisor":
            return _text(value)
    return None


def virsh_entry(
    ident: str, name: str, state: str, stats: Mapping[str, str], title: str | None
) -> dict[str, Any]:
    """The entry of one domain (``cpu_time`` still its gauge: the caller sets the rate)."""
    entry = _entry(name)
    entry["id"] = ident
    entry["status"] = state.lower()
    entry["release"] = title
    entry["cpu_count"] = _int(stats.get("vcpu.current"))
    cpu_ns = _int(stats.get("cpu.time"))
    entry["cpu_time_gauge"] = None if cpu_ns is None else cpu_ns / 1e9 * 100
    rss, maximum = _int(stats.get("balloon.rss")), _int(stats.get("balloon.maximum"))
    entry["memory_usage"] = None if rss is None else rss * 1024
    entry["memory_total"] = None if maximum is None else maximum * 1024
    return entry


def _virsh(
    exe: str,
    shown_all: bool,
    clock: _Round,
    titles: Mapping[str, tuple[str | None, float]],
    now: float,
) -> tuple[list[dict[str, Any]], dict[str, tuple[str | None, float]]]:
    """The domains' entries and the titles to keep."""
    domains = [
        d
        for d in parse_virsh_list(clock.run([exe, "list", "--all"]))
        if shown_all or d[2].lower() in VIRSH_SHOWN
    ]
    if not domains:
        return [], {}

    def read(domain: tuple[str, str, str]) -> tuple[dict[str, Any], tuple[str | None, float]]:
        ident, name, state = domain
        stats = parse_domstats(clock.run([exe, "domstats", "--nowait", "--", name]))
        cached = titles.get(name)
        if cached is None or now - cached[1] >= CACHE_TTL:
            out = clock.run([exe, "desc", "--title", "--", name])
            cached = (_text(out), now)
        return virsh_entry(ident, name, state, stats, cached[0]), cached

    with ThreadPoolExecutor(min(len(domains), MAX_WORKERS), "virsh") as pool:
        results = list(pool.map(read, domains))
    return [e for e, _ in results], {e["name"]: t for e, t in results}


# --- the sampler -----------------------------------------------------------------------


def _version(
    engine: str,
    previous: Mapping[str, tuple[str | None, float]],
    now: float,
    read: Callable[[], str | None],
) -> tuple[str | None, float]:
    """The engine's version, read again once it is :data:`CACHE_TTL` seconds old."""
    cached = previous.get(engine)
    if cached is not None and now - cached[1] < CACHE_TTL:
        return cached
    return read(), now


def sample_vms(
    previous: VmsState | None, ctx: SampleContext
) -> tuple[dict[str, Any], VmsState | None]:
    engines = {e: shutil.which(e) for e in ("multipass", "virsh")}
    if not any(engines.values()):
        return {"vms": PLUGINS["vms"].empty()}, None
    options = ctx.config.plugins["vms"].options
    shown_all = bool(options["all"])
    start = time.monotonic()
    clock = _Round(
        start + BUDGET_SHARE * ctx.config.timeout_of("vms"), float(options["command_timeout"])
    )
    versions = {} if previous is None else dict(previous.versions)
    entries: list[dict[str, Any]] = []
    titles: dict[str, tuple[str | None, float]] = {}
    multipass, virsh = engines["multipass"], engines["virsh"]
    if multipass is not None:
        vms = _multipass(multipass, shown_all, clock)
        versions["multipass"] = _version(
            "multipass",
            versions,
            start,
            lambda: multipass_version(clock.run([multipass, "version", "--format", "json"])),
        )
        for vm in vms:
            vm["engine"], vm["engine_version"] = "multipass", versions["multipass"][0]
        entries += vms
    if virsh is not None:
        vms, titles = _virsh(
            virsh, shown_all, clock, {} if previous is None else previous.titles, start
        )
        versions["virsh"] = _version(
            "virsh", versions, start, lambda: virsh_version(clock.run([virsh, "version"]))
        )
        for vm in vms:
            vm["engine"], vm["engine_version"] = "virsh", versions["virsh"][0]
        entries += vms
    now = time.monotonic()
    elapsed = now - previous.ts if previous is not None else max(now - start, 1e-6)
    before = {} if previous is None else previous.cpu
    cpu: dict[str, float] = {}
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for vm in entries:
        if vm["name"] in seen:
            log.debug("vms: %r is listed by two engines, the first is kept", vm["name"])
            continue
        seen.add(vm["name"])
        gauge = vm["cpu_time_gauge"]
        if vm["engine"] == "virsh" and gauge is not None:
            cpu[vm["name"]] = gauge
            rate_fields(vm, "cpu_time", gauge, before.get(vm["name"]), elapsed)
        vm["time_since_update"] = elapsed
        out.append(vm)
    return {"vms": out}, VmsState(now, cpu, versions, titles)


SAMPLERS = [SamplerSpec("vms", ("vms",), sample_vms)]
