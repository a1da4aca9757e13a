"""Route semantics on fixed data, through the Quart test client."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import trio
from quart.typing import TestClientProtocol as Client

from api import ApiHandles, create_app
from pipeline.bus import Bus
from pipeline.config import load
from pipeline.events import StatEvent
from pipeline.stages.state import StateStage

NETWORK = [
    {"interface_name": "eth0", "key": "interface_name", "bytes_recv": 10, "speed": 0},
    {"interface_name": "lo", "key": "interface_name", "bytes_recv": 20, "speed": 0},
]
PROCESSES = [
    {"pid": 1, "key": "pid", "name": "init", "cpu_percent": 2.0},
    {"pid": 42, "key": "pid", "name": "worker", "cpu_percent": 1.0},
    {"pid": 7, "key": "pid", "name": "worker", "cpu_percent": 0.5},
]


def _client(**overrides: Any) -> tuple[Client, StateStage]:
    config = load(overrides=overrides)
    state = StateStage(Bus(), config.enabled_plugins())
    for plugin, data in {
        "cpu": {"total": 12.5, "user": 10.0},
        "network": NETWORK,
        "processlist": PROCESSES,
        "uptime": "1 day, 2:03:04",
        "fs": [{"mnt_point": "/", "key": "mnt_point", "percent": 50.0}],
    }.items():
        state.update(StatEvent(plugin, 1.0, 1, data))
    app = create_app(ApiHandles(config, state, args={"port": 61208}))
    return app.test_client(), state


@pytest.fixture
def client() -> Client:
    return _client()[0]


async def _get(client: Client, path: str, method: str = "GET") -> tuple[int, Any]:
    resp = await client.open(f"/api/4{path}", method=method)
    body = await resp.get_data()
    assert resp.content_type == "application/json", (path, body)
    return resp.status_code, orjson.loads(body) if body else None


async def test_dict_plugin(client: Client) -> None:
    assert await _get(client, "/cpu") == (200, {"total": 12.5, "user": 10.0})
    assert await _get(client, "/cpu/user") == (200, {"user": 10.0})
    status, body = await _get(client, "/cpu/total/value/12.5")
    assert status == 404 and "not a list" in body["detail"]


async def test_list_plugin_field_key_and_value(client: Client) -> None:
    assert await _get(client, "/network/bytes_recv") == (200, {"bytes_recv": [10, 20]})
    assert await _get(client, "/network/bytes_recv/lo") == (200, {"bytes_recv": 20})
    status, body = await _get(client, "/network/bytes_recv/wlan9")
    assert status == 404
    assert body["detail"].startswith("Cannot get item bytes_recv for key wlan9 in plugin network")
    assert await _get(client, "/network/interface_name/value/eth0") == (
        200,
        {"eth0": [NETWORK[0]]},
    )
    # Digit strings match numbers, as in the reference.
    assert await _get(client, "/processlist/pid/value/42") == (200, {"42": [PROCESSES[1]]})
    status, body = await _get(client, "/processlist/name/value/worker")
    assert [p["pid"] for p in body["worker"]] == [42, 7]
    root = {"mnt_point": "/", "key": "mnt_point", "percent": 50.0}
    assert await _get(client, "/fs/mnt_point/value//") == (200, {"/": [root]})


async def test_known_field_of_an_empty_list_plugin(client: Client) -> None:
    # sensors has not reported anything: its documented fields still answer.
    assert await _get(client, "/sensors/label") == (200, {"label": []})
    assert (await _get(client, "/sensors/nosuch"))[0] == 404


async def test_top_semantics(client: Client) -> None:
    assert (await _get(client, "/processlist/top/2"))[1] == PROCESSES[:2]
    assert (await _get(client, "/processlist/top/0"))[1] == PROCESSES
    assert (await _get(client, "/processlist/top/-1"))[1] == PROCESSES[:-1]
    assert (await _get(client, "/cpu/top/1"))[1] == {"total": 12.5, "user": 10.0}
    for bad in ("abc", "1.5", "99999999999999999999999", "%C2%B2", "+-5", "--1", "%E0%A5%A8"):
        status, body = await _get(client, f"/processlist/top/{bad}")
        assert status == 422, bad
        assert body["detail"][0]["type"] == "int_parsing"


async def test_value_plugin(client: Client) -> None:
    assert await _get(client, "/uptime") == (200, "1 day, 2:03:04")
    assert (await _get(client, "/uptime/seconds"))[0] == 404


async def test_all_is_served_from_cached_json(client: Client) -> None:
    client2, state = _client()
    first = state.all_json()
    assert state.all_json() is first  # no re-encoding between samples
    state.update(StatEvent("cpu", 2.0, 2, {"total": 99.0}))
    status, body = await _get(client2, "/all")
    assert body["cpu"] == {"total": 99.0}
    assert body["network"] == NETWORK


async def test_disabled_plugin_is_unknown() -> None:
    client, _ = _client(**{"processlist.disable": True})
    status, body = await _get(client, "/processlist")
    assert status == 400 and "Unknown plugin processlist" in body["detail"]
    status, body = await _get(client, "/pluginslist")
    assert "processlist" not in body
    status, body = await _get(client, "/processes/1")
    assert status == 404


async def test_url_prefix() -> None:
    client, _ = _client(**{"api.url_prefix": "/glances/"})
    resp = await client.get("/glances/api/4/cpu/total")
    assert resp.status_code == 200
    assert (await client.get("/api/4/cpu/total")).status_code == 404


async def test_clear_events_routes_send_commands_to_the_alert_stage(tmp_path: Any) -> None:
    from pipeline.events import ViewsEvent
    from pipeline.stages.alerts import AlertStage
    from pipeline.topics import VIEWS_TOPIC

    config = load(overrides={"alert.min_duration": 0.0})
    bus = Bus()
    state = StateStage(bus, config.enabled_plugins())
    stage = AlertStage(bus, config, tmp_path)
    client = create_app(ApiHandles(config, state, alerts=stage)).test_client()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(state.run)
            await nursery.start(stage.run)
            for t, kind, level in ((0, "MEM", "WARNING"), (0, "LOAD", "CRITICAL")):
                await bus.publish(
                    VIEWS_TOPIC, ViewsEvent("x", 1e9 + t, {}, [[kind, level, 90]], {})
                )
                await bus.publish(VIEWS_TOPIC, ViewsEvent("x", 1e9 + 9, {}, [[kind, "OK", 1]], {}))
            await bus.publish(
                VIEWS_TOPIC, ViewsEvent("x", 1e9 + 10, {}, [["CPU_TOTAL", "WARNING", 80]], {})
            )
            await trio.testing.wait_all_tasks_blocked()
            status, body = await _get(client, "/alert")
            assert status == 200 and [e["type"] for e in body] == ["CPU_TOTAL", "LOAD", "MEM"]
            assert await _get(client, "/events/clear/warning", "POST") == (200, {})
            await trio.testing.wait_all_tasks_blocked()
            assert [e["type"] for e in (await _get(client, "/alert"))[1]] == ["CPU_TOTAL", "LOAD"]
            assert await _get(client, "/events/clear/all", "POST") == (200, {})
            await trio.testing.wait_all_tasks_blocked()
            assert [e["type"] for e in (await _get(client, "/alert"))[1]] == ["CPU_TOTAL"]
            assert (await _get(client, "/events/clear/all"))[0] == 400  # GET: not a route
            nursery.cancel_scope.cancel()
