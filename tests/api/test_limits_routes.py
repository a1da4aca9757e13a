"""The limits and views routes, through the Quart test client."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from quart.typing import TestClientProtocol as Client
from quart_trio import QuartTrio

from api import ApiHandles, create_app, errors
from api.limits import limits_blueprint
from pipeline.bus import Bus
from pipeline.config import from_mapping
from pipeline.events import StatEvent
from pipeline.stages.state import StateStage
from pipeline.stages.thresholds import ThresholdStage

ENABLED = ["cpu", "load", "mem", "network", "percpu", "uptime"]
MBIT = 1048576
ETH0 = {
    "interface_name": "eth0",
    "key": "interface_name",
    "alias": None,
    "bytes_recv": 2_000_000,
    "bytes_recv_rate_per_sec": 0.95 * 10 * MBIT / 8,
    "bytes_sent": 0,
    "bytes_sent_rate_per_sec": 0.0,
    "speed": 10 * MBIT,
    "time_since_update": 2.0,
}
SAMPLES: dict[str, Any] = {
    "cpu": {"total": 80.0, "user": 10.0, "cpucore": 4},
    "load": {"min1": 0.1, "min5": 0.1, "min15": 0.1, "cpucore": 4},
    "network": [ETH0, {**ETH0, "interface_name": "lo", "speed": 0}],
    "percpu": [{"cpu_number": 0, "key": "cpu_number", "total": 3.0}],
    "uptime": "1:02:03",
}


def _stage() -> ThresholdStage:
    config = from_mapping({"cpu": {"total_careful": 70, "hysteresis": 3}})
    stage = ThresholdStage(Bus(), config, ENABLED, ncpu=4)
    for plugin, data in SAMPLES.items():  # mem is left without a sample
        assert stage.judge(StatEvent(plugin, 1.0, 1, data)) is not None
    return stage


@pytest.fixture
def client() -> Client:
    app = QuartTrio("test")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.register_blueprint(limits_blueprint(_stage(), ENABLED), url_prefix="/api/4")
    errors.install(app)
    return app.test_client()


async def _get(client: Client, path: str) -> tuple[int, Any]:
    resp = await client.get(f"/api/4{path}")
    body = await resp.get_data()
    assert resp.content_type == "application/json", (path, body)
    return resp.status_code, orjson.loads(body)


async def test_all_limits(client: Client) -> None:
    status, body = await _get(client, "/all/limits")
    assert status == 200
    assert list(body) == ENABLED
    assert body["cpu"]["cpu_total_careful"] == 70.0  # configured
    assert body["cpu"]["cpu_total_warning"] == 75.0  # default
    assert body["cpu"]["cpu_iowait_critical"] == 25.0  # 100 / 4 cores
    assert body["cpu"]["cpu_total_log"] == ["True"]
    assert body["load"]["load_careful"] == 0.7
    assert body["uptime"] == {"history_size": 1200.0}


async def test_plugin_limits(client: Client) -> None:
    status, body = await _get(client, "/cpu/limits")
    assert status == 200
    assert body["cpu_hysteresis"] == 3.0 and body["cpu_disable"] == ["False"]
    assert (await _get(client, "/mem/limits"))[1]["mem_critical"] == 90.0


async def test_all_views(client: Client) -> None:
    status, body = await _get(client, "/all/views")
    assert status == 200
    assert list(body) == ENABLED
    assert body["cpu"]["total"]["decoration"] == "WARNING_LOG"  # 80 >= 75
    assert body["mem"] == {}  # no sample yet
    assert body["uptime"] == {}
    assert body["percpu"]["0"]["total"]["decoration"] == "DEFAULT"


async def test_plugin_views(client: Client) -> None:
    status, body = await _get(client, "/cpu/views")
    assert status == 200
    assert body["total"] == {
        "decoration": "WARNING_LOG",
        "optional": False,
        "additional": False,
        "splittable": False,
        "hidden": False,
    }
    assert body["user"]["decoration"] == "OK"
    status, body = await _get(client, "/network/views")
    assert set(body) == {"eth0", "lo"}


async def test_item_views(client: Client) -> None:
    status, body = await _get(client, "/cpu/total/views")
    assert status == 200 and body["decoration"] == "WARNING_LOG"
    # list plugins: the item is a key value
    status, body = await _get(client, "/network/eth0/views")
    assert status == 200
    assert body["bytes_recv"]["decoration"] == "CRITICAL"  # 95 % of 10 Mbit/s
    assert body["alias"]["optional"] is True
    status, body = await _get(client, "/percpu/0/views")
    assert status == 200 and "total" in body


async def test_item_key_views(client: Client) -> None:
    status, body = await _get(client, "/network/bytes_recv/eth0/views")
    assert status == 200 and body["decoration"] == "CRITICAL"
    status, body = await _get(client, "/network/bytes_sent_rate_per_sec/eth0/views")
    assert status == 200 and body["decoration"] == "OK"
    # dict plugins: views[key][item]
    assert await _get(client, "/cpu/decoration/total/views") == (200, "WARNING_LOG")


@pytest.mark.parametrize(
    "path",
    [
        "/foo/limits",
        "/foo/views",
        "/foo/total/views",
        "/foo/bytes_recv/eth0/views",
        "/processlist/limits",  # disabled here
    ],
)
async def test_unknown_plugin_is_400(client: Client, path: str) -> None:
    status, body = await _get(client, path)
    assert status == 400
    plugin = path.split("/")[1]
    assert body == {"detail": f"Unknown plugin {plugin} (available plugins: {ENABLED!r})"}


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/cpu/foo/views", "Unknown field foo in plugin cpu"),
        ("/mem/percent/views", "Unknown field percent in plugin mem"),  # no sample yet
        ("/uptime/foo/views", "Unknown field foo in plugin uptime"),
        ("/network/wlan9/views", "interface_name wlan9"),
        ("/network/bytes_recv/wlan9/views", "interface_name wlan9"),
        ("/network/foo/eth0/views", "Cannot get item foo for key eth0 in plugin network"),
        ("/cpu/foo/total/views", "Cannot get item foo for key total in plugin cpu"),
    ],
)
async def test_unknown_item_or_key_is_404(client: Client, path: str, detail: str) -> None:
    status, body = await _get(client, path)
    assert status == 404
    assert detail in body["detail"]


async def test_mounted_beside_the_glances_routes() -> None:
    """Mounted next to the Glances blueprint, the fixed segments win over field names."""
    config = from_mapping({})
    state = StateStage(Bus(), ENABLED)
    for plugin, data in SAMPLES.items():
        state.update(StatEvent(plugin, 1.0, 1, data))
    app = create_app(ApiHandles(config, state))
    app.register_blueprint(limits_blueprint(_stage(), ENABLED), url_prefix="/api/4")
    client = app.test_client()
    assert (await _get(client, "/cpu/limits"))[1]["cpu_total_careful"] == 70.0
    assert (await _get(client, "/cpu/views"))[1]["total"]["decoration"] == "WARNING_LOG"
    assert (await _get(client, "/all/limits"))[0] == 200
    assert (await _get(client, "/all/views"))[1]["cpu"]["user"]["decoration"] == "OK"
    assert (await _get(client, "/network/eth0/views"))[1]["speed"]["decoration"] == "DEFAULT"
    assert (await _get(client, "/network/bytes_recv/eth0"))[1] == {"bytes_recv": 2_000_000}
    assert (await _get(client, "/cpu/total"))[1] == {"total": 80.0}
