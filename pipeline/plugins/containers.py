"""Docker and Podman containers (docs/plugins/containers.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.checks import Option, boolean, socket_path
from pipeline.checks import number as check_number
from pipeline.plugins.descriptor import FieldInfo, PluginInfo, decorate, number

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

F = FieldInfo


def containers(j: Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    """``cpu_percent`` against ``containers_<name>_cpu_*``, else ``containers_cpu_*``;
    ``memory_usage`` less ``memory_inactive_file``, as a percent of ``memory_limit``,
    against ``containers_<name>_mem_*``, else ``containers_mem_*``.  No default limits:
    DEFAULT unless configured."""
    name = str(entry.get("name"))
    cpu = entry.get("cpu_percent")
    decoration = j.alert(f"{name}\0cpu", cpu, header=f"{name}_cpu")
    if decoration == "DEFAULT":
        decoration = j.alert(f"{name}\0cpu", cpu, header="cpu")
    decorate(views, "cpu_percent", decoration)
    usage, limit = number(entry.get("memory_usage")), number(entry.get("memory_limit"))
    if usage is None or not limit:
        return
    used = usage - (number(entry.get("memory_inactive_file")) or 0.0)
    decoration = j.alert(f"{name}\0mem", used, maximum=limit, header=f"{name}_mem")
    if decoration == "DEFAULT":
        decoration = j.alert(f"{name}\0mem", used, maximum=limit, header="mem")
    decorate(views, "memory_usage", decoration)


DESCRIPTORS = (
    PluginInfo(
        "containers",
        "list",
        "name",
        fields={
            "name": F("Container name.", ""),
            "id": F("Container ID.", ""),
            "image": F("Container image.", ""),
            "status": F("Container status.", ""),
            "created": F("Container creation date.", ""),
            "command": F("Container command.", ""),
            "cpu_percent": F("Container CPU consumption.", "percent"),
            "memory_inactive_file": F("Container memory inactive file.", "byte"),
            "memory_limit": F("Container memory limit.", "byte"),
            "memory_usage": F("Container memory usage.", "byte"),
            "io_rx": F("Container IO bytes read rate.", "bytepersecond"),
            "io_wx": F("Container IO bytes write rate.", "bytepersecond"),
            "network_rx": F("Container network RX bitrate.", "bitpersecond"),
            "network_tx": F("Container network TX bitrate.", "bitpersecond"),
            "uptime": F("Container uptime.", ""),
            "engine": F("Container engine (Docker and Podman are currently supported).", ""),
            "pod_name": F("Pod name (only with Podman).", ""),
            "pod_id": F("Pod ID (only with Podman).", ""),
        },
        options={
            "all": Option(boolean, False),
            "max_name_size": Option(check_number(1, 1000, integer=True), 20),
            "docker_sock": Option(socket_path, "/var/run/docker.sock"),
            "podman_sock": Option(socket_path, "/run/podman/podman.sock"),
            "engine_timeout": Option(check_number(0.1, 60), 2.0),
        },
        rule=containers,
        sectioned=True,
        limits_always=frozenset({"all", "max_name_size"}),
        history=("cpu_percent",),
    ),
)
