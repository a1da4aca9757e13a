"""The history routes, through the Quart test client."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from quart.typing import TestClientProtocol as Client
from quart_trio import QuartTrio

from api import ApiHandles, create_app, errors
from api.history import history_blueprint
from pipeline.bus import Bus
from pipeline.config import load
from pipeline.events import StatEvent
from pipeline.stages.history import HistoryStage
from pipeline.stages.state import StateStage

ENABLED = ["cpu", "fs", "network", "processcount", "system"]
T0 = 1_795_792_581.0
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def _stage(tmp_path: Path) -> HistoryStage:
    config = load(overrides={"global.data_dir": str(tmp_path), "global.history_persist": False})
    stage = HistoryStage(Bus(), config, ENABLED)
    for i in range(1, 4):
        stage.add(StatEvent("cpu", T0 + i, i, {"user": float(i), "system": i / 10}))
        stage.add(
            StatEvent(
                "network",
                T0 + i,
                i,
                [{"interface_name": "eth0", "key": "interface_name", "bytes_sent_rate_per_sec": i}],
            )
        )
    stage.add(StatEvent("fs", T0, 1, [{"mnt_point": "/", "key": "mnt_point", "percent": 42.0}]))
    return stage


@pytest.fixture
def client(tmp_path: Path) -> Client:
    app = QuartTrio(__name__)
    app.register_blueprint(history_blueprint(_stage(tmp_path), ENABLED), url_prefix="/api/4")
    errors.install(app)
    return app.test_client()


async def _get(client: Client, path: str) -> tuple[int, Any]:
    resp = await client.get(f"/api/4{path}")
    body = await resp.get_data()
    assert resp.content_type == "application/json", (path, body)
    return resp.status_code, orjson.loads(body)


def _values(points: list[list[Any]]) -> list[Any]:
    return [v for _, v in points]


async def test_plugin_history(client: Client) -> None:
    status, body = await _get(client, "/cpu/history")
    assert status == 200
    assert {k: _values(v) for k, v in body.items()} == {
        "user": [1.0, 2.0, 3.0],
        "system": [0.1, 0.2, 0.3],
    }
    assert body["user"][0] == ["2026-11-27T15:16:22.000000+00:00", 1.0]
    assert all(ISO.match(ts) for series in body.values() for ts, _ in series)
    assert (await _get(client, "/fs/history")) == (
        200,
        {"/_percent": [["2026-11-27T15:16:21.000000+00:00", 42.0]]},
    )


@pytest.mark.parametrize(
    ("nb", "expected"),
    [("0", [1.0, 2.0, 3.0]), ("2", [2.0, 3.0]), ("-1", [2.0, 3.0]), ("-3", []), ("+1", [3.0])],
)
async def test_nb(client: Client, nb: str, expected: list[float]) -> None:
    status, body = await _get(client, f"/cpu/history/{nb}")
    assert status == 200 and _values(body["user"]) == expected
    status, body = await _get(client, f"/cpu/user/history/{nb}")
    assert status == 200 and _values(body) == expected


async def test_item_history_is_a_bare_list(client: Client) -> None:
    status, body = await _get(client, "/cpu/system/history")
    assert status == 200
    assert body == [
        ["2026-11-27T15:16:22.000000+00:00", 0.1],
        ["2026-11-27T15:16:23.000000+00:00", 0.2],
        ["2026-11-27T15:16:24.000000+00:00", 0.3],
    ]
    status, body = await _get(client, "/network/eth0_bytes_sent_rate_per_sec/history/1")
    assert (status, body) == (200, [["2026-11-27T15:16:24.000000+00:00", 3]])


async def test_plugins_without_history_answer_empty(client: Client) -> None:
    assert await _get(client, "/system/history") == (200, {})
    assert await _get(client, "/processcount/history/3") == (200, {})  # none sampled yet


async def test_errors(client: Client) -> None:
    status, body = await _get(client, "/foo/history")
    assert status == 400
    assert body == {"detail": f"Unknown plugin foo (available plugins: {ENABLED!r})"}
    assert (await _get(client, "/load/min1/history"))[0] == 400  # not enabled here
    assert (await _get(client, "/foo/user/history/2"))[0] == 400
    status, body = await _get(client, "/cpu/idle/history")
    assert status == 404 and "idle" in body["detail"]
    assert (await _get(client, "/system/hostname/history/1"))[0] == 404
    for path in ("/cpu/history/abc", "/cpu/user/history/1.5"):
        status, body = await _get(client, path)
        assert status == 422
        assert body["detail"][0]["type"] == "int_parsing"
        assert body["detail"][0]["loc"] == ["path", "nb"]


async def test_history_routes_win_over_the_field_routes(tmp_path: Path) -> None:
    """Mounted beside the Glances blueprint, ``/cpu/history`` is not field ``history``."""
    config = load(overrides={"global.data_dir": str(tmp_path)})
    state = StateStage(Bus(), ENABLED)
    state.update(StatEvent("cpu", T0, 1, {"user": 1.0, "system": 0.5}))
    app = create_app(ApiHandles(config, state))
    app.register_blueprint(history_blueprint(_stage(tmp_path), ENABLED), url_prefix="/api/4")
    client = app.test_client()
    status, body = await _get(client, "/cpu/history/1")
    assert status == 200 and _values(body["user"]) == [3.0]
    status, body = await _get(client, "/cpu/user/history")
    assert status == 200 and _values(body) == [1.0, 2.0, 3.0]
    assert await _get(client, "/cpu/user") == (200, {"user": 1.0})  # the Glances route
