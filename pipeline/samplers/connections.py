"""The ``connections`` plugin: TCP sockets counted by state, and the conntrack table fill.

The states come from ``/proc/net/tcp`` and ``/proc/net/tcp6`` read directly (one line
per socket, the hexadecimal ``st`` column), not from ``psutil.net_connections("tcp")``:
psutil reads the same two files, but first maps every socket inode to its process by
reading the link of every ``/proc/<pid>/fd/*`` on the machine, which the counts do not
need and which is why the reference ships the plugin disabled ("consumes lots of CPU").
psutil also builds a named tuple per socket and collapses identical ones (same family,
addresses, state and process); a socket is counted here once per line, which differs
only for sockets psutil cannot tell apart (such as two ``SO_REUSEPORT`` listeners on one
address owned by no visible process).

``terminated`` sums FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT and LAST_ACK, the
reference's ``terminated_states`` (the reference itself sums the *initiated* states
again, a bug). ``nf_conntrack_count`` and ``nf_conntrack_max`` are floats, as the
reference reads them, from ``/proc/sys/net/netfilter``.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import procfs

log = logging.getLogger(__name__)

#: the kernel's TCP states as /proc/net/tcp writes them (``include/net/tcp_states.h``)
TCP_STATES = {
    b"01": "ESTABLISHED",
    b"02": "SYN_SENT",
    b"03": "SYN_RECV",
    b"04": "FIN_WAIT1",
    b"05": "FIN_WAIT2",
    b"06": "TIME_WAIT",
    b"07": "CLOSE",
    b"08": "CLOSE_WAIT",
    b"09": "LAST_ACK",
    b"0A": "LISTEN",
    b"0B": "CLOSING",
}
#: the states published as fields of their own
PUBLISHED = ("LISTEN", "ESTABLISHED", "SYN_SENT", "SYN_RECV")
INITIATED = ("SYN_SENT", "SYN_RECV")
TERMINATED = ("FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK")

_CONNTRACK = "sys/net/netfilter/nf_conntrack_"


def parse_tcp_states(data: bytes) -> Counter[str]:
    """``{state name: sockets}`` of a ``/proc/net/tcp`` or ``tcp6`` file. The header
    line, a malformed line and an unknown state code are skipped."""
    # "   12: 0100007F:1F90 00000000:0000 0A 00000000:00000000 ..." (tcp6: 32 hex digits
    # per address): the fourth column, after the header line, as psutil splits it
    lines = data.split(b"\n")
    codes = Counter(f[3] for f in (line.split(None, 4) for line in lines[1:]) if len(f) == 5)
    states: Counter[str] = Counter()
    for code, count in codes.items():
        name = TCP_STATES.get(code.upper())
        if name is not None:
            states[name] += count
    return states


def tcp_states() -> Counter[str] | None:
    """The states of every TCP socket, IPv4 and IPv6; ``None`` when ``net/tcp`` cannot
    be read. A missing ``net/tcp6`` (IPv6 disabled) counts as no socket, as psutil
    leaves it out when the host does not support IPv6."""
    try:
        states = parse_tcp_states(procfs.proc("net/tcp"))
    except OSError as exc:
        log.debug("cannot read %s/net/tcp: %s", procfs.PROC, exc)
        return None
    try:
        states += parse_tcp_states(procfs.proc("net/tcp6"))
    except OSError as exc:
        log.debug("cannot read %s/net/tcp6: %s", procfs.PROC, exc)
    return states


def _conntrack(name: str) -> float | None:
    try:
        return float(procfs.proc(f"{_CONNTRACK}{name}").split(b"\n", 1)[0])
    except (OSError, ValueError) as exc:
        log.debug("cannot read %s/%s%s: %s", procfs.PROC, _CONNTRACK, name, exc)
        return None


def connections() -> dict[str, Any]:
    """The plugin's dict: the flags first, as the reference's initial value has them."""
    out: dict[str, Any] = {"net_connections_enabled": True, "nf_conntrack_enabled": True}
    states = tcp_states()
    if states is None:
        out["net_connections_enabled"] = False
    else:
        for name in PUBLISHED:
            out[name] = states[name]
        out["initiated"] = sum(states[name] for name in INITIATED)
        out["terminated"] = sum(states[name] for name in TERMINATED)
    count = _conntrack("count")
    limit = _conntrack("max") if count is not None else None
    if count is None or limit is None:
        out["nf_conntrack_enabled"] = False
    else:
        out["nf_conntrack_count"] = count
        out["nf_conntrack_max"] = limit
        # a max of 0 means "no limit" to the kernel: nothing to be a percentage of
        out["nf_conntrack_percent"] = count * 100 / limit if limit > 0 else 0.0
    return out


def sample_connections(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    return {"connections": connections()}, None


SAMPLERS = [SamplerSpec("connections", ("connections",), sample_connections)]
