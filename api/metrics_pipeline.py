"""The Prometheus page's second part: the alerts, the threshold levels and statbus
itself (samplers, bus, sinks), read when collected (``docs/metrics.md``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client.metrics_core import Metric

from api.metrics_page import Families, label_value, metric_name, number
from pipeline import __version__
from pipeline.bus import Bus, family_of
from pipeline.runner import SamplerRunner
from pipeline.stages.alerts import AlertStage
from pipeline.stages.state import StateStage
from pipeline.stages.thresholds import ThresholdStage

#: the states a sampler family and the MQTT link can be in, each exported (0 or 1)
SAMPLER_STATES = ("starting", "ok", "failing")
MQTT_STATES = ("connecting", "connected", "disconnected")
#: sink fields that only grow (exported as ``_total`` counters)
SINK_COUNTERS = frozenset(
    {"connects", "disconnects", "published", "dropped", "sent", "failed", "retried"}
)
#: sink timestamps, renamed as Prometheus names them
SINK_TIMESTAMPS = {
    "last_success": "last_success_timestamp_seconds",
    "last_error_at": "last_error_timestamp_seconds",
}

#: the events list's states as the alert state metric numbers them (finished: 0)
ALERT_STATES = {"WARNING": 1, "CRITICAL": 2}


def add_alerts(out: Families, alerts: AlertStage) -> None:
    events = alerts.events.events  # newest first
    doc = "the newest event of each type in the events list: 0 finished, 1 WARNING, 2 CRITICAL"
    name = metric_name("alert", "state")
    seen: set[str] = set()
    for event in events:
        if event.type in seen:  # an older event of a type already exported
            continue
        seen.add(event.type)
        level = ALERT_STATES.get(event.state, 0) if event.ongoing else 0
        out.gauge(name, doc, level, {"type": event.type})
    ongoing = [e for e in events if e.ongoing]
    out.gauge(metric_name("alert", "events"), "events in the events list", len(events))
    for state in ALERT_STATES:
        out.gauge(
            metric_name("alert", "ongoing_events"),
            "ongoing events, by state",
            sum(e.state == state for e in ongoing),
            {"state": state},
        )


def add_levels(out: Families, thresholds: ThresholdStage, plugins: Iterable[str]) -> None:
    doc = "the latest threshold level of a stat: 0 OK, 1 CAREFUL, 2 WARNING, 3 CRITICAL"
    name = metric_name("threshold", "level")
    for plugin in plugins:
        for stat, level in thresholds.levels(plugin).items():
            out.gauge(name, doc, level, {"plugin": plugin, "stat": stat})


def add_logins(out: Families, counters: Mapping[str, int]) -> None:
    """The API's Basic-auth counters (``api/http_auth.py``), when a password is set."""
    out.counter(metric_name("api", "login_failures"), "wrong credentials", counters["failures"])
    out.counter(
        metric_name("api", "login_throttled"),
        "requests answered 429 by the failed-login back-off or a full check queue",
        counters["throttled"],
    )
    out.counter(
        metric_name("api", "password_checks"),
        "credentials checked against the password (remembered ones are not)",
        counters["checks"],
    )
    out.gauge(
        metric_name("api", "login_tracked_addresses"),
        "client addresses whose failed logins are being counted",
        counters["tracked"],
    )


def add_samplers(out: Families, runner: SamplerRunner) -> None:
    for status in runner.status.values():
        labels = {"sampler": status.name}
        out.counter(metric_name("sampler", "runs"), "successful runs", status.runs, labels)
        out.counter(metric_name("sampler", "failures"), "failed runs", status.failures, labels)
        out.gauge(
            metric_name("sampler", "consecutive_failures"),
            "failures since the last successful run",
            status.consecutive_failures,
            labels,
        )
        if status.last_duration is not None:
            out.gauge(
                metric_name("sampler", "last_duration_seconds"),
                "how long the last successful run took",
                status.last_duration,
                labels,
            )
        if status.backoff is not None:
            out.gauge(
                metric_name("sampler", "backoff_seconds"),
                "the wait before its next attempt, after its latest failure",
                status.backoff,
                labels,
            )
        if status.last_run is not None:
            out.gauge(
                metric_name("sampler", "last_run_timestamp_seconds"),
                "when the last successful run ended",
                status.last_run,
                labels,
            )
        out.gauge(
            metric_name("sampler", "interval_seconds"), "refresh interval", status.interval, labels
        )
        out.gauge(
            metric_name("sampler", "solo"),
            "1 once the family was slow and runs on a thread of its own",
            status.solo,
            labels,
        )
        states = (
            SAMPLER_STATES if status.state in SAMPLER_STATES else (*SAMPLER_STATES, status.state)
        )
        for state in states:
            out.gauge(
                metric_name("sampler", "state"),
                "1 for the state the family is in (starting, ok, failing)",
                status.state == state,
                {**labels, "state": state},
            )
    out.counter(
        metric_name("sampler", "thread_calls"),
        "worker-thread calls (one per round of due families)",
        runner.thread_calls,
    )


def add_bus(out: Families, bus: Bus) -> None:
    # One series per subscriber family, topic and policy: the subscribers of one stream
    # client each (``stream#7``) are summed into ``stream``, with those that left
    # (Bus.retired) so that the counters never go backwards and a client that comes and
    # goes adds no series.
    rows: dict[tuple[str, str, str], list[int]] = {}
    for sub in bus.subscribers():
        key = (family_of(str(sub["name"])), str(sub["topic"]), str(sub["policy"]))
        row = rows.setdefault(key, [0, 0, 0, 0, 0])
        for i, field in enumerate(("delivered", "dropped", "depth", "maxsize")):
            row[i] += int(sub[field])
        row[4] += 1
    for key, (delivered, dropped) in bus.retired.items():
        row = rows.setdefault(key, [0, 0, 0, 0, 0])
        row[0] += delivered
        row[1] += dropped
    for (name, topic, policy), (delivered, dropped, depth, maxsize, count) in rows.items():
        labels = {"subscriber": name, "topic": topic, "policy": policy}
        out.counter(
            metric_name("bus", "delivered"), "events a subscriber received", delivered, labels
        )
        out.counter(
            metric_name("bus", "dropped"),
            "events dropped for a slow latest-wins subscriber",
            dropped,
            labels,
        )
        out.gauge(metric_name("bus", "queue_depth"), "events queued", depth, labels)
        out.gauge(metric_name("bus", "queue_capacity"), "queue size", maxsize, labels)
        out.gauge(metric_name("bus", "subscribers"), "subscribers of this name", count, labels)
    for topic, count in bus.published.items():
        out.counter(
            metric_name("bus", "published"),
            "events published on a topic",
            count,
            {"topic": str(topic)},
        )


def add_sink_fields(
    out: Families, sink: str, fields: Mapping[str, Any], labels: Mapping[str, str]
) -> None:
    for field, value in fields.items():
        if field == "state" and isinstance(value, str):
            states = MQTT_STATES if value in MQTT_STATES else (*MQTT_STATES, value)
            for state in states:
                out.gauge(
                    metric_name(sink, "state"),
                    f"1 for the {sink} link's state",
                    value == state,
                    {**labels, "state": state},
                )
            continue
        sample = number(value)
        if sample is None:
            continue
        doc = f"{field} of the {sink} sink"
        if field in SINK_COUNTERS:
            out.counter(metric_name(sink, field), doc, sample, labels)
        else:
            out.gauge(metric_name(sink, SINK_TIMESTAMPS.get(field, field)), doc, sample, labels)


def add_sinks(out: Families, sinks: Mapping[str, Callable[[], dict[str, Any]]]) -> None:
    for name, describe in sinks.items():
        state = describe()
        if name == "webhooks":  # one dict per receiver
            for receiver, fields in state.items():
                if isinstance(fields, dict):
                    add_sink_fields(out, "webhook", fields, {"receiver": str(receiver)})
        elif name == "mqtt":
            add_sink_fields(out, "mqtt", state, {"broker": label_value(state.get("broker"))})
        else:
            add_sink_fields(out, name, state, {})


class PipelineCollector:
    """statbus itself: the alerts, the threshold levels, samplers, bus and sinks."""

    def __init__(
        self,
        state: StateStage,
        *,
        started_at: float,
        alerts: AlertStage | None = None,
        thresholds: ThresholdStage | None = None,
        runner: SamplerRunner | None = None,
        bus: Bus | None = None,
        sinks: Mapping[str, Callable[[], dict[str, Any]]] | None = None,
        logins: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self._state = state
        self._started_at = started_at
        self._alerts = alerts
        self._thresholds = thresholds
        self._runner = runner
        self._bus = bus
        self._sinks = sinks or {}
        self._logins = logins

    def collect(self) -> Iterable[Metric]:
        out = Families()
        out.info(metric_name("build"), "statbus's version", {"version": __version__})
        out.gauge(
            metric_name("start_time_seconds"), "when statbus started (epoch)", self._started_at
        )
        if self._alerts is not None:
            add_alerts(out, self._alerts)
        if self._thresholds is not None:
            add_levels(out, self._thresholds, self._state.plugins)
        if self._runner is not None:
            add_samplers(out, self._runner)
        if self._bus is not None:
            add_bus(out, self._bus)
        add_sinks(out, self._sinks)
        if self._logins is not None:
            add_logins(out, self._logins())
        return out
