"""Helpers for API tests over raw sockets: statbus's root app (the fast path, Quart on
first use) served by an in-process hypercorn on a loopback port, and a raw answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from api import server_limits
from api.handles import ApiHandles
from api.root import create_root_app
from pipeline.bus import Bus
from pipeline.config import Config, load
from pipeline.runner import SamplerRunner
from pipeline.stages.alerts import AlertStage
from pipeline.stages.history import HistoryStage
from pipeline.stages.state import StateStage
from pipeline.stages.thresholds import ThresholdStage


@dataclass
class Answer:
    """An HTTP answer as read off the socket."""

    status: int
    headers: dict[str, str]
    body: bytes

    def detail(self) -> Any:
        """The ``detail`` of a JSON error body (which must hold nothing else)."""
        assert self.headers.get("content-type") == "application/json", self
        body = json.loads(self.body)
        assert set(body) == {"detail"}, body
        return body["detail"]


def parse_head(data: bytes) -> Answer:
    """The answer whose head ``data`` holds (up to its blank line), with the body bytes
    read so far."""
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), headers, body)


def every_handle(config: Config, data_dir: Path | None = None) -> ApiHandles:
    """Every handle statbus gives the API, so every blueprint registers its routes."""
    bus, enabled = Bus(), config.enabled_plugins()
    return ApiHandles(
        config,
        StateStage(bus, enabled),
        alerts=AlertStage(bus, config, data_dir),
        thresholds=ThresholdStage(bus, config, enabled),
        history=HistoryStage(bus, config, enabled),
        runner=SamplerRunner(bus, config, []),
        bus=bus,
    )


@asynccontextmanager
async def serve_root_app(*, limits: bool = False) -> AsyncIterator[tuple[Bus, StateStage, int]]:
    """``(bus, state stage, port)`` of the root app over one bus for cpu and mem; the
    state stage runs; the alert and threshold stages are there as handles only (the test
    publishes what they would).  ``limits``: with ``apply_limits``, as statbus serves."""
    config = load(overrides={"api.port": 0})
    bus = Bus()
    plugins = ["cpu", "mem"]
    state = StateStage(bus, plugins)
    handles = ApiHandles(
        config,
        state,
        alerts=AlertStage(bus, config, None),
        thresholds=ThresholdStage(bus, config, plugins),
        bus=bus,
    )
    hc = HypercornConfig()
    hc.bind = ["127.0.0.1:0"]
    hc.accesslog = None
    hc.graceful_timeout = 1.0
    if limits:
        server_limits.apply_limits(hc)
    stop = trio.Event()
    serve = partial(hypercorn_serve, create_root_app(handles), hc, shutdown_trigger=stop.wait)
    async with trio.open_nursery() as nursery:
        await nursery.start(state.run)
        async with trio.open_nursery() as server:
            urls = await server.start(serve)
            try:
                yield bus, state, int(urls[0].rsplit(":", 1)[1])
            finally:
                stop.set()
        nursery.cancel_scope.cancel()
