"""The ``containers`` sampler against a fake Docker/Podman Engine API on unix sockets in
``tmp_path`` (:mod:`tests.fakes.engine_api`), serving copies of real bodies: a cgroup v2
Docker host (two successive one-shot stats per container), a cgroup v1 stats body, and a
rootful Podman 4.9 with a pod.  Faults: HTTP 500, a stall past the budget, an absent
socket path, a socket that refuses connections."""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import from_mapping
from pipeline.plugins import PLUGINS
from pipeline.samplers.containers import (
    GRACE,
    ContainersState,
    Reading,
    cpu_percent,
    online_cpus,
    pretty_date,
    sample_containers,
)
from tests.fakes.engine_api import FakeEngine
from tests.pipeline.sampler_helpers import context

FIXTURES = Path(__file__).parent / "fixtures" / "containers"
LOGGER = "pipeline.samplers.containers"

TS = "454a8c7f059271f0e7fbb757375014115db3b6e0df2c039e66bb2647f717f67e"
NG = "b7e2d4a9c1f03e58d6a4b2c9e7f1a3d5c8b6e4f2a0d9c7b5e3f1a8d6c4b2e0f9"
BK = "e19c3b7d5f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e2b4d6f8a1c3e5b7d9f0a2c4e"
WEB = "7d3f9b1e5a2c4d6f8e0a1b3c5d7e9f2a4b6c8d0e1f3a5b7c9d2e4f6a8b0c1d3e"
INFRA = "2c4e6a8b0d1f3a5c7e9b1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b6d8f1a3c"
MIG = "f0e1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091"
POD = "c0ffee5a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6"

#: the spec's example entry (glances-api-v4.rst, GET containers), whose container the
#: docker fixtures reproduce; only ``uptime`` depends on today's date
SPEC_EXAMPLE: dict[str, Any] = {
    "command": "/docker-entrypoint.sh postgres",
    "cpu": {"total": 0.0},
    "cpu_percent": 0.0,
    "created": "2025-06-22T15:43:18.364042094Z",
    "engine": "docker",
    "id": TS,
    "image": ["timescale/timescaledb-ha:pg17"],
    "io": {"cumulative_ior": 186105856, "cumulative_iow": 0},
    "io_rx": None,
    "io_wx": None,
    "key": "name",
    "memory": {"inactive_file": 5582848, "limit": 16421875712, "usage": 80068608},
    "memory_inactive_file": 5582848,
    "memory_limit": 16421875712,
    "memory_percent": None,
    "memory_usage": 80068608,
    "name": "timescaledb-for-glances",
    "network": {"cumulative_rx": 1248685, "cumulative_tx": 208619},
    "network_rx": None,
    "network_tx": None,
    "status": "running",
    "uptime": "2 weeks",
}
UPTIME = re.compile(
    r"just now|\d+ secs|a min|\d+ mins|an hour|\d+ hours|yesterday|\d+ (days|weeks|months|years)"
)


def body(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def docker_engine(path: Path, **kw: Any) -> FakeEngine:
    names = ("timescaledb", "nginx", "backup-job")
    inspect = [body(f"docker-inspect-{n}") for n in names]
    images = [body(f"docker-image-{n}") for n in names]
    stats = {
        TS: [body("docker-stats-v2-timescaledb-1"), body("docker-stats-v2-timescaledb-2")],
        NG: [body("docker-stats-v2-nginx-1"), body("docker-stats-v2-nginx-2")],
    }
    return FakeEngine(
        path,
        "docker",
        containers=body("docker-containers"),
        inspect={b["Id"]: b for b in inspect},
        stats=stats,
        images={b["Id"]: b for b in images},
        **kw,
    )


def podman_engine(path: Path, **kw: Any) -> FakeEngine:
    names = ("web", "infra", "db-migrate")
    inspect = [body(f"podman-inspect-{n}") for n in names]
    images = [body(f"podman-image-{n}") for n in names]
    stats = {
        WEB: [body("podman-stats-web-1"), body("podman-stats-web-2")],
        INFRA: [body("podman-stats-infra")],
    }
    kw.setdefault("flavour", "podman")
    return FakeEngine(
        path,
        containers=body("podman-containers"),
        inspect={b["Id"]: b for b in inspect},
        stats=stats,
        images={b["Id"]: b for b in images},
        libpod=body("podman-libpod-containers"),
        **kw,
    )


def run(
    previous: ContainersState | None,
    docker: Path | str = "",
    podman: Path | str = "",
    **options: Any,
) -> tuple[list[dict[str, Any]], ContainersState]:
    section = {"docker_sock": str(docker), "podman_sock": str(podman), **options}
    ctx = context(["containers"], config=from_mapping({"containers": section}))
    data, state = sample_containers(previous, ctx)
    return data["containers"], state


def by_name(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in entries}


def stats_requests(engine: FakeEngine, cid: str) -> list[str]:
    return [r for r in engine.requests if r.startswith(f"/containers/{cid}/stats")]


@pytest.fixture
def docker(tmp_path: Path) -> Iterator[FakeEngine]:
    with docker_engine(tmp_path / "docker.sock") as engine:
        yield engine


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[FakeEngine]:
    with podman_engine(tmp_path / "podman.sock") as engine:
        yield engine


@pytest.fixture
def refusing(tmp_path: Path) -> Iterator[Path]:
    """A unix socket that is bound but not listening: connections are refused."""
    path = tmp_path / "refusing.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
        yield path


# --- shape and values ----------------------------------------------------------------------


def test_first_round_gives_the_spec_example_entry(docker: FakeEngine) -> None:
    entries, _ = run(None, docker.path)
    assert set(by_name(entries)) == {"timescaledb-for-glances", "nginx-proxy"}  # running only
    entry = by_name(entries)["timescaledb-for-glances"]
    assert UPTIME.fullmatch(entry["uptime"])
    assert entry == {**SPEC_EXAMPLE, "uptime": entry["uptime"]}
    for e in entries:
        assert set(e) == set(SPEC_EXAMPLE)
        assert e["key"] == PLUGINS["containers"].key == "name"
        assert type(e["cpu"]["total"]) is float and e["cpu_percent"] == e["cpu"]["total"]
        assert all(type(e[k]) is int for k in ("memory_usage", "memory_limit"))
        assert isinstance(e["image"], list) and len(e["image"]) == 1


def test_image_tags_are_joined_and_the_command_is_entrypoint_then_cmd(
    docker: FakeEngine,
) -> None:
    entries, _ = run(None, docker.path)
    nginx = by_name(entries)["nginx-proxy"]
    assert nginx["image"] == ["nginx:1.27-alpine,nginx:stable-alpine"]
    assert nginx["command"] == "/docker-entrypoint.sh nginx -g daemon off;"
    assert nginx["created"] == "2025-07-01T08:12:44.106825171Z"
    assert nginx["memory_inactive_file"] == 2719744


def test_image_tags_are_cached_between_rounds(docker: FakeEngine) -> None:
    _, state = run(None, docker.path)
    run(state, docker.path)
    images = [r for r in docker.requests if r.startswith("/images/")]
    assert len(images) == 2  # the two running containers' images, asked once


def test_cpu_percent_and_rates_over_two_rounds(docker: FakeEngine) -> None:
    first, state1 = run(None, docker.path)
    second, state2 = run(state1, docker.path)
    assert all(e["cpu"] == {"total": 0.0} and e["io_rx"] is None for e in first)
    ts = by_name(second)["timescaledb-for-glances"]
    # +0.1 s of container CPU over +16 s of host CPU time (8 CPUs, 2 s) = 5 %
    assert ts["cpu"]["total"] == pytest.approx(100_000_000 / 16_000_000_000 * 8 * 100)
    assert ts["cpu_percent"] == ts["cpu"]["total"] == pytest.approx(5.0)
    nginx = by_name(second)["nginx-proxy"]
    assert nginx["cpu_percent"] == pytest.approx(2_400_000 / 16_000_000_000 * 8 * 100)

    key = ("docker", TS)
    elapsed = state2.readings[key].ts - state1.readings[key].ts
    assert elapsed > 0
    assert ts["io"] == {"cumulative_ior": 186433536, "cumulative_iow": 65536}
    assert ts["io_rx"] == (186433536 - 186105856) // elapsed
    assert ts["io_wx"] == 65536 // elapsed
    assert ts["network"] == {"cumulative_rx": 1250733, "cumulative_tx": 210667}
    assert ts["network_rx"] == (1250733 - 1248685) // elapsed
    assert ts["network_tx"] == (210667 - 208619) // elapsed
    assert all(type(ts[k]) is int for k in ("io_rx", "io_wx", "network_rx", "network_tx"))
    assert ts["memory_usage"] == 80330752


def test_cgroup_v1_stats_sum_devices_and_use_the_hierarchical_inactive_file(
    tmp_path: Path,
) -> None:
    with docker_engine(tmp_path / "docker.sock") as engine:
        engine.stats[TS] = [body("docker-stats-v1-timescaledb")]
        entries, _ = run(None, engine.path)
    ts = by_name(entries)["timescaledb-for-glances"]
    # "Read"/"Write" of 8:0 and 253:0 (Sync, Async, Discard, Total left out)
    assert ts["io"] == {"cumulative_ior": 180224000 + 5881856, "cumulative_iow": 61440 + 4096}
    # total_inactive_file (5582848), not the cgroup's own inactive_file (5541888)
    assert ts["memory"] == {"usage": 83566592, "limit": 16421875712, "inactive_file": 5582848}
    assert ts["memory_inactive_file"] == 5582848
    assert ts["cpu"] == {"total": 0.0}


def test_cpu_formula_and_online_cpus_fallback() -> None:
    v1 = body("docker-stats-v1-timescaledb")
    assert online_cpus(v1) == 8
    del v1["cpu_stats"]["online_cpus"]  # older daemons: the length of percpu_usage
    v1["cpu_stats"]["cpu_usage"]["percpu_usage"] = v1["cpu_stats"]["cpu_usage"]["percpu_usage"][:6]
    assert online_cpus(v1) == 6
    before = Reading(1.0, 1_000_000_000, 50_000_000_000, None, None)
    after = Reading(3.0, 1_500_000_000, 58_000_000_000, None, None)
    assert cpu_percent(after, before, 4) == pytest.approx(0.5 / 8 * 4 * 100)
    assert cpu_percent(after, None, 4) == 0.0
    restarted = Reading(5.0, 10_000, 66_000_000_000, None, None)  # the counter went back
    assert cpu_percent(restarted, after, 4) == 0.0


def test_stopped_containers_are_listed_with_all(docker: FakeEngine) -> None:
    entries, state = run(None, docker.path, all=True)
    assert [e["name"] for e in entries][-1] == "backup-job"  # sorted by CPU, then memory
    job = by_name(entries)["backup-job"]
    assert set(job) == set(SPEC_EXAMPLE)
    assert job["status"] == "exited"
    assert job["image"] == ["restic/restic:0.17.3"]
    assert job["command"] == "/usr/bin/restic backup /data"
    assert job["cpu"] == job["memory"] == job["io"] == job["network"] == {}
    for name in ("cpu_percent", "uptime", "io_rx", "io_wx", "network_rx", "network_tx"):
        assert job[name] is None
    for name in ("memory_usage", "memory_limit", "memory_inactive_file", "memory_percent"):
        assert job[name] is None
    assert stats_requests(docker, BK) == []  # no stats asked for a stopped container
    assert ("docker", BK) not in state.readings
    assert any("all=true" in r for r in docker.requests)


def test_podman_entries_carry_the_engine_and_pod(docker: FakeEngine, podman: FakeEngine) -> None:
    first, state = run(None, docker.path, podman.path, all=True)
    second, _ = run(state, docker.path, podman.path, all=True)
    entries = by_name(second)
    assert {e["engine"] for e in first} == {"docker", "podman"}
    web, infra, mig = entries["web"], entries["c0ffee5a1b2c-infra"], entries["db-migrate"]
    assert web["engine"] == infra["engine"] == mig["engine"] == "podman"
    assert (web["pod_id"], web["pod_name"]) == (POD, "webapp")
    assert (infra["pod_id"], infra["pod_name"]) == (POD, "webapp")
    assert (mig["pod_id"], mig["pod_name"]) == (None, None)
    assert set(web) == set(SPEC_EXAMPLE) | {"pod_id", "pod_name"}
    assert all("pod_id" not in e for e in second if e["engine"] == "docker")
    assert web["image"] == ["docker.io/library/nginx:latest"]
    assert web["command"] == "/docker-entrypoint.sh nginx -g daemon off;"
    # Podman gives no memory.stat: no inactive_file; its one network entry is summed
    assert web["memory"] == {"usage": 11689984, "limit": 8217317376}
    assert web["memory_inactive_file"] is None
    assert web["network"] == {"cumulative_rx": 3934688, "cumulative_tx": 28476512}
    assert web["io"] == {"cumulative_ior": 4214784, "cumulative_iow": 12288}  # "Read"/"Write"
    # 4 CPUs: +0.3 s over +8 s of host CPU time = 15 %
    assert web["cpu_percent"] == pytest.approx(15.0)
    assert any("/v4.0.0/libpod/containers/json" in r for r in podman.requests)


def test_podman_without_its_libpod_list_still_serves_containers(
    tmp_path: Path,
) -> None:
    with podman_engine(tmp_path / "podman.sock", flavour="docker") as engine:  # no libpod
        entries, state = run(None, podman=engine.path)
    assert {e["name"] for e in entries} == {"web", "c0ffee5a1b2c-infra"}
    assert all(e["pod_id"] is None and e["pod_name"] is None for e in entries)
    assert state.troubled == frozenset()


def test_previous_state_is_not_mutated(docker: FakeEngine) -> None:
    _, state1 = run(None, docker.path)
    snapshot = copy.deepcopy(state1)
    run(state1, docker.path)
    assert state1 == snapshot


# --- absent and faulty engines -------------------------------------------------------------


def test_absent_sockets_give_the_empty_value_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, LOGGER)
    entries, state = run(None, tmp_path / "nothing.sock", tmp_path / "nor-this.sock")
    assert entries == PLUGINS["containers"].empty() == []
    assert state.troubled == frozenset()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "no docker socket" in caplog.text


def test_empty_socket_path_turns_an_engine_off(docker: FakeEngine, podman: FakeEngine) -> None:
    entries, _ = run(None, docker.path, "")
    assert {e["engine"] for e in entries} == {"docker"}
    assert podman.requests == []


def test_http_500_engine_is_left_out_and_warned_once(
    docker: FakeEngine, podman: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, LOGGER)
    docker.fault = "500"
    entries, state = run(None, docker.path, podman.path)
    assert {e["engine"] for e in entries} == {"podman"}
    entries, state = run(state, docker.path, podman.path)
    assert {e["engine"] for e in entries} == {"podman"}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "docker" in warnings[0].getMessage()
    assert "HTTP 500" in warnings[0].getMessage()
    assert state.troubled == {"docker"}

    docker.fault = None
    entries, state = run(state, docker.path, podman.path)
    assert {e["engine"] for e in entries} == {"docker", "podman"}
    assert state.troubled == frozenset()
    assert "docker engine answers again" in caplog.text


def test_a_failed_round_keeps_the_engine_readings_for_the_next(docker: FakeEngine) -> None:
    _, state1 = run(None, docker.path)
    docker.fault = "500"
    entries, state2 = run(state1, docker.path)
    assert entries == []
    assert state2.readings == state1.readings
    docker.fault = None
    entries, state3 = run(state2, docker.path)
    ts = by_name(entries)["timescaledb-for-glances"]
    assert ts["cpu_percent"] == pytest.approx(5.0)  # against the reading of round 1
    elapsed = state3.readings[("docker", TS)].ts - state1.readings[("docker", TS)].ts
    assert ts["network_rx"] == (1250733 - 1248685) // elapsed


def test_a_stalled_engine_costs_its_budget_not_the_other_engine(
    tmp_path: Path, podman: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    budget = 0.5
    with docker_engine(tmp_path / "docker.sock", fault="stall") as stalled:
        start = time.monotonic()
        entries, state = run(None, stalled.path, podman.path, engine_timeout=budget)
        took = time.monotonic() - start
    assert took < budget + GRACE + 2.0  # the stall itself lasts 30 s
    assert {e["name"] for e in entries} == {"web", "c0ffee5a1b2c-infra"}
    assert all(e["engine"] == "podman" for e in entries)
    assert state.troubled == {"docker"}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "docker" in warnings[0].getMessage()


def test_a_stalled_container_is_left_out_and_the_others_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    budget = 0.5
    with docker_engine(tmp_path / "docker.sock") as e:
        _, state1 = run(None, e.path)
        e.stall_paths = (f"/containers/{NG}/stats",)
        start = time.monotonic()
        entries, state2 = run(state1, e.path, engine_timeout=budget)
        took = time.monotonic() - start
    assert took < budget + GRACE + 2.0
    assert {x["name"] for x in entries} == {"timescaledb-for-glances"}
    assert state2.readings[("docker", NG)] == state1.readings[("docker", NG)]  # kept
    assert state2.troubled == {"docker"}
    assert "1 container(s) left out" in caplog.text


def test_a_refusing_socket_is_left_out(
    refusing: Path, podman: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    entries, state = run(None, refusing, podman.path)
    assert {e["engine"] for e in entries} == {"podman"}
    assert state.troubled == {"docker"}
    assert "docker engine" in caplog.text and "Connection refused" in caplog.text


def test_a_removed_server_is_skipped(tmp_path: Path) -> None:
    engine = docker_engine(tmp_path / "docker.sock")
    with engine:
        entries, state = run(None, engine.path)
        assert len(entries) == 2
    assert not engine.path.exists()  # the daemon went away with its socket
    entries, state = run(state, engine.path)
    assert entries == []
    assert state == ContainersState()


def test_a_container_gone_since_the_listing_is_skipped_quietly(
    docker: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    del docker.inspect[NG]  # listed, then removed: inspect answers 404
    entries, state = run(None, docker.path)
    assert {e["name"] for e in entries} == {"timescaledb-for-glances"}
    assert state.troubled == frozenset()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --- helpers and the live machine ----------------------------------------------------------


@pytest.mark.parametrize(
    ("ago", "text"),
    [
        (timedelta(seconds=3), "just now"),
        (timedelta(seconds=42), "42 secs"),
        (timedelta(seconds=90), "a min"),
        (timedelta(minutes=17), "17 mins"),
        (timedelta(minutes=70), "an hour"),
        (timedelta(hours=5), "5 hours"),
        (timedelta(days=1, hours=2), "yesterday"),
        (timedelta(days=4), "4 days"),
        (timedelta(days=14), "2 weeks"),
        (timedelta(days=95), "3 months"),
        (timedelta(days=800), "2 years"),
    ],
)
def test_pretty_date_words_as_the_reference(ago: timedelta, text: str) -> None:
    now = datetime(2025, 7, 6, 10, 15, 2, tzinfo=UTC)
    started = (now - ago).isoformat().replace("+00:00", "Z")
    assert pretty_date(started, now) == text
    assert pretty_date("not a date", now) is None


def test_live_machine() -> None:
    data, _ = sample_containers(None, context(["containers"]))
    entries = data["containers"]
    if not any(os.path.exists(p) for p in ("/var/run/docker.sock", "/run/podman/podman.sock")):
        assert entries == []  # no engine here
    assert isinstance(entries, list)


def test_an_odd_stats_body_costs_that_container_only(
    docker: FakeEngine, podman: FakeEngine
) -> None:
    """A list where the engine API has a dict: that container is left out this round;
    the others, and the other engine's, are served (the sampler does not fail)."""
    podman.stats[WEB] = [{"memory_stats": {"usage": 1, "limit": 2, "stats": ["x"]}}]
    entries, state = run(None, docker.path, podman.path)
    names = {e["name"] for e in entries}
    assert "web" not in names
    assert {"timescaledb-for-glances", "nginx-proxy", "c0ffee5a1b2c-infra"} <= names
    assert state.troubled == {"podman"}


def test_an_engine_whose_list_is_not_a_list_is_left_out(
    docker: FakeEngine, podman: FakeEngine
) -> None:
    podman.containers = {"message": "not a list"}  # type: ignore[assignment]
    entries, state = run(None, docker.path, podman.path)
    assert {e["engine"] for e in entries} == {"docker"}
    assert state.troubled == {"podman"}
