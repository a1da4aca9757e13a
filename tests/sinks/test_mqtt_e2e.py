"""The ``statbus`` command with ``[mqtt]`` on: real samples reach a subscriber of a
test broker in the Glances layout, and the availability follows the process."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx

from tests.conftest import start_statbus
from tests.sinks.conftest import Broker, Subscriber


async def test_statbus_publishes_real_samples_and_availability(
    broker: Broker, tmp_path: Path
) -> None:
    sub = await Subscriber(broker.port, "glances/e2e/#").start()
    try:
        live = start_statbus(
            tmp_path,
            "[api]\nport = 0\n[global]\nrefresh = 0.5\n"
            f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\n'
            'devicename = "e2e"\n',
        )
        try:
            got = await sub.wait_for(
                lambda ms: (
                    {"glances/e2e/cpu", "glances/e2e/mem", "glances/e2e/network"}
                    <= {m.topic for m in ms}
                ),
                within=15,
            )
            cpu = json.loads(sub.payloads("glances/e2e/cpu")[-1])
            assert 0 <= cpu["total"] <= 100 and cpu["cpucore"] >= 1
            network = json.loads(sub.payloads("glances/e2e/network")[-1])
            assert "lo" in network and "bytes_recv_rate_per_sec" in network["lo"]
            assert b"online" in sub.payloads("glances/e2e/availability")
            assert "glances/e2e/processlist" not in {m.topic for m in got}
            # the sink's state is visible through the API
            async with httpx.AsyncClient(timeout=5) as client:
                mqtt = (await client.get(f"{live.base}/pipeline")).json()["sinks"]["mqtt"]
            assert mqtt["state"] == "connected" and mqtt["published"] > 0
            assert mqtt["broker"] == f"127.0.0.1:{broker.port}" and mqtt["dropped"] == 0
        finally:
            assert live.stop(signal.SIGTERM) == 0
        await sub.wait_for(
            lambda ms: any(
                m.topic == "glances/e2e/availability" and m.payload == b"offline" for m in ms
            ),
            within=5,
        )
    finally:
        sub.stop()


async def test_sigkill_of_statbus_leaves_offline_through_the_will(
    broker: Broker, tmp_path: Path
) -> None:
    sub = await Subscriber(broker.port, "glances/killed/availability").start()
    try:
        live = start_statbus(
            tmp_path,
            "[api]\nport = 0\n"
            f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\n'
            'devicename = "killed"\n',
        )
        await sub.wait_for(lambda ms: any(m.payload == b"online" for m in ms), within=15)
        live.stop(signal.SIGKILL)
        got = await sub.wait_for(lambda ms: ms[-1].payload == b"offline", within=10)
        assert got[-1].payload == b"offline"
        late = await Subscriber(broker.port, "glances/killed/availability").start()
        retained = await late.wait_for(lambda ms: bool(ms), within=5)
        assert retained[0].payload == b"offline" and retained[0].retain
        late.stop()
    finally:
        sub.stop()
