"""``GET /metrics``: parsed with prometheus_client's own parsers, through the Quart test
client on crafted state and over real sockets against statbus processes."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.samples import Sample
from quart.typing import TestClientProtocol as Client

from api import ApiHandles, create_app
from api.http import HttpRules
from api.metrics import metrics_page
from pipeline.bus import Bus, Policy
from pipeline.config import Config, from_mapping, load
from pipeline.events import StatEvent
from pipeline.runner import SamplerRunner, SamplerSpec
from pipeline.stages.alerts import AlertStage
from pipeline.stages.state import StateStage
from pipeline.stages.thresholds import ThresholdStage
from sinks.mqtt import MqttSink
from sinks.webhooks import WebhookSink
from tests.conftest import LiveStatbus, start_statbus

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

ETH0 = {
    "interface_name": "eth0",
    "key": "interface_name",
    "alias": None,
    "bytes_recv": 1000,
    "bytes_recv_gauge": 5_000_000,
    "bytes_recv_rate_per_sec": 500.0,
    "speed": 1_000_000_000,
    "is_up": True,
    "time_since_update": 2.0,
}
LO = {**ETH0, "interface_name": "lo", "bytes_recv_gauge": 42, "speed": 0, "is_up": False}
#: every plugin with a shape of its own, as docs/plugins*.md show them
SAMPLES: dict[str, Any] = {
    "cpu": {"total": 12.5, "ctx_switches": 40, "ctx_switches_gauge": 9000, "cpucore": 4},
    "load": {"min1": 0.5, "min5": 0.25, "min15": 0.1, "cpucore": 4},
    "mem": {"total": 8_000_000_000, "percent": 2.5},
    "network": [ETH0, LO],
    "fs": [{"mnt_point": "/", "key": "mnt_point", "device_name": "/dev/vda", "percent": 50.0}],
    "percpu": [{"cpu_number": 0, "key": "cpu_number", "total": 3.0, "dpc": None}],
    "sensors": [
        {"label": "Core 0", "type": "temperature_core", "value": 45, "key": "label"},
        {"label": "Core 0", "type": "fan_speed", "value": 1200, "key": "label"},
        {"label": "Core 0", "type": "fan_speed", "value": 999, "key": "label"},  # duplicate
    ],
    "containers": [
        {
            "name": "web",
            "key": "name",
            "engine": "podman",
            "cpu": {"total": 15.0},
            "cpu_percent": 15.0,
            "io": {"cumulative_ior": 4214784, "cumulative_iow": 12288},
            "io_rx": 0,
            "memory": {"limit": 8217317376, "usage": 11},
            "memory_usage": 11689984,
            "image": ["nginx:latest"],
            "status": "running",
        }
    ],
    "ports": [
        {"indice": "port_1", "key": "indice", "host": "127.0.0.1", "port": 80, "status": 0.25},
        {"indice": "port_2", "key": "indice", "host": "10.0.0.9", "port": 22, "status": False},
        {"indice": "port_3", "key": "indice", "host": "10.0.0.8", "port": 0, "status": None},
    ],
    "vms": [
        {
            "name": "win11",
            "key": "name",
            "engine": "virsh",
            "cpu_time": 150.0,
            "cpu_time_gauge": 170364.5,
            "cpu_time_rate_per_sec": 75.0,
            "memory_usage": 8,
        },
    ],
    "raid": {
        "md2": {
            "status": "active",
            "type": "raid5",
            "components": {"sda1": "0"},
            "available": 4,
            "used": 3,
            "config": "UU_U",
        },
        "md127": {"status": "inactive", "type": None, "components": {}, "available": None},
    },
    "smart": [
        {
            "DeviceName": "sda Samsung SSD",
            "key": "DeviceName",
            "5": {
                "name": "Reallocated_Sector_Ct",
                "flags": 51,
                "raw": "0",
                "value": "100",
                "worst": 100,
                "threshold": 10,
                "type": "Pre-fail",
                "when_failed": "-",
            },
            "190": {
                "name": "Airflow_Temperature_Cel",
                "raw": "33 (Min/Max 20/45)",
                "value": "067",
                "worst": 52,
                "threshold": 0,
            },
        },
    ],
    "system": {"os_name": "Linux", "hostname": "box", "platform": "64bit"},
    "processcount": {"total": 87, "running": 1},
    "processlist": [{"pid": 1, "key": "pid", "name": "init", "cpu_percent": 2.0}],
    "uptime": "1 day, 2:03:04",
}
PLUGINS = [*SAMPLES, "alert"]


def _config(**overrides: Any) -> Config:
    enabled = {f"{p}.disable": False for p in PLUGINS}
    return load(overrides={**enabled, **overrides})


def _state(config: Config, samples: dict[str, Any] = SAMPLES) -> StateStage:
    state = StateStage(Bus(), [p for p in config.enabled_plugins() if p in PLUGINS])
    for plugin, data in samples.items():
        state.update(StatEvent(plugin, 1_700_000_000.0, 1, data))
    return state


def _client(config: Config, state: StateStage, **handles: Any) -> Client:
    return create_app(ApiHandles(config, state, **handles)).test_client()


async def _scrape(client: Client, path: str = "/metrics", **headers: str) -> tuple[str, str]:
    resp = await client.get(path, headers=headers)
    body = await resp.get_data()
    assert resp.status_code == 200, body
    return resp.headers["Content-Type"], body.decode()


def _samples(text: str, *, openmetrics: bool = False) -> dict[str, list[Sample]]:
    """Family name -> samples; the parsers reject a malformed page."""
    parse = parse_openmetrics if openmetrics else parse_text
    families: dict[str, list[Sample]] = {}
    for family in parse(text):
        assert family.name not in families, family.name  # one block per family
        families[family.name] = family.samples
    return families


def _types(text: str) -> dict[str, str]:
    return {family.name: family.type for family in parse_text(text)}


def _value(samples: list[Sample], **labels: str) -> float:
    found = [s.value for s in samples if s.labels == labels]
    assert len(found) == 1, (labels, samples)
    return found[0]


# -- the plugins, through the Quart test client ----------------------------------------


async def test_list_plugins_are_gauges_labelled_by_their_key() -> None:
    config = _config()
    content_type, text = await _scrape(_client(config, _state(config)))
    assert content_type == TEXT
    families = _samples(text)
    speed = families["statbus_network_speed"]
    assert _value(speed, interface_name="eth0") == 1e9
    assert _value(speed, interface_name="lo") == 0
    assert _value(families["statbus_fs_percent"], mnt_point="/") == 50.0
    assert _value(families["statbus_percpu_total"], cpu_number="0") == 3.0
    assert "statbus_percpu_dpc" not in families  # null is no sample
    # sensors: one series per label and type; a repeated label set keeps its first item
    sensors = families["statbus_sensors_value"]
    assert _value(sensors, label="Core 0", type="temperature_core") == 45
    assert _value(sensors, label="Core 0", type="fan_speed") == 1200
    assert _value(families["statbus_cpu_total"]) == 12.5
    assert _value(families["statbus_load_min15"]) == 0.1


async def test_gauge_fields_are_counters_and_their_deltas_are_left_out() -> None:
    config = _config()
    _, text = await _scrape(_client(config, _state(config)))
    types, families = _types(text), _samples(text)
    assert types["statbus_network_bytes_recv"] == "counter"
    recv = families["statbus_network_bytes_recv"]
    assert {s.name for s in recv} == {"statbus_network_bytes_recv_total"}
    assert _value(recv, interface_name="eth0") == 5_000_000
    assert _value(recv, interface_name="lo") == 42
    assert types["statbus_network_bytes_recv_rate_per_sec"] == "gauge"
    assert types["statbus_cpu_ctx_switches"] == "counter"
    assert _value(families["statbus_cpu_ctx_switches"]) == 9000  # not the delta (40)
    assert _value(families["statbus_vms_cpu_time"], name="win11", engine="virsh") == 170364.5
    assert "statbus_network_bytes_recv_gauge" not in text


async def test_booleans_nested_dicts_and_the_plugins_left_out() -> None:
    config = _config()
    _, text = await _scrape(_client(config, _state(config)))
    families, types = _samples(text), _types(text)
    is_up = families["statbus_network_is_up"]
    assert (_value(is_up, interface_name="eth0"), _value(is_up, interface_name="lo")) == (1, 0)
    web = {"name": "web", "engine": "podman"}
    assert _value(families["statbus_containers_cpu_total"], **web) == 15.0
    assert _value(families["statbus_containers_memory_limit"], **web) == 8217317376
    # a top-level field wins the name a nested one would make too
    assert _value(families["statbus_containers_memory_usage"], **web) == 11689984
    assert types["statbus_containers_io_cumulative_ior"] == "counter"
    ports = families["statbus_ports_reachable"]
    assert (_value(ports, indice="port_1"), _value(ports, indice="port_2")) == (1, 0)
    assert [s.labels["indice"] for s in families["statbus_ports_status"]] == ["port_1"]
    assert _value(families["statbus_raid_used"], name="md2") == 3
    assert [s.labels["name"] for s in families["statbus_raid_available"]] == ["md2"]
    smart = {"DeviceName": "sda Samsung SSD", "id": "5", "name": "Reallocated_Sector_Ct"}
    assert _value(families["statbus_smart_attribute_raw"], **smart) == 0
    assert _value(families["statbus_smart_attribute_value"], **smart) == 100
    assert len(families["statbus_smart_attribute_raw"]) == 1  # "33 (Min/Max ...)" is text
    system = families["statbus_system_info"]  # an info is a gauge in the text format
    assert system[0].labels == {"os_name": "Linux", "hostname": "box", "platform": "64bit"}
    assert not [n for n in families if n.startswith(("statbus_processlist", "statbus_uptime"))]
    updated = families["statbus_plugin_updated_timestamp_seconds"]
    assert _value(updated, plugin="cpu") == 1_700_000_000.0


async def test_a_vanished_item_is_not_exported_by_the_next_scrape() -> None:
    config = _config()
    state = _state(config)
    client = _client(config, state)
    _, text = await _scrape(client)
    assert len(_samples(text)["statbus_network_speed"]) == 2
    state.update(StatEvent("network", 1_700_000_002.0, 2, [LO]))
    _, text = await _scrape(client)
    families = _samples(text)
    for name in ("statbus_network_speed", "statbus_network_bytes_recv", "statbus_network_is_up"):
        assert [s.labels for s in families[name]] == [{"interface_name": "lo"}], name
    state.update(StatEvent("containers", 1_700_000_002.0, 2, []))
    _, text = await _scrape(client)
    assert "statbus_containers" not in text


async def test_label_values_are_escaped_by_the_library() -> None:
    config = _config()
    odd = '/mnt/we"ird\\dir\nnext é'
    fs = [{"mnt_point": odd, "key": "mnt_point", "percent": 7.0}]
    client = _client(config, _state(config, {**SAMPLES, "fs": fs}))
    for accept, openmetrics in (("", False), ("application/openmetrics-text", True)):
        _, text = await _scrape(client, Accept=accept)
        assert (
            _value(_samples(text, openmetrics=openmetrics)["statbus_fs_percent"], mnt_point=odd)
            == 7.0
        )


# -- formats, caching, auth --------------------------------------------------------------


async def test_openmetrics_when_the_accept_header_asks_for_it() -> None:
    config = _config()
    client = _client(config, _state(config))
    _, text = await _scrape(client)
    content_type, om = await _scrape(client, Accept="application/openmetrics-text")
    assert content_type == OPENMETRICS
    assert om.endswith("# EOF\n") and om.count("# EOF") == 1
    families = _samples(om, openmetrics=True)  # the strict parser: EOF, names, types
    assert _types(text)["statbus_network_bytes_recv"] == "counter"

    def series(families: dict[str, list[Sample]]) -> set[tuple[str, str, float]]:
        return {
            (s.name, repr(sorted(s.labels.items())), s.value) for f in families.values() for s in f
        }

    # the same series: only the info families are named differently (no _info suffix)
    assert series(families) == series(_samples(text))
    assert {"statbus_build", "statbus_system"} <= families.keys()
    # what Prometheus itself sends: OpenMetrics first
    prometheus = (
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"
    )
    content_type, om = await _scrape(client, Accept=prometheus)
    assert content_type == f"{OPENMETRICS}; escaping=underscores"  # as prometheus_client says
    assert series(_samples(om, openmetrics=True)) == series(families)
    # Prometheus 3's text variant: names are plain ASCII, so the same page
    content_type, v1 = await _scrape(client, Accept="text/plain;version=1.0.0;escaping=allow-utf-8")
    assert content_type == "text/plain; version=1.0.0; charset=utf-8; escaping=underscores"
    assert v1 == text
    # an escaping prometheus_client would apply to the samples but not to their metadata
    for escaping in ("values", "dots"):
        accept = f"application/openmetrics-text; version=1.0.0; escaping={escaping}"
        content_type, page = await _scrape(client, Accept=accept)
        assert content_type == f"{OPENMETRICS}; escaping=underscores"
        assert series(_samples(page, openmetrics=True)) == series(families)
    for accept in (
        "application/json",
        "text/html, */*",
        "application/openmetrics-text;version=x.1",
    ):
        assert (await _scrape(client, Accept=accept))[0] == TEXT, accept


async def test_the_plugins_text_is_made_once_per_sample() -> None:
    config = _config()
    state = _state(config)
    bus = Bus()
    page = metrics_page(ApiHandles(config, state, bus=bus))
    first, _ = page.render(None)
    assert page.render(None)[0] == first and page.renders == 1
    page.render("application/openmetrics-text")
    assert page.renders == 2  # one per format
    # the pipeline's part is read each time: a new subscriber shows without a new sample
    with bus.subscribe("stats", name="late", maxsize=4):
        body, _ = page.render(None)
    assert page.renders == 2
    assert 'subscriber="late"' in body.decode()
    state.update(StatEvent("cpu", 1_700_000_002.0, 2, {"total": 99.0}))
    body, _ = page.render(None)
    assert page.renders == 3
    assert _value(_samples(body.decode())["statbus_cpu_total"]) == 99.0


async def test_auth_and_url_prefix() -> None:
    config = _config(**{"api.password": "s3cret", "api.url_prefix": "/glances/"})
    client = _client(config, _state(config))
    resp = await client.get("/glances/metrics")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == "Basic"
    assert resp.content_type == "application/json"
    token = base64.b64encode(b"glances:s3cret").decode()
    content_type, text = await _scrape(client, "/glances/metrics", Authorization=f"Basic {token}")
    assert content_type == TEXT and "statbus_cpu_total 12.5" in text
    assert (
        await client.get("/metrics", headers={"Authorization": f"Basic {token}"})
    ).status_code == 404


async def test_failed_logins_are_counted() -> None:
    config = _config(**{"api.password": "s3cret", "api.max_login_failures": 2})
    rules = HttpRules(config.api)
    client = create_app(ApiHandles(config, _state(config)), rules=rules).test_client()
    wrong = "Basic " + base64.b64encode(b"glances:guess").decode()
    verdicts = [await rules.auth.check(wrong, "10.0.0.9") for _ in range(3)]
    assert [v.status for v in verdicts] == [401, 401, 429]
    token = base64.b64encode(b"glances:s3cret").decode()
    _, text = await _scrape(client, Authorization=f"Basic {token}")
    families, types = _samples(text), _types(text)
    assert _value(families["statbus_api_login_failures"]) == 2
    assert types["statbus_api_login_failures"] == "counter"
    assert _value(families["statbus_api_login_throttled"]) == 1
    assert _value(families["statbus_api_password_checks"]) == 3  # the scrape's own too
    assert _value(families["statbus_api_login_tracked_addresses"]) == 1
    # without a password there is nothing to count
    _, open_text = await _scrape(_client(_config(), _state(_config())))
    assert "statbus_api_login" not in open_text


async def test_a_bad_method_is_a_json_4xx() -> None:
    config = _config()
    client = _client(config, _state(config))
    resp = await client.post("/metrics")
    assert resp.status_code == 405
    assert resp.content_type == "application/json"
    assert (await resp.get_json()) == {"detail": "Method Not Allowed"}
    head = await client.head("/metrics")
    assert head.status_code == 200 and head.headers["Content-Type"] == TEXT


# -- alerts and the pipeline, on crafted state --------------------------------------------


async def test_alert_state_per_type_and_ongoing_events(tmp_path: Path) -> None:
    config = _config()
    alerts = AlertStage(Bus(), config, None)
    events = alerts.events
    events.add("WARNING", "MEM", 75.0, 1000.0, "", [])
    events.add("WARNING", "LOAD", 1.2, 1000.0, "", [])
    events.add("CRITICAL", "LOAD", 5.5, 1002.0, "", [])
    events.add("WARNING", "CPU_TOTAL", 80.0, 900.0, "", [])
    events.add("OK", "CPU_TOTAL", 10.0, 1000.0, "", [])  # finished: kept, state 0
    _, text = await _scrape(_client(config, _state(config), alerts=alerts))
    families = _samples(text)
    state = families["statbus_alert_state"]
    assert {s.labels["type"]: s.value for s in state} == {"MEM": 1, "LOAD": 2, "CPU_TOTAL": 0}
    ongoing = families["statbus_alert_ongoing_events"]
    assert (_value(ongoing, state="WARNING"), _value(ongoing, state="CRITICAL")) == (1, 1)
    assert _value(families["statbus_alert_events"]) == 3
    events.clear(critical=False)  # the finished CPU_TOTAL event leaves the list
    _, text = await _scrape(_client(config, _state(config), alerts=alerts))
    assert {s.labels["type"] for s in _samples(text)["statbus_alert_state"]} == {"MEM", "LOAD"}


def _fake_sample(previous: Any, ctx: Any) -> tuple[dict[str, Any], Any]:
    return {}, None


async def test_pipeline_metrics(tmp_path: Path) -> None:
    config = from_mapping(
        {
            "global": {"data_dir": str(tmp_path)},
            "mqtt": {"enabled": True, "host": "127.0.0.1", "port": 1},
            "webhooks": [{"url": "http://127.0.0.1:1/hook", "name": "chat"}],
            "mem": {"warning": 1.0},
        }
    )
    bus = Bus()
    mem = {"total": 100, "used": 2.5, "percent": 2.5}
    state = _state(config, {"mem": mem})
    thresholds = ThresholdStage(bus, config, ["mem"])
    thresholds.judge(StatEvent("mem", 1.0, 1, mem))
    runner = SamplerRunner(bus, config, [SamplerSpec("memory", ("mem", "memswap"), _fake_sample)])
    status = runner.status["memory"]
    status.runs, status.failures, status.last_duration, status.state = 7, 2, 0.004, "failing"
    status.backoff = 0.4
    mqtt, webhooks = MqttSink(bus, config, hostname="t"), WebhookSink(bus, config)
    webhooks.receivers[0].retried = 3
    sinks = {"mqtt": mqtt.as_dict, "webhooks": webhooks.as_dict}
    handles = {"runner": runner, "bus": bus, "sinks": sinks, "thresholds": thresholds}
    client = _client(config, state, **handles)
    with bus.subscribe("stats", name="slow", policy=Policy.LATEST_WINS, maxsize=1) as slow:
        for seq in range(3):
            await bus.publish("stats", StatEvent("mem", 1.0, seq, {}))
        await slow.receive()
        _, text = await _scrape(client)
    families, types = _samples(text), _types(text)
    memory = {"sampler": "memory"}
    assert _value(families["statbus_sampler_runs"], **memory) == 7
    assert _value(families["statbus_sampler_failures"], **memory) == 2
    assert types["statbus_sampler_failures"] == "counter"
    assert _value(families["statbus_sampler_last_duration_seconds"], **memory) == 0.004
    assert _value(families["statbus_sampler_backoff_seconds"], **memory) == 0.4
    sampler_state = families["statbus_sampler_state"]
    assert _value(sampler_state, sampler="memory", state="failing") == 1
    assert _value(sampler_state, sampler="memory", state="ok") == 0
    slow_labels = {"subscriber": "slow", "topic": "stats", "policy": "latest-wins"}
    assert _value(families["statbus_bus_dropped"], **slow_labels) == 2
    assert _value(families["statbus_bus_delivered"], **slow_labels) == 1
    assert _value(families["statbus_bus_queue_depth"], **slow_labels) == 0
    broker = {"broker": "127.0.0.1:1"}
    assert _value(families["statbus_mqtt_state"], **broker, state="connecting") == 1
    assert _value(families["statbus_mqtt_state"], **broker, state="connected") == 0
    assert _value(families["statbus_mqtt_published"], **broker) == 0
    assert _value(families["statbus_webhook_retried"], receiver="chat") == 3
    assert _value(families["statbus_webhook_sent"], receiver="chat") == 0
    assert types["statbus_webhook_sent"] == "counter"
    level = families["statbus_threshold_level"]
    assert _value(level, plugin="mem", stat="mem") == 2  # WARNING from 1 %
    assert families["statbus_build_info"][0].labels.keys() == {"version"}
    assert _value(families["statbus_bus_published"], topic="stats") == 3


# -- over real sockets, against statbus processes -------------------------------------------


def _metrics_url(live: LiveStatbus) -> str:
    return live.base.removesuffix("/api/4") + "/metrics"


@pytest.fixture(scope="module")
def http(live: LiveStatbus) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.mark.slow
def test_live_metrics_in_both_formats(live: LiveStatbus, http: httpx.Client) -> None:
    resp = http.get(_metrics_url(live))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == TEXT
    families, types = _samples(resp.text), _types(resp.text)
    assert 0 <= _value(families["statbus_cpu_total"]) <= 100
    assert _value(families["statbus_network_bytes_recv"], interface_name="lo") >= 0
    assert types["statbus_network_bytes_recv"] == "counter"
    assert _value(families["statbus_sampler_runs"], sampler="cpu") >= 1
    assert _value(families["statbus_sampler_last_duration_seconds"], sampler="cpu") >= 0
    state_sub = {"subscriber": "state", "topic": "stats", "policy": "latest-wins"}
    assert _value(families["statbus_bus_delivered"], **state_sub) >= 1
    assert not [n for n in families if n.startswith("statbus_processlist")]
    om = http.get(_metrics_url(live), headers={"Accept": "application/openmetrics-text"})
    assert om.headers["content-type"] == OPENMETRICS
    assert "statbus_cpu_total" in _samples(om.text, openmetrics=True)
    packed = http.get(_metrics_url(live), headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert "statbus_cpu_total" in _samples(packed.text)  # httpx inflates it


@pytest.mark.slow
def test_live_metrics_need_credentials_under_the_prefix(live_auth: LiveStatbus) -> None:
    url = _metrics_url(live_auth)
    assert url.endswith("/glances/metrics")
    with httpx.Client(timeout=10.0) as client:
        resp = client.get(url)
        assert resp.status_code == 401
        assert resp.json() == {"detail": "Not authenticated"}
        ok = client.get(url, auth=("admin", "s3cret"))
        assert ok.status_code == 200
        assert "statbus_mem_percent" in _samples(ok.text)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStatbus]:
    """statbus whose memory is always WARNING, with an MQTT broker and a webhook
    receiver that do not answer (a closed loopback port)."""
    port = _closed_port()
    server = start_statbus(
        tmp_path_factory.mktemp("alerting"),
        f"""
[api]
port = 0
[global]
refresh = 1.0
[mem]
warning = 0.01
[mqtt]
enabled = true
host = "127.0.0.1"
port = {port}
[[webhooks]]
name = "chat"
url = "http://127.0.0.1:{port}/hook"
backoff_initial = 0.2
""",
    )
    yield server
    assert server.stop() == 0


@pytest.mark.slow
def test_live_alert_and_sink_metrics(alerting: LiveStatbus) -> None:
    url = _metrics_url(alerting)
    deadline = time.monotonic() + 20
    with httpx.Client(timeout=10.0) as client:
        while True:
            families = _samples(client.get(url).text)
            retried = families.get("statbus_webhook_retried", [])
            if retried and _value(retried, receiver="chat") >= 1:
                break
            assert time.monotonic() < deadline, "no webhook attempt counted"
            time.sleep(0.2)
    assert _value(families["statbus_alert_state"], type="MEM") == 1
    # MEM's, and on a busy machine maybe LOAD's too
    assert _value(families["statbus_alert_ongoing_events"], state="WARNING") >= 1
    assert _value(families["statbus_threshold_level"], plugin="mem", stat="mem") == 2
    assert _value(families["statbus_webhook_sent"], receiver="chat") == 0
    connected = [s for s in families["statbus_mqtt_state"] if s.labels["state"] == "connected"]
    assert [s.value for s in connected] == [0]
    alerts_sub = {"subscriber": "webhooks", "topic": "alerts", "policy": "lossless"}
    assert _value(families["statbus_bus_delivered"], **alerts_sub) >= 1


async def test_stream_clients_are_one_series_whose_counters_never_go_back() -> None:
    """Each stream client has subscribers of its own (``stream#<n>``); the metrics sum
    them into ``subscriber="stream"`` with those that left, so clients that come and go
    add no series and the delivered count never goes backwards."""
    from api.metrics_pipeline import Families, add_bus

    bus = Bus()
    event = StatEvent("cpu", 1.0, 1, {"total": 1.0}).to_msgpack()

    def delivered() -> tuple[float, set[str]]:
        out = Families()
        add_bus(out, bus)
        family = next(f for f in out if f.name == "statbus_bus_delivered")
        return (
            sum(s.value for s in family.samples if s.labels["subscriber"] == "stream"),
            {s.labels["subscriber"] for s in family.samples},
        )

    with bus.subscribe("stats", name="stream#1", policy=Policy.LATEST_WINS, maxsize=4) as one:
        with bus.subscribe("stats", name="stream#2", policy=Policy.LATEST_WINS, maxsize=4) as two:
            await bus.publish_many("stats", [event, event])
            for sub in (one, two):
                for _ in range(2):
                    await sub.receive_raw()
            assert delivered() == (4.0, {"stream"})
        assert delivered() == (4.0, {"stream"})  # #2 left: its count stays in the sum
    assert delivered() == (4.0, {"stream"})
