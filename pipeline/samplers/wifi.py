"""The ``wifi`` plugin: the signal of each wireless interface, from ``/proc/net/wireless``.

Each entry is ``{"ssid": <interface>, "quality_link": float, "quality_level": float,
"key": "ssid"}``, in the file's order.  As in the reference, ``ssid`` holds the
*interface* name (``wlp0s20f3``), not the network's: the file does not know it.

The kernel writes (``net/wireless/wext-proc.c``) two header lines, then per interface::

    wlp2s0: 0000   51.  -59.  -256        0      0      0      0   5881        0

name and colon, status, then link quality, signal level (dBm) and noise, each followed
by ``.`` when updated since the last reading, then the discarded and missed counters.
A line that does not read so is skipped.  Without the file (no wireless extensions, or
no wireless interface) the plugin is ``[]``.
"""

from __future__ import annotations

from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import procfs


def parse_wireless(data: bytes) -> list[dict[str, Any]]:
    """The ``wifi`` entries of a ``/proc/net/wireless`` reading."""
    entries: list[dict[str, Any]] = []
    for line in data.decode("utf-8", errors="replace").split("\n")[2:]:
        name, colon, rest = line.partition(":")  # a Linux interface name has no colon
        name = name.strip()
        cols = rest.split()
        if not colon or not name or len(cols) < 3:
            continue
        try:
            link, level = float(cols[1]), float(cols[2])
        except ValueError:
            continue
        entries.append({"ssid": name, "quality_link": link, "quality_level": level, "key": "ssid"})
    return entries


def sample_wifi(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    try:
        data = procfs.proc("net/wireless")
    except OSError:  # absent, or unreadable here (a restricted /proc): nothing to report
        return {"wifi": PLUGINS["wifi"].empty()}, None
    return {"wifi": parse_wireless(data)}, None


SAMPLERS = [SamplerSpec("wifi", ("wifi",), sample_wifi)]
