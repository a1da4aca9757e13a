"""The disk family: ``diskio`` (per-disk I/O) and ``fs`` (mounted file systems)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.checks import Option, boolean, string_list
from pipeline.checks import number as check_number
from pipeline.plugins.descriptor import FieldInfo, PluginInfo, cwc, decorate, fixed, rate_per_sec

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

F = FieldInfo


def _fs(j: Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    if "ro" in str(entry.get("options", "")).split(","):
        return
    size, free, mnt = entry.get("size"), entry.get("free"), str(entry.get("mnt_point"))
    if isinstance(size, int | float) and isinstance(free, int | float):
        decorate(views, "used", j.alert(f"{mnt}\0used", size - free, maximum=size, header=mnt))


def _diskio(j: Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    disk = str(entry.get("disk_name"))
    if entry.get("time_since_update"):
        for way, field in (("rx", "read_bytes"), ("tx", "write_bytes")):
            rate = rate_per_sec(entry, field)
            if rate is not None:
                decoration = j.alert(f"{disk}\0{way}", int(rate), header=f"{disk}_{way}")
                decorate(views, field, decoration)
                decorate(views, f"{field}_rate_per_sec", decoration)
    for way, field in (("rx", "read_latency"), ("tx", "write_latency")):
        if field in entry:
            site = f"{disk}\0{field}"
            decorate(views, field, j.alert(site, entry[field], header=f"{way}_latency"))


DESCRIPTORS = (
    PluginInfo(
        "diskio",
        "list",
        "disk_name",
        fields={
            "disk_name": F("Disk name.", ""),
            "read_count": F("Number of reads.", "number", rate=True),
            "read_count_rate_per_sec": F("Number of reads per second.", "number per second"),
            "read_count_gauge": F("Number of reads (cumulative).", "number"),
            "write_count": F("Number of writes.", "number", rate=True),
            "write_count_rate_per_sec": F("Number of writes per second.", "number per second"),
            "write_count_gauge": F("Number of writes (cumulative).", "number"),
            "read_bytes": F("Number of bytes read.", "byte", rate=True),
            "read_bytes_rate_per_sec": F("Number of bytes read per second.", "byte per second"),
            "read_bytes_gauge": F("Number of bytes read (cumulative).", "byte"),
            "write_bytes": F("Number of bytes written.", "byte", rate=True),
            "write_bytes_rate_per_sec": F("Number of bytes written per second.", "byte per second"),
            "write_bytes_gauge": F("Number of bytes written (cumulative).", "byte"),
            "time_since_update": F("Number of seconds since last update.", "seconds"),
            "read_time": F("Time spent reading from the disk.", "millisecond", rate=True),
            "read_time_rate_per_sec": F(
                "Time spent reading from the disk per second.", "millisecond per second"
            ),
            "read_time_gauge": F("Time spent reading from the disk (cumulative).", "millisecond"),
            "write_time": F("Time spent writing to the disk.", "millisecond", rate=True),
            "write_time_rate_per_sec": F(
                "Time spent writing to the disk per second.", "millisecond per second"
            ),
            "write_time_gauge": F("Time spent writing to the disk (cumulative).", "millisecond"),
            "read_latency": F(
                "Mean time per read operation during the last interval.", "millisecond"
            ),
            "write_latency": F(
                "Mean time per write operation during the last interval.", "millisecond"
            ),
        },
        options={
            "hide_zero": Option(boolean, False),
            "hide_threshold_bytes": Option(check_number(0, 1e15, integer=True), 0),
        },
        limits=fixed(
            {
                **cwc("diskio_rx_latency", 10, 20, 50),
                **cwc("diskio_tx_latency", 10, 20, 50),
            }
        ),
        rule=_diskio,
        hide_zero_fields=("read_bytes_rate_per_sec", "write_bytes_rate_per_sec"),
        sectioned=True,
        limits_always=frozenset({"hide_zero"}),
        history=("read_bytes_rate_per_sec", "write_bytes_rate_per_sec"),
        alias_field="alias",
    ),
    PluginInfo(
        "fs",
        "list",
        "mnt_point",
        refresh=60.0,
        fields={
            "device_name": F("Device name.", ""),
            "fs_type": F("File system type.", ""),
            "mnt_point": F("Mount point.", ""),
            "options": F("Mount options.", ""),
            "size": F("Total size.", "byte"),
            "used": F("Used size.", "byte"),
            "free": F("Free size.", "byte"),
            "percent": F("File system usage in percent.", "percent"),
        },
        options={"allow": Option(string_list, ())},
        limits=fixed(cwc("fs", 50, 70, 90)),
        rule=_fs,
        sectioned=True,
        history=("percent",),
        alias_field="alias",
        also_matched=("device_name",),
    ),
)
