"""What the Home Assistant Glances integration does with ``/api/4/all``, replayed.

The transforms follow HA core's ``glances`` coordinator and ``glances_api``'s
``get_ha_sensor_data`` (reference/ecosystem.md §2): required keys are indexed with
``[]``, so a missing field is a ``KeyError`` (an HA crash), and diskio divides by
``time_since_update``.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import LiveStatbus


def ha_sensor_data(data: dict[str, Any]) -> dict[str, Any]:
    sensors: dict[str, Any] = {}
    sensors["fs"] = {
        d["mnt_point"]: {
            "disk_use": round(d["used"] / 1024**3, 1),
            "disk_size": round(d["size"] / 1024**3, 1),
            "disk_free": round(d.get("free", d["size"] - d["used"]) / 1024**3, 1),
            "disk_use_percent": d["percent"],
        }
        for d in data["fs"]
    }
    sensors["sensors"] = {s["label"]: {s["type"]: s["value"]} for s in data["sensors"]}
    mem = data["mem"]
    sensors["mem"] = {
        "memory_use_percent": mem["percent"],
        "memory_use": round(mem["used"] / 1024**2, 1),
        "memory_free": round(mem["free"] / 1024**2, 1),
    }
    swap = data["memswap"]
    sensors["memswap"] = {
        "swap_use_percent": swap["percent"],
        "swap_use": round(swap["used"] / 1024**3, 1),
        "swap_free": round(swap["free"] / 1024**3, 1),
    }
    sensors["load"] = {"processor_load": data["load"].get("min15")}
    pc = data["processcount"]
    sensors["processcount"] = {
        "process_running": pc["running"],
        "process_total": pc["total"],
        "process_thread": pc["thread"],
        "process_sleeping": pc["sleeping"],
    }
    sensors["cpu"] = {"cpu_use_percent": data["quicklook"]["cpu"]}
    sensors["percpu"] = {c["cpu_number"]: {"cpu_use_percent": c["total"]} for c in data["percpu"]}
    sensors["network"] = {
        n["interface_name"]: {
            "is_up": n.get("is_up"),
            "rx": n.get("bytes_recv_rate_per_sec"),
            "tx": n.get("bytes_sent_rate_per_sec"),
            "speed": round(n["speed"] / 1024**3, 1),
        }
        for n in data["network"]
    }
    sensors["diskio"] = {
        d["disk_name"]: {
            "read": round(d["read_bytes"] / d["time_since_update"]),
            "write": round(d["write_bytes"] / d["time_since_update"]),
        }
        for d in data["diskio"]
    }
    sensors["uptime"] = data["uptime"]
    return sensors


def test_home_assistant_reads_everything_it_needs(live: LiveStatbus) -> None:
    resp = httpx.get(f"{live.base}/all", timeout=10)
    assert resp.status_code == 200
    sensors = ha_sensor_data(resp.json())
    assert sensors["fs"], "no file system reported"
    assert 0 <= sensors["cpu"]["cpu_use_percent"] <= 100
    assert sensors["mem"]["memory_use"] > 0
    assert sensors["processcount"]["process_total"] > 0
    assert sensors["percpu"]
    assert "lo" in sensors["network"]
    for nic in sensors["network"].values():
        # HA marks an entity unavailable when the value is None or not numeric
        assert isinstance(nic["rx"], float) and isinstance(nic["tx"], float)
        assert isinstance(nic["is_up"], bool)
    for disk in sensors["diskio"].values():
        assert disk["read"] >= 0 and disk["write"] >= 0
    assert isinstance(sensors["uptime"], str) and ":" in sensors["uptime"]


def test_home_assistant_basic_auth(live_auth: LiveStatbus) -> None:
    """HA sends Basic credentials only when a password is configured; 401 starts reauth."""
    assert httpx.get(f"{live_auth.base}/all", timeout=10).status_code == 401
    ok = httpx.get(f"{live_auth.base}/all", auth=("admin", "s3cret"), timeout=10)
    assert ok.status_code == 200
    assert ha_sensor_data(ok.json())["mem"]["memory_use_percent"] >= 0
