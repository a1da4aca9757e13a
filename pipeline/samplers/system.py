"""The simple plugins: ``system``, ``uptime``, ``now``, ``version`` and ``psutilversion``.

* ``system``: ``os_name``, ``hostname``, ``platform`` ("64bit"), ``os_version`` (the
  kernel release), ``linux_distro`` (os-release ``NAME`` and ``VERSION_ID``, e.g.
  "Debian GNU/Linux 12") and ``hr_name`` ("Debian GNU/Linux 12 64bit / Linux 6.1.0").
* ``uptime``: ``str(timedelta)`` of whole seconds, e.g. "3 days, 10:25:20".
* ``now``: ``iso`` (local time with its UTC offset, no microseconds) and ``custom``
  (``global.strftime_format``).
* ``version``: statbus' version; ``psutilversion``: psutil's.

They are three families so that each keeps its plugins' refresh: ``system`` (60 s),
``clock`` (uptime and now, the global refresh) and ``versions`` (3600 s).
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import socket
import struct
import time
from typing import Any

import psutil

import pipeline
from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import procfs

log = logging.getLogger(__name__)


def linux_distro() -> str:
    """``"<NAME> <VERSION_ID>"`` from os-release, or ``""`` when there is none."""
    try:
        release = platform.freedesktop_os_release()
    except OSError as exc:
        log.debug("no os-release: %s", exc)
        return ""
    return " ".join(v for v in (release.get("NAME", ""), release.get("VERSION_ID", "")) if v)


def sample_system(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    os_name = platform.system()
    os_version = platform.release()
    # what platform.architecture()[0] says, without the `file` command it runs each time
    bits = f"{struct.calcsize('P') * 8}bit"
    system: dict[str, Any] = {
        "os_name": os_name,
        "hostname": platform.node() or socket.gethostname(),
        "platform": bits,
        "os_version": os_version,
    }
    if os_name == "Linux":
        distro = linux_distro()
        system["linux_distro"] = distro
        system["hr_name"] = f"{distro} {bits} / {os_name} {os_version}".strip()
    else:
        system["hr_name"] = f"{os_name} {os_version} {bits}"
    return {"system": system}, None


def uptime_text(seconds: float) -> str:
    """Glances' uptime string: ``str(timedelta)`` of whole seconds."""
    return str(dt.timedelta(seconds=int(max(0.0, seconds))))


def sample_clock(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    data: dict[str, Any] = {}
    if "uptime" in ctx.enabled:
        data["uptime"] = uptime_text(time.time() - procfs.boot_time())
    if "now" in ctx.enabled:
        local = dt.datetime.now().astimezone().replace(microsecond=0)
        data["now"] = {
            "iso": local.isoformat(),
            "custom": local.strftime(ctx.config.global_.strftime_format),
        }
    return data, None


def sample_versions(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    versions = {"version": pipeline.__version__, "psutilversion": psutil.__version__}
    return {k: v for k, v in versions.items() if k in ctx.enabled}, None


SAMPLERS: list[SamplerSpec] = [
    SamplerSpec("system", ("system",), sample_system),
    SamplerSpec("clock", ("uptime", "now"), sample_clock),
    SamplerSpec("versions", ("version", "psutilversion"), sample_versions),
]
