"""The ``smart`` plugin: the SMART attributes of each disk, read with ``smartctl``.

Served as the reference serves pySMART's readings, one entry per disk::

    {"DeviceName": "sda Samsung SSD 860 EVO 500GB",
     "5": {"name": "Reallocated_Sector_Ct", "flags": 51, "raw": "0", "value": "100",
           "worst": 100, "threshold": 10, "type": "Pre-fail", "updated": "Always",
           "when_failed": "-"},
     ...,
     "key": "DeviceName"}

* ``DeviceName`` is the device path without ``/dev/`` and the model (pySMART's
  ``f"{dev.name} {dev.model}"``); a name met twice in a round (disks behind one RAID
  controller, same model) gets its ``-d`` type appended: ``bus/0 ST4000 (megaraid,1)``.
* ATA attributes come from ``ata_smart_attributes.table[]``, keyed by their id as a
  string, with pySMART's types and spellings (it parses smartctl's text table):
  ``value`` is the normalized value as a three-digit string, ``worst`` an int,
  ``threshold`` an int (``None`` when the disk gives none), ``flags`` the flag word as
  an int, ``raw`` smartctl's raw string, ``type`` ``Pre-fail``/``Old_age``, ``updated``
  ``Always``/``Offline`` and ``when_failed`` ``-``, ``FAILING_NOW`` or ``In_the_past``.
* NVMe disks have no attribute table (pySMART gives the reference none): the fields of
  ``nvme_smart_health_information_log`` become pseudo-attributes keyed by their byte
  offset in the NVMe SMART/Health log page (:data:`NVME_FIELDS`), with the count in
  ``raw``; see :func:`nvme_attributes`.
* Other disks (SCSI/SAS) are listed with their name only, as in the reference.

``smartctl --json --scan-open`` lists the disks (one it cannot open is skipped), then
``smartctl --json -n standby -i -A -d <type> <device>`` reads each one, concurrently,
without waking a disk in standby.  smartctl's exit status is a bit mask: bits 0-1 (the
command line did not parse, the device could not be opened or is asleep) skip the disk
this round; the other bits report the disk's condition and its output is used.  Every
command has the ``command_timeout`` option as its timeout and the whole round ends
within :data:`BUDGET_SHARE` of the sampler timeout; a disk not read by then is skipped.

Without ``smartctl`` on ``PATH`` the plugin is ``{}`` (its registry empty value).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from pipeline.plugins import PLUGINS
from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import commands

log = logging.getLogger(__name__)

#: the share of the sampler timeout one round (scan and reads) may take
BUDGET_SHARE = 0.8
#: at most this many disks are read at once
MAX_WORKERS = 8
#: smartctl's exit bits that mean "no data for this device": the command line did not
#: parse (bit 0), the device open failed or it is in a low-power mode (bit 1)
FATAL_BITS = 0b11

#: NVMe SMART/Health log (page 0x02) fields -> (byte offset, pseudo-attribute name)
NVME_FIELDS: dict[str, tuple[int, str]] = {
    "critical_warning": (0, "Critical_Warning"),
    "temperature": (1, "Temperature_Celsius"),
    "available_spare": (3, "Available_Spare"),
    "available_spare_threshold": (4, "Available_Spare_Threshold"),
    "percentage_used": (5, "Percentage_Used"),
    "data_units_read": (32, "Data_Units_Read"),
    "data_units_written": (48, "Data_Units_Written"),
    "host_reads": (64, "Host_Read_Commands"),
    "host_writes": (80, "Host_Write_Commands"),
    "controller_busy_time": (96, "Controller_Busy_Time"),
    "power_cycles": (112, "Power_Cycles"),
    "power_on_hours": (128, "Power_On_Hours"),
    "unsafe_shutdowns": (144, "Unsafe_Shutdowns"),
    "media_errors": (160, "Media_and_Data_Integrity_Errors"),
    "num_err_log_entries": (176, "Error_Information_Log_Entries"),
    "warning_temp_time": (192, "Warning_Comp_Temperature_Time"),
    "critical_comp_time": (196, "Critical_Comp_Temperature_Time"),
}

_WHEN_FAILED = {"": "-", "now": "FAILING_NOW", "past": "In_the_past"}


def run(argv: list[str], timeout: float) -> tuple[int, bytes] | None:
    """``(exit status, stdout)`` of ``argv`` (no shell, ``LC_ALL=C``), or None when it
    could not be started or ran past ``timeout`` seconds (it is then killed, with its
    children).  The ``vms`` sampler runs its commands with it too."""
    try:
        done = commands.run(argv, timeout, env={**os.environ, "LC_ALL": "C"})
    except commands.CommandFailed as exc:
        if exc.timed_out:
            log.warning("%r timed out after %.1f s", argv, timeout)
        else:
            log.debug("%s", exc)
        return None
    return done.returncode, done.stdout


def _json(out: bytes) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(out)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def parse_scan(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``[(device, -d type)]`` from ``smartctl --json --scan-open``, without the devices
    it could not open."""
    out: list[tuple[str, str]] = []
    devices = doc.get("devices")
    for dev in devices if isinstance(devices, list) else ():
        if not isinstance(dev, dict) or dev.get("open_error"):
            continue
        name, kind = dev.get("name"), dev.get("type")
        if isinstance(name, str) and name:
            out.append((name, kind if isinstance(kind, str) and kind else "auto"))
    return out


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def ata_attributes(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{id: attribute}`` from ``ata_smart_attributes.table``, in pySMART's types."""
    table = _dict(doc.get("ata_smart_attributes")).get("table")
    out: dict[str, dict[str, Any]] = {}
    for row in table if isinstance(table, list) else ():
        if not isinstance(row, dict) or _int(row.get("id")) is None:
            continue
        flags, raw = _dict(row.get("flags")), _dict(row.get("raw"))
        value, worst = _int(row.get("value")), _int(row.get("worst"))
        raw_string = raw.get("string")
        out[str(row["id"])] = {
            "name": str(row.get("name", "")),
            "flags": _int(flags.get("value")),
            "raw": raw_string.strip() if isinstance(raw_string, str) else str(raw.get("value")),
            "value": None if value is None else f"{value:03d}",
            "worst": worst,
            "threshold": _int(row.get("thresh")),
            "type": "Pre-fail" if flags.get("prefailure") else "Old_age",
            "updated": "Always" if flags.get("updated_online") else "Offline",
            "when_failed": _WHEN_FAILED.get(str(row.get("when_failed", "")), "-"),
        }
    return out


def nvme_attributes(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Pseudo-attributes from ``nvme_smart_health_information_log``.

    Each known field becomes ``{byte offset: {"name", "raw": str(count), "flags": None,
    "value": None, "worst": None, "threshold": None, "type": None, "updated": "Always",
    "when_failed": "-"}}``, except that ``Available_Spare`` (a normalized percentage)
    also has ``value`` (three digits) and ``threshold`` (``available_spare_threshold``),
    and is ``FAILING_NOW`` below it; ``Critical_Warning`` is ``FAILING_NOW`` when any of
    its bits is set.  A field that is not an integer is skipped."""
    log_page = doc.get("nvme_smart_health_information_log")
    if not isinstance(log_page, dict):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for field, (offset, name) in NVME_FIELDS.items():
        count = _int(log_page.get(field))
        if count is None:
            continue
        attr: dict[str, Any] = {
            "name": name,
            "flags": None,
            "raw": str(count),
            "value": None,
            "worst": None,
            "threshold": None,
            "type": None,
            "updated": "Always",
            "when_failed": "-",
        }
        if field == "critical_warning" and count:
            attr["when_failed"] = "FAILING_NOW"
        elif field == "available_spare":
            threshold = _int(log_page.get("available_spare_threshold"))
            attr["value"] = f"{count:03d}"
            attr["threshold"] = threshold
            if threshold is not None and count < threshold:
                attr["when_failed"] = "FAILING_NOW"
        out[str(offset)] = attr
    return out


def device_entry(device: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The plugin entry of one ``smartctl --json -i -A`` reading (``key`` not set)."""
    model = ""
    for field in ("model_name", "scsi_model_name", "product"):
        if isinstance(doc.get(field), str) and doc[field].strip():
            model = doc[field].strip()
            break
    name = device.removeprefix("/dev/")
    entry: dict[str, Any] = {"DeviceName": f"{name} {model}".strip()}
    entry.update(ata_attributes(doc))
    entry.update(nvme_attributes(doc))
    return entry


def _read_device(
    smartctl: str, device: str, kind: str, deadline: float, command_timeout: float
) -> dict[str, Any] | None:
    timeout = min(command_timeout, deadline - time.monotonic())
    if timeout <= 0:
        log.debug("smart: no time left for %s this round", device)
        return None
    argv = [smartctl, "--json", "-n", "standby", "-i", "-A", "-d", kind, "--", device]
    result = run(argv, timeout)
    if result is None:
        return None
    status, out = result
    if status & FATAL_BITS:
        log.debug("smart: %s skipped (smartctl exit status %d)", device, status)
        return None
    doc = _json(out)
    if doc is None:
        log.debug("smart: %s: smartctl output is not JSON", device)
        return None
    return device_entry(device, doc)


def sample_smart(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    smartctl = shutil.which("smartctl")
    if smartctl is None:
        return {"smart": PLUGINS["smart"].empty()}, None
    command_timeout = float(ctx.config.plugins["smart"].options["command_timeout"])
    deadline = time.monotonic() + BUDGET_SHARE * ctx.config.timeout_of("smart")
    scan_timeout = min(command_timeout, deadline - time.monotonic())
    result = run([smartctl, "--json", "--scan-open"], scan_timeout)
    doc = None
    if result is not None and not result[0] & FATAL_BITS:
        doc = _json(result[1])
    if doc is None:
        log.debug("smart: smartctl --scan-open gave no device list")
        return {"smart": []}, None
    devices = parse_scan(doc)
    if not devices:
        return {"smart": []}, None
    with ThreadPoolExecutor(min(len(devices), MAX_WORKERS), "smartctl") as pool:
        futures = [
            pool.submit(_read_device, smartctl, dev, kind, deadline, command_timeout)
            for dev, kind in devices
        ]
        readings = [f.result() for f in futures]
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for (_, kind), entry in zip(devices, readings, strict=True):
        if entry is None:
            continue
        if entry["DeviceName"] in seen:
            entry["DeviceName"] = f"{entry['DeviceName']} ({kind})"
        seen.add(entry["DeviceName"])
        entry["key"] = "DeviceName"
        entries.append(entry)
    return {"smart": entries}, None


SAMPLERS = [SamplerSpec("smart", ("smart",), sample_smart)]
