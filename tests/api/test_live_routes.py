"""Every Glances v4 route over a real socket, against a running statbus process."""

from __future__ import annotations

import gzip

import httpx
import pytest

from pipeline.plugins import PLUGINS
from tests.conftest import LiveStatbus
from tests.polling import sync_until


@pytest.fixture(scope="module")
def http(live: LiveStatbus) -> httpx.Client:
    with httpx.Client(base_url=live.base, timeout=10.0) as client:
        yield client


def _detail(resp: httpx.Response) -> object:
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) == {"detail"}
    return body["detail"]


def test_status_get_and_head(http: httpx.Client) -> None:
    resp = http.get("/status")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert isinstance(resp.json()["version"], str)
    head = http.head("/status")
    assert head.status_code == 200
    assert head.content == b""


#: the plugins a default configuration serves (the reference ships the others disabled)
DEFAULT_ON = sorted(name for name, info in PLUGINS.items() if not info.default_disable)


def test_pluginslist_names_every_enabled_plugin(http: httpx.Client) -> None:
    assert sorted(http.get("/pluginslist").json()) == DEFAULT_ON
    assert {"cloud", "connections", "irq", "raid", "smart", "vms"}.isdisjoint(DEFAULT_ON)


def test_all_has_every_enabled_plugin_in_its_shape(http: httpx.Client) -> None:
    data = http.get("/all").json()
    assert sorted(data) == DEFAULT_ON
    for name in DEFAULT_ON:
        info = PLUGINS[name]
        if info.kind == "none":  # help: null, as the spec shows it
            assert data[name] is None
            continue
        expected = {"list": list, "dict": dict, "value": str}[info.kind]
        assert isinstance(data[name], expected), name


def test_a_plugin_disabled_by_default_answers_like_an_unknown_one(http: httpx.Client) -> None:
    for path in ("/irq", "/connections/limits", "/raid/views", "/vms/top/1"):
        resp = http.get(path)
        assert resp.status_code == 400, path
        assert _detail(resp).startswith("Unknown plugin ")


def test_help_is_null_and_has_a_limits_document(http: httpx.Client) -> None:
    resp = http.get("/help")
    assert resp.status_code == 200
    assert resp.json() is None
    assert http.get("/help/limits").json() == {"history_size": 1200.0}
    assert http.get("/help/nosuch").status_code == 404


def test_plugin_and_field(http: httpx.Client) -> None:
    cpu = http.get("/cpu").json()
    assert 0.0 <= cpu["total"] <= 100.0
    assert http.get("/cpu/total").json().keys() == {"total"}
    names = http.get("/network/interface_name").json()["interface_name"]
    assert "lo" in names
    assert isinstance(http.get("/uptime").json(), str)


def test_unknown_plugin_is_400_with_the_list(http: httpx.Client) -> None:
    resp = http.get("/nosuch")
    assert resp.status_code == 400
    detail = _detail(resp)
    assert isinstance(detail, str)
    assert detail.startswith("Unknown plugin nosuch (available plugins: [")
    assert "'cpu'" in detail
    for path in ("/nosuch/total", "/nosuch/top/3", "/nosuch/a/b", "/nosuch/a/value/b"):
        assert http.get(path).status_code == 400, path


def test_unknown_field_is_404(http: httpx.Client) -> None:
    for path in (
        "/cpu/nosuch",
        "/cpu/nosuch/description",
        "/cpu/nosuch/unit",
        "/network/nosuch",
        "/network/nosuch/lo",
        "/network/nosuch/value/1",
    ):
        resp = http.get(path)
        assert resp.status_code == 404, path
        assert "nosuch" in str(_detail(resp))


def test_item_for_key(http: httpx.Client) -> None:
    resp = http.get("/network/bytes_recv_gauge/lo")
    assert resp.status_code == 200
    assert isinstance(resp.json()["bytes_recv_gauge"], int)
    missing = http.get("/network/bytes_recv_gauge/nosuch0")
    assert missing.status_code == 404
    assert "nosuch0" in str(_detail(missing))
    assert http.get("/cpu/total/whatever").status_code == 404


def test_value_lookup(http: httpx.Client) -> None:
    resp = http.get("/network/interface_name/value/lo")
    assert resp.status_code == 200
    entries = resp.json()["lo"]
    assert len(entries) == 1 and entries[0]["interface_name"] == "lo"
    assert http.get("/network/interface_name/value/nosuch0").json() == {"nosuch0": []}
    mounts = http.get("/fs/mnt_point").json()["mnt_point"]
    if mounts:
        mnt = mounts[0]
        found = http.get(f"/fs/mnt_point/value/{mnt}").json()
        assert found[mnt][0]["mnt_point"] == mnt
    pid = http.get("/processlist/top/1").json()[0]["pid"]
    by_pid = http.get(f"/processlist/pid/value/{pid}").json()[str(pid)]
    assert by_pid[0]["pid"] == pid


def test_top(http: httpx.Client) -> None:
    top = http.get("/processlist/top/3").json()
    assert isinstance(top, list) and len(top) == 3
    assert len(http.get("/processlist/top/0").json()) >= 3
    assert isinstance(http.get("/cpu/top/2").json(), dict)
    resp = http.get("/processlist/top/abc")
    assert resp.status_code == 422
    detail = _detail(resp)
    assert isinstance(detail, list) and detail[0]["loc"] == ["path", "nb"]


def test_description_and_unit(http: httpx.Client) -> None:
    assert http.get("/diskio/read_bytes/description").json().startswith("Number of bytes read")
    assert http.get("/diskio/read_bytes/unit").json() == "byte"
    assert http.get("/cpu/total/unit").json() == "percent"
    assert http.get("/network/interface_name/unit").json() is None


def test_process_by_pid(http: httpx.Client, live: LiveStatbus) -> None:
    pid = live.proc.pid
    resp = http.get(f"/processes/{pid}")
    assert resp.status_code == 200
    assert resp.json()["pid"] == pid
    assert http.get("/processes/abc").status_code == 422
    resp = http.get("/processes/999999999")
    assert resp.status_code == 404
    assert _detail(resp) == "Unknown PID process 999999999"


def test_extended_process_stats(http: httpx.Client, live: LiveStatbus) -> None:
    pid = live.proc.pid
    assert http.post("/processes/extended/abc").status_code == 422
    assert http.post("/processes/extended/999999999").status_code == 404
    assert http.post(f"/processes/extended/{pid}").json() is True
    extended: dict[str, object] = sync_until(lambda: http.get("/processes/extended").json())
    assert extended["pid"] == pid
    assert extended["extended_stats"] is True
    assert "num_fds" in extended and "num_ctx_switches" in extended
    assert http.post("/processes/extended/disable").json() is True
    assert http.get("/processes/extended").json() == {}


def test_config_and_args(http: httpx.Client, live: LiveStatbus) -> None:
    config = http.get("/config").json()
    assert config["api"]["port"] == 0
    assert config["global"]["refresh"] == 1.0
    assert http.get("/config/api").json()["bind"] == "127.0.0.1"
    assert http.get("/config/api/bind").json() == "127.0.0.1"
    resp = http.get("/config/nosuch")
    assert resp.status_code == 400 and _detail(resp) == "Unknown configuration item nosuch"
    resp = http.get("/config/api/nosuch")
    assert resp.status_code == 404 and "nosuch" in str(_detail(resp))
    args = http.get("/args").json()
    assert args["refresh"] == 1.0
    # without authentication the reference hides the config file and the user name
    assert args["config"] == "********" and args["username"] == "********"
    assert http.get("/args/bind").json() == "127.0.0.1"
    resp = http.get("/args/nosuch")
    assert resp.status_code == 400 and _detail(resp) == "Unknown argument item nosuch"


def test_errors_are_json(http: httpx.Client, live: LiveStatbus) -> None:
    resp = http.post("/cpu")
    assert resp.status_code == 405
    _detail(resp)
    root = live.base.rsplit("/api/4", 1)[0]
    for url in (f"{root}/api/4", f"{root}/api/3/cpu", f"{root}/nothing/here"):
        resp = http.get(url)
        assert resp.status_code == 404, url
        _detail(resp)


def test_gzip_for_large_bodies_only(http: httpx.Client, live: LiveStatbus) -> None:
    raw = http.get("/all", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert isinstance(raw.json(), dict)  # httpx decodes it
    small = http.get("/status", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
    plain = http.get("/all", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    with httpx.stream("GET", f"{live.base}/all", headers={"Accept-Encoding": "gzip"}) as s:
        body = b"".join(s.iter_raw())
    assert gzip.decompress(body).startswith(b"{")


def test_plain_options_lists_the_methods(http: httpx.Client) -> None:
    resp = http.options("/cpu")
    assert resp.status_code == 204 and resp.content == b""
    assert set(resp.headers["allow"].split(", ")) >= {"GET", "HEAD", "OPTIONS"}
    assert "POST" in http.options("/processes/extended/disable").headers["allow"]
    assert http.options("/nothing/here/at/all/x").status_code == 404


def test_cors(http: httpx.Client) -> None:
    resp = http.get("/cpu", headers={"Origin": "http://example.test"})
    assert resp.headers["access-control-allow-origin"] == "*"
    assert "Origin" in resp.headers["vary"]
    pre = http.options(
        "/cpu",
        headers={"Origin": "http://example.test", "Access-Control-Request-Method": "GET"},
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-max-age"] == "600"
    assert "GET" in pre.headers["access-control-allow-methods"]


def test_auth_and_prefix(live_auth: LiveStatbus) -> None:
    assert live_auth.base.endswith("/glances/api/4")
    with httpx.Client(base_url=live_auth.base, timeout=10.0) as client:
        assert client.get("/status").status_code == 200
        assert client.head("/status").status_code == 200
        resp = client.get("/cpu")
        assert resp.status_code == 401
        assert resp.json() == {"detail": "Not authenticated"}
        assert resp.headers["www-authenticate"] == "Basic"
        for auth in (("admin", "wrong"), ("wrong", "s3cret")):
            resp = client.get("/cpu", auth=auth)
            assert resp.status_code == 401
            assert resp.json() == {"detail": "Incorrect authentication"}
        bad = client.get("/cpu", headers={"Authorization": "Basic !!notbase64"})
        assert bad.status_code == 401
        # Only the status route is open: not a path that merely ends like it.
        sneaky = client.get("/fs/mnt_point/value//api/4/status")
        assert sneaky.status_code == 401
        assert client.get("/status/").status_code == 200
        ok = client.get("/all", auth=("admin", "s3cret"))
        assert ok.status_code == 200 and "cpu" in ok.json()
        config = client.get("/config", auth=("admin", "s3cret")).json()
        assert config["api"]["password"] == "********"
        args = client.get("/args", auth=("admin", "s3cret")).json()
        assert args["password"] == "********"
    root = live_auth.base.rsplit("/glances/api/4", 1)[0]
    assert httpx.get(f"{root}/api/4/status").status_code == 404


def test_limits_and_views(http: httpx.Client) -> None:
    limits = http.get("/all/limits").json()
    assert limits["cpu"]["cpu_total_careful"] == 65.0
    assert limits["mem"]["mem_critical"] == 90.0
    assert limits["alert"] == {"alert_disable": ["False"], "history_size": 1200.0}
    assert http.get("/load/limits").json() == limits["load"]
    views = http.get("/all/views").json()
    assert views["mem"]["percent"]["decoration"].rstrip("_LOG") in {
        "OK", "CAREFUL", "WARNING", "CRITICAL"
    }  # fmt: skip
    assert set(views["mem"]["percent"]) == {
        "decoration", "optional", "additional", "splittable", "hidden"
    }  # fmt: skip
    assert set(http.get("/mem/views").json()) == set(views["mem"])
    lo = http.get("/network/lo/views").json()
    assert "bytes_recv" in lo
    one = http.get("/network/bytes_recv/lo/views").json()
    assert set(one) == {"decoration", "optional", "additional", "splittable", "hidden"}
    assert http.get("/mem/percent/views").json()["decoration"]
    assert http.get("/nosuch/limits").status_code == 400
    assert http.get("/network/nosuch0/views").status_code == 404


def test_alert_plugin_and_clear_routes(http: httpx.Client) -> None:
    assert isinstance(http.get("/alert").json(), list)
    assert "alert" in http.get("/pluginslist").json()
    assert http.post("/events/clear/warning").json() == {}
    assert http.post("/events/clear/all").json() == {}


def test_history(http: httpx.Client) -> None:

    def three_points() -> dict[str, list[list[object]]] | None:
        cpu: dict[str, list[list[object]]] = http.get("/cpu/history").json()
        return cpu if len(cpu.get("user", [])) >= 3 else None

    cpu = sync_until(three_points)
    assert set(cpu) == {"user", "system"}
    assert len(cpu["user"]) >= 3
    ts, value = cpu["user"][-1]
    assert isinstance(ts, str) and ts.endswith("+00:00") and "." in ts
    assert isinstance(value, float)
    assert len(http.get("/cpu/history/2").json()["user"]) == 2
    series = http.get("/network/lo_bytes_recv_rate_per_sec/history/1").json()
    assert isinstance(series, list) and len(series) == 1
    assert http.get("/uptime/history").json() == {}
    assert http.get("/cpu/nosuch/history").status_code == 404
    assert http.get("/cpu/history/abc").status_code == 422


def test_pipeline_introspection(http: httpx.Client) -> None:
    body = http.get("/pipeline").json()
    assert body["uptime"] > 0 and isinstance(body["version"], str)
    cpu = body["samplers"]["cpu"]
    assert cpu["state"] == "ok" and cpu["runs"] >= 1 and cpu["failures"] == 0
    assert cpu["plugins"] == ["cpu", "percpu"] and cpu["last_duration"] >= 0
    names = {s["name"] for s in body["subscribers"]}
    assert {"state", "thresholds", "history", "alerts"} <= names
    assert all(s["dropped"] >= 0 and s["depth"] >= 0 for s in body["subscribers"])
    assert body["sinks"] == {}  # MQTT is off in this instance
