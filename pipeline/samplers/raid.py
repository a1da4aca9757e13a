"""The ``raid`` plugin: Linux software RAID (md) arrays, from ``/proc/mdstat``.

The value is a dict keyed by array, in the file's order, in pymdstat's shape (the
library the reference uses)::

    {"md0": {"status": "active", "type": "raid1",
             "components": {"sdb1": "1", "sda1": "0"},
             "available": 2, "used": 2, "config": "UU"}}

The kernel (``drivers/md/md.c``, ``md_seq_show``) writes a ``Personalities`` line, then
per array a line ``md0 : active raid1 sdb1[1] sda1[0]`` (``active`` or ``inactive``, an
optional ``(read-only)`` or ``(auto-read-only)``, the personality when the array runs,
then each member with its role number and a flag such as ``(F)`` faulty, ``(S)`` spare,
``(W)`` write-mostly), then indented lines: the first ends with ``[n/m] [UU_]`` for an
array with redundancy, and a resync/recovery progress line or a bitmap line may follow.

* ``status``: ``active`` or ``inactive`` (a read-only flag is not part of it, as in
  pymdstat);
* ``type``: the personality, ``None`` for an inactive array (none is shown);
* ``components``: ``{device: role number}``, the role a digit string as in pymdstat,
  flagged members (faulty, spare) included;
* ``available``: the ``n`` of ``[n/m]``, how many devices the array should have;
  ``used``: the ``m``, how many are working; both **ints** (pymdstat gives digit
  strings); ``config``: the ``UU_`` string.  The three are ``None`` without a ``[n/m]``
  (raid0, linear, inactive arrays, imsm/ddf containers).

Without ``/proc/mdstat`` (the md driver is not loaded) the plugin is ``{}``.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import procfs

#: an array's first line: ``md0 : active raid1 sdb1[1] sda1[0]``
_ARRAY = re.compile(r"(md\S*)\s+:\s+(.*)")
#: a member: ``sdb1[1]``, with flags such as ``(F)`` or ``(S)`` after it
_MEMBER = re.compile(r"(\S+?)\[(\d+)\](?:\(\w\))*")
#: the end of the status line: ``[2/1] [U_]``
_HEALTH = re.compile(r"\[(\d+)/(\d+)\]\s+\[([U_]*)\]\s*$")


def _array(words: list[str]) -> dict[str, Any]:
    """The ``status``, ``type`` and ``components`` of an array line's words (after the
    colon)."""
    status = words[0]
    rest = [w for w in words[1:] if not w.startswith("(")]  # (read-only), (auto-read-only)
    kind = None
    if rest and "[" not in rest[0]:
        kind = rest.pop(0)
    components = {}
    for word in rest:
        if m := _MEMBER.fullmatch(word):
            components[m.group(1)] = m.group(2)
    return {"status": status, "type": kind, "components": components}


def parse_mdstat(data: bytes) -> dict[str, dict[str, Any]]:
    """The ``raid`` value of a ``/proc/mdstat`` reading."""
    lines = data.decode("utf-8", errors="replace").split("\n")
    arrays: dict[str, dict[str, Any]] = {}
    for i, line in enumerate(lines):
        m = _ARRAY.fullmatch(line.rstrip())
        if m is None:
            continue
        words = m.group(2).split()
        if not words:
            continue
        array = _array(words)
        health = None
        if i + 1 < len(lines) and lines[i + 1][:1].isspace():
            health = _HEALTH.search(lines[i + 1])
        if health is None:
            array |= {"available": None, "used": None, "config": None}
        else:
            array |= {
                "available": int(health.group(1)),
                "used": int(health.group(2)),
                "config": health.group(3),
            }
        arrays[m.group(1)] = array
    return arrays


def sample_raid(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    try:
        data = procfs.proc("mdstat")
    except OSError:  # absent, or unreadable here (a restricted /proc): nothing to report
        return {"raid": PLUGINS["raid"].empty()}, None
    return {"raid": parse_mdstat(data)}, None


SAMPLERS = [SamplerSpec("raid", ("raid",), sample_raid)]
