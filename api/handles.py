"""What the API serves from: the read-only handles (and the one command handle).

Quart-free, like ``api/fastpath.py`` and ``api/root.py``: a statbus polled only on the
cached routes never imports Quart (``docs/architecture.md``, "The request path").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from api.alert_log import AlertLog
from pipeline.bus import Bus
from pipeline.config import Config
from pipeline.demand import RuntimeOptions
from pipeline.runner import SamplerRunner
from pipeline.stages.alerts import AlertStage
from pipeline.stages.history import HistoryStage
from pipeline.stages.state import StateStage
from pipeline.stages.thresholds import ThresholdStage


@dataclass(frozen=True)
class ApiHandles:
    """The read-only handles (and the one command handle) the API serves from."""

    config: Config
    state: StateStage
    options: RuntimeOptions = field(default_factory=RuntimeOptions)
    args: Mapping[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    alerts: AlertStage | None = None
    thresholds: ThresholdStage | None = None
    history: HistoryStage | None = None
    #: for /pipeline: the runner, the bus and each sink's ``as_dict``
    runner: SamplerRunner | None = None
    bus: Bus | None = None
    sinks: Mapping[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    #: the alert transitions numbered since the API started, for the stream's resume
    alert_log: AlertLog | None = None
