"""Network family: ``network`` (per-interface traffic) and ``ip`` (the private address).

``network`` entries carry ``bytes_sent``, ``bytes_recv`` and ``bytes_all`` as Glances v4
rate fields (see :func:`~pipeline.samplers.base.rate_fields`).  The first call only
primes the counters; after that, an interface that appears mid-run gets its rate fields
at once, with a zero delta and rate (Glances publishes it once without them).
``speed`` is psutil's Mbps times 1048576, as in the reference; ``is_up`` is present.
``alias`` is ``None`` here; the runner writes the configured one (``alias`` option).

Options (``[network]``, docs/plugins/options.md): ``hide_no_up`` leaves out the
interfaces that are not up (``is_up`` false: psutil's ``isup``, IFF_RUNNING);
``hide_no_ip`` leaves out those without an address other than a link-layer one
(``psutil.net_if_addrs()``: an IPv4 or IPv6 address), as the reference does.  Their
counters are still tracked, so an interface that comes up gets its rates at once.

``ip`` is the first IPv4 address of an interface that is up and not loopback, preferring
the interface of the default route; ``gateway`` is that route's gateway, read from
``/proc/net/route`` (``None`` when there is no default route).  With no IPv4 address at
all, ``ip`` is ``{}``.

The counters are read from ``/proc/net/dev`` and the up flag and speed by the ioctls
psutil's ``net_if_stats`` makes (:mod:`pipeline.samplers.procfs`), without its second
read of ``/proc/net/dev`` and its MTU ioctl; psutil's ``nowrap`` (a counter that goes
backwards had wrapped: the last value is added from then on) is kept in the state.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import psutil

from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import procfs
from pipeline.samplers.base import rate_fields

log = logging.getLogger(__name__)

#: Glances v4 reports ``speed`` as psutil's Mbps times 2**20
SPEED_FACTOR = 1048576
ROUTE_FILE = Path("/proc/net/route")
_RTF_UP = 0x1
_RTF_GATEWAY = 0x2


@dataclass(frozen=True, slots=True)
class NetworkState:
    ts: float
    #: interface name -> (bytes_sent, bytes_recv) at ``ts`` (as psutil's nowrap gives them)
    counters: Mapping[str, tuple[int, int]]
    #: psutil's nowrap state for these counters (None: the first reading)
    wrap: procfs.Unwrapped | None = None


def sample_network(
    previous: NetworkState | None, ctx: SampleContext
) -> tuple[dict[str, Any], NetworkState]:
    now = time.monotonic()
    raw = procfs.parse_net_dev(procfs.proc("net/dev"))
    wrap = procfs.unwrap(raw, None if previous is None else previous.wrap)
    state = NetworkState(now, cast(Mapping[str, tuple[int, int]], wrap.values), wrap)
    if previous is None:
        return {}, state
    elapsed = now - previous.ts
    stats = procfs.nic_stats(raw)
    options = ctx.config.plugins["network"].options
    hide_no_up, with_ip = options["hide_no_up"], _with_ip(options["hide_no_ip"])
    entries: list[dict[str, Any]] = []
    for name, (sent, recv) in state.counters.items():
        nic = stats.get(name)
        is_up = bool(nic.flags & procfs.IFF_RUNNING) if nic is not None else False
        if (hide_no_up and not is_up) or (with_ip is not None and name not in with_ip):
            continue
        before = previous.counters.get(name)  # None: new interface, zero delta and rate
        prev_sent: int | None = None
        prev_recv: int | None = None
        prev_all: int | None = None
        if before is not None:
            prev_sent, prev_recv = before
            prev_all = prev_sent + prev_recv
        entry: dict[str, Any] = {"key": "interface_name", "interface_name": name, "alias": None}
        rate_fields(entry, "bytes_sent", sent, prev_sent, elapsed)
        rate_fields(entry, "bytes_recv", recv, prev_recv, elapsed)
        rate_fields(entry, "bytes_all", sent + recv, prev_all, elapsed)
        entry["speed"] = nic.speed * SPEED_FACTOR if nic is not None else 0
        entry["is_up"] = is_up
        entry["time_since_update"] = elapsed
        entries.append(entry)
    return {"network": entries}, state


def _with_ip(wanted: bool) -> frozenset[str] | None:
    """With ``hide_no_ip``: the interfaces that have an address of a family other than
    the link layer's (AF_PACKET), as the reference's ``a.family != psutil.AF_LINK``;
    ``None`` (nothing hidden) without the option, or when the addresses cannot be
    read (hiding every interface on a failed read would be worse)."""
    if not wanted:
        return None
    try:
        addrs = psutil.net_if_addrs()
    except OSError as exc:
        log.debug("cannot read the interface addresses: %s", exc)
        return None
    return frozenset(
        name for name, items in addrs.items() if any(a.family != psutil.AF_LINK for a in items)
    )


# --- ip --------------------------------------------------------------------------------


def default_route(path: Path = ROUTE_FILE) -> tuple[str, str] | None:
    """``(interface, gateway)`` of the IPv4 default route with the lowest metric."""
    try:
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()[1:]
    except OSError as exc:
        log.debug("cannot read %s: %s", path, exc)
        return None
    best: tuple[int, str, str] | None = None
    for line in lines:
        cols = line.split()
        if len(cols) < 8 or cols[1] != "00000000" or cols[7] != "00000000":
            continue
        try:
            flags, metric = int(cols[3], 16), int(cols[6])
            gateway = socket.inet_ntoa(struct.pack("<L", int(cols[2], 16)))
        except (ValueError, struct.error):
            continue
        if flags & _RTF_UP and flags & _RTF_GATEWAY and (best is None or metric < best[0]):
            best = (metric, cols[0], gateway)
    return None if best is None else (best[1], best[2])


def sample_ip(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    addrs = psutil.net_if_addrs()
    # psutil.net_if_stats()' isup (IFF_RUNNING) and flags, in /proc/net/dev's order
    stats = procfs.nic_stats(procfs.parse_net_dev(procfs.proc("net/dev")), False)
    route = default_route()
    candidates = [
        name
        for name, nic in stats.items()
        if nic.flags & procfs.IFF_RUNNING
        and name in addrs
        and name != "lo"
        and not nic.flags & procfs.IFF_LOOPBACK
    ]
    if route is not None and route[0] in candidates:  # the default route's interface first
        candidates.remove(route[0])
        candidates.insert(0, route[0])
    for name in candidates:
        for addr in addrs[name]:
            if addr.family != socket.AF_INET or not addr.address:
                continue
            ip: dict[str, Any] = {"address": addr.address, "mask": addr.netmask}
            try:
                ip["mask_cidr"] = ipaddress.IPv4Network(f"0.0.0.0/{addr.netmask}").prefixlen
            except (ValueError, TypeError):
                ip["mask_cidr"] = None
            ip["gateway"] = route[1] if route is not None else None
            return {"ip": ip}, None
    return {"ip": {}}, None


SAMPLERS: list[SamplerSpec] = [
    SamplerSpec("network", ("network",), sample_network),
    SamplerSpec("ip", ("ip",), sample_ip),
]
