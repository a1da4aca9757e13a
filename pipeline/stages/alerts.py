"""The alert stage: the Glances events list, kept whether or not anyone polls.

It subscribes to the threshold stage's ``views`` (lossless: every evaluation counts) and
to ``stats`` (latest-wins, for the process list that ranks the top processes), and keeps
the reference's events list (glances-behaviour.md §3):

* an event opens when a logged stat reaches WARNING or CRITICAL; it escalates to
  CRITICAL but never back down; each WARNING/CRITICAL sample updates min/max/sum/count/
  avg; CRITICAL samples tally the top processes by the event's sort key; an OK or
  CAREFUL sample closes it (or deletes it when it lasted less than ``min_duration``);
  the same type within ``min_interval`` of its end re-opens it; at most ``max_events``
  are kept, newest first;
* every transition (``opened``, ``escalated``, ``closed``, ``cleared``) is published on
  the ``alerts`` topic as an :class:`AlertEvent`;
* the list itself is published as the ``alert`` plugin's stats on ``stats`` (so the
  API serves ``/api/4/alert`` and ``/all`` like any plugin) whenever it changes;
* the list is saved atomically in the data directory and loaded at start.

Clearing (``POST /events/clear/...``) arrives as a command through :meth:`clear`; the
API never edits the list itself.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import trio

from pipeline import codec
from pipeline.bus import Bus, Policy, Subscription
from pipeline.config import Config
from pipeline.demand import Demand
from pipeline.events import AlertEvent, StatEvent, ViewsEvent
from pipeline.persist import SAVE_TIMEOUT, SnapshotWriter
from pipeline.persist import write_atomically as _write_atomically
from pipeline.topics import ALERTS_TOPIC, STATS_TOPIC, VIEWS_TOPIC

log = logging.getLogger(__name__)


EVENTS_FILE = "events.json"
#: ongoing events' running figures are saved at most this often (transitions at once)
SAVE_INTERVAL = 5.0

FIRING = ("WARNING", "CRITICAL")
#: (message, threshold stats whose levels weigh for it), in the reference's order
GLOBAL_MESSAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("EVENTS history", ()),
    ("High CPU user mode", ("cpu_user",)),
    ("High CPU kernel usage", ("cpu_system",)),
    ("High CPU I/O waiting", ("cpu_iowait",)),
    ("Large CPU stolen time. System running the hypervisor is too busy.", ("cpu_steal",)),
    ("High CPU niced value", ("cpu_niced",)),
    ("System overloaded in the last 5 minutes", ("load",)),
    ("High swap (paging) usage", ("memswap",)),
    ("High memory consumption", ("mem",)),
)


def global_message(levels: dict[str, int]) -> str:
    """The first message of the heaviest weight, if that weight is at least 2."""
    best, weight = GLOBAL_MESSAGES[0][0], 0
    for message, keys in GLOBAL_MESSAGES:
        w = sum(levels.get(k, 0) for k in keys)
        if w > weight:
            best, weight = message, w
    return best if weight >= 2 else GLOBAL_MESSAGES[0][0]


def sort_key_for(event_type: str) -> str:
    """The process sort key the reference switches to for an event type."""
    if event_type.startswith("MEM"):
        return "memory_percent"
    if event_type == "CPU_IOWAIT":
        return "io_counters"
    return "cpu_percent"


def _process_weight(process: dict[str, Any], key: str) -> float:
    if key == "io_counters":
        io = process.get("io_counters") or []
        if len(io) >= 5 and io[4]:
            return float((io[0] - io[2]) + (io[1] - io[3]))
        return 0.0
    value = process.get(key)
    return float(value) if isinstance(value, int | float) else 0.0


def top_processes(processes: list[dict[str, Any]], key: str, n: int = 6) -> list[str]:
    """Names of the ``n`` processes highest by ``key``."""
    ranked = sorted(processes, key=lambda p: _process_weight(p, key), reverse=True)
    return [str(p.get("name", "")) for p in ranked[:n]]


@dataclass
class Event:
    """One entry of the events list (the reference's fields, plus the top tally)."""

    begin: int
    state: str
    type: str
    min: float
    max: float
    sum: float
    count: int
    avg: float
    top: list[str]
    desc: str
    sort: str
    global_msg: str
    end: float = -1
    top_tally: Counter[str] = field(default_factory=Counter)

    @property
    def ongoing(self) -> bool:
        return self.end == -1

    def as_json(self) -> dict[str, Any]:
        """The ``/api/4/alert`` shape, in the reference's key order."""
        return {
            "begin": self.begin,
            "state": self.state,
            "type": self.type,
            "min": self.min,
            "max": self.max,
            "sum": self.sum,
            "count": self.count,
            "avg": self.avg,
            "top": list(self.top),
            "desc": self.desc,
            "sort": self.sort,
            "global_msg": self.global_msg,
            "end": self.end,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Event:
        return cls(
            begin=int(raw["begin"]),
            state=str(raw["state"]),
            type=str(raw["type"]),
            min=float(raw["min"]),
            max=float(raw["max"]),
            sum=float(raw["sum"]),
            count=int(raw["count"]),
            avg=float(raw["avg"]),
            top=[str(t) for t in raw.get("top", [])],
            desc=str(raw.get("desc", "")),
            sort=str(raw.get("sort", "cpu_percent")),
            global_msg=str(raw.get("global_msg", GLOBAL_MESSAGES[0][0])),
            end=float(raw["end"]) if raw["end"] != -1 else -1,
        )


#: the process list, or a function returning it (made only when it is needed)
Processes = list[dict[str, Any]] | Callable[[], list[dict[str, Any]]]
_PROCESSLIST = codec.prefix(StatEvent, "processlist")
_VERDICT = ("ts", "alerts", "levels")


@dataclass(frozen=True)
class _Clear:
    critical: bool
    done: trio.Event


class EventsList:
    """The events list and its rules, free of I/O (the stage feeds it and publishes)."""

    def __init__(self, max_events: int, min_duration: float, min_interval: float) -> None:
        self.max_events = max_events
        self.min_duration = min_duration
        self.min_interval = min_interval
        self.events: list[Event] = []

    def _find(self, event_type: str, now: int) -> Event | None:
        for event in self.events:
            if event.type == event_type and (event.ongoing or now - event.end < self.min_interval):
                return event
        return None

    def add(
        self,
        state: str,
        event_type: str,
        value: float,
        ts: float,
        global_msg: str,
        processes: Processes,
    ) -> list[tuple[str, Event]]:
        """One evaluation of a logged stat; the transitions it caused.  ``processes``
        (the process list, or a function returning it) is read only by a CRITICAL
        sample of an event, which tallies the top processes."""
        now = int(ts)
        event = self._find(event_type, now)
        if event is None:
            if state not in FIRING:
                return []
            event = Event(
                begin=now,
                state=state,
                type=event_type,
                min=value,
                max=value,
                sum=value,
                count=1,
                avg=value,
                top=[],
                desc="",
                sort=sort_key_for(event_type),
                global_msg=global_msg,
            )
            self.events.insert(0, event)  # top stays [] until a CRITICAL update
            out = [("opened", event)]
            while len(self.events) > self.max_events:
                out.append(("cleared", self.events.pop()))
            return out
        if state in FIRING:
            out = []
            if not event.ongoing:  # back within min_interval: the same event again
                event.end = -1
                out.append(("opened", event))
            event.min = min(event.min, value)
            event.max = max(event.max, value)
            event.sum += value
            event.count += 1
            event.avg = event.sum / event.count
            if state == "CRITICAL":
                if event.state != "CRITICAL":
                    event.state = "CRITICAL"
                    out.append(("escalated", event))
                self._tally(event, processes)
            else:
                event.top_tally.clear()  # a WARNING sample restarts the tally, keeps top
            event.global_msg = global_msg
            return out
        if not event.ongoing:
            return []
        if now - event.begin >= self.min_duration:
            event.end = float(now)
            return [("closed", event)]
        self.events.remove(event)  # too short to keep
        event.end = float(now)
        return [("closed", event)]

    @staticmethod
    def _tally(event: Event, processes: Processes) -> None:
        event.sort = sort_key_for(event.type)
        if callable(processes):
            processes = processes()
        event.top_tally.update(top_processes(processes, event.sort))
        event.top = [name for name, _ in event.top_tally.most_common(3)]

    def clear(self, critical: bool) -> list[Event]:
        """Remove finished events (not CRITICAL ones unless ``critical``); ongoing stay."""
        gone = [e for e in self.events if not e.ongoing and (critical or e.state != "CRITICAL")]
        self.events = [e for e in self.events if e not in gone]
        return gone

    def as_json(self) -> list[dict[str, Any]]:
        return [e.as_json() for e in self.events]


class AlertStage:
    def __init__(
        self,
        bus: Bus,
        config: Config,
        data_dir: Path | None,
        *,
        wall_clock: Callable[[], float] = time.time,
        demand: Demand | None = None,
    ) -> None:
        self._bus = bus
        # The process list is sampled only while someone reads it (Demand): this stage
        # asks for it while a logged stat is WARNING or CRITICAL or an event is ongoing,
        # so that a CRITICAL sample finds a fresh list to tally.
        self._demand = demand
        self._firing: set[str] = set()  # event types whose latest state is firing
        a = config.alert
        self.events = EventsList(a.max_events, a.min_duration, a.min_interval)
        self._path = data_dir / EVENTS_FILE if data_dir is not None else None
        self._wall_clock = wall_clock
        self._levels: dict[str, int] = {}
        # The latest process list, as encoded on the bus: decoded only when a CRITICAL
        # sample needs its top processes (it is the biggest event of a round, and most
        # rounds have no alert at all), and kept decoded only until the next sample.
        self._processes_raw: bytes | None = None
        self._decoded: tuple[bytes, list[dict[str, Any]]] | None = None
        self._seq = 0

        # Wake-ups for the publisher and writer tasks: setting one never waits.
        self._publish_wanted = trio.Event()
        send, receive = trio.open_memory_channel[_Clear](16)
        self._commands_in, self._commands = send, receive
        self._writer = (
            SnapshotWriter(
                self._path,
                self._snapshot,
                what="alerts",
                timeout=SAVE_TIMEOUT,
                write=_write_atomically,
                clock=wall_clock,
            )
            if self._path is not None
            else None
        )
        self._load()

    # -- commands (the API's only way in) --------------------------------------------

    async def clear(self, *, critical: bool) -> None:
        """Ask the stage to clear finished events; returns once it has."""
        done = trio.Event()
        await self._commands_in.send(_Clear(critical, done))
        await done.wait()

    # -- the stage -------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with (
            self._bus.subscribe(
                VIEWS_TOPIC, name="alerts", policy=Policy.LOSSLESS, maxsize=256
            ) as views,
            self._bus.subscribe(
                STATS_TOPIC, name="alerts-processes", policy=Policy.LATEST_WINS, maxsize=64
            ) as stats,
        ):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._follow_processes, stats)
                nursery.start_soon(self._serve_commands)
                nursery.start_soon(self._publisher)
                if self._writer is not None:
                    nursery.start_soon(self._writer.run)
                self._publish_wanted.set()  # the (possibly loaded) list, at once
                task_status.started()
                try:
                    async for batch in views.batches():
                        for raw in batch:
                            await self._take_views(raw)
                finally:
                    with trio.move_on_after(SAVE_TIMEOUT / 5) as scope:
                        scope.shield = True
                        if self._writer is not None and self._writer.dirty:
                            await self._writer.save()

    async def _follow_processes(self, stats: Subscription) -> None:
        # Only processlist's samples are kept, recognised by their first bytes, and
        # kept encoded: see _current_processes.
        await stats.consume_raw(self._take_stats)

    def _take_stats(self, raw: bytes) -> None:
        if raw.startswith(_PROCESSLIST):
            self._processes_raw = raw
            self._decoded = None  # the older list's objects go now, not at the next tally

    def _current_processes(self) -> list[dict[str, Any]]:
        """The latest process list, decoded at most once per sample; the decoded list is
        dropped when the next sample comes (it is ~10 times its encoding: kept until the
        next tally, it stayed for ever while the API kept lists coming)."""
        raw = self._processes_raw
        if raw is None:
            return []
        if self._decoded is None or self._decoded[0] is not raw:
            try:
                (processes,) = codec.fields(raw, StatEvent, ("data",))
            except codec.CodecError:
                log.warning("alerts: dropping a stats event that does not decode")
                self._processes_raw, processes = None, []
            self._decoded = (raw, processes)
        return self._decoded[1]

    async def _take_views(self, raw: bytes) -> None:
        """One verdict of the threshold stage; only its time, alerts and levels are
        decoded (not its views, which this stage never reads)."""
        try:
            ts, alerts, levels = codec.fields(raw, ViewsEvent, _VERDICT)
        except codec.CodecError:
            log.warning("alerts: dropping a views event that does not decode")
            return
        await self._on_verdict(ts, alerts, levels)

    async def _serve_commands(self) -> None:
        async for command in self._commands:
            gone = self.events.clear(command.critical)
            for event in gone:
                await self._transition("cleared", event)
            if gone:
                self._changed(save_now=True)
            command.done.set()

    async def _on_verdict(self, ts: float, alerts: list[list[Any]], levels: dict[str, int]) -> None:
        self._levels.update(levels)
        if not alerts:
            return
        message = global_message(self._levels)
        changed = transitions = False
        for event_type, state, value in alerts:
            if str(state) in FIRING:
                self._firing.add(str(event_type))
            else:
                self._firing.discard(str(event_type))
            for transition, event in self.events.add(
                str(state), str(event_type), float(value), ts, message, self._current_processes
            ):
                await self._transition(transition, event)
                transitions = True
            changed = changed or str(state) in FIRING or transitions
        if changed:
            self._changed(save_now=transitions)
        self._update_demand()

    def _update_demand(self) -> None:
        if self._demand is None:
            return
        wanted = bool(self._firing) or any(e.ongoing for e in self.events.events)
        self._demand.want("alerts", ("processlist",) if wanted else ())
        if not self._demand.wanted("processlist"):
            # No list is sampled now: forget the last one, so that a stat jumping
            # straight to CRITICAL later tallies no stale processes (its next CRITICAL
            # sample tallies a fresh list).
            self._processes_raw, self._decoded = None, None

    async def _transition(self, transition: str, event: Event) -> None:
        log.info("alert %s: %s %s", transition, event.type, event.state)
        await self._bus.publish(
            ALERTS_TOPIC, AlertEvent(transition, self._wall_clock(), event.as_json())
        )

    def _changed(self, *, save_now: bool) -> None:
        """The list changed: have it published, and saved (now, or within SAVE_INTERVAL).

        Never waits: publishing the list on ``stats`` from here could deadlock with the
        threshold stage (it reads ``stats`` losslessly and feeds ``views`` to us), and a
        slow disk must not hold up the judging of samples.
        """
        self._publish_wanted.set()
        if self._writer is not None:
            due = self._wall_clock() - self._writer.last_save >= SAVE_INTERVAL
            self._writer.changed(wake=save_now or due)

    async def _publisher(self) -> None:
        """Publish the latest list whenever it changed (latest-wins: bursts coalesce)."""
        while True:
            await self._publish_wanted.wait()
            self._publish_wanted = trio.Event()
            self._seq += 1
            await self._bus.publish(
                STATS_TOPIC,
                StatEvent("alert", self._wall_clock(), self._seq, self.events.as_json()),
            )

    # -- persistence -----------------------------------------------------------------

    def _snapshot(self) -> bytes:
        return orjson.dumps({"saved_at": self._wall_clock(), "events": self.events.as_json()})

    def _load(self) -> None:
        if self._path is None or not self._path.exists():
            return
        try:
            raw = orjson.loads(self._path.read_bytes())
            if isinstance(raw, list):  # a bare list, as /api/4/alert shows it
                raw = {"saved_at": None, "events": raw}
            events = [Event.from_json(e) for e in raw["events"]][: self.events.max_events]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            aside = self._path.with_name(f"{self._path.name}.corrupt-{int(time.time())}")
            log.error("alerts: cannot read %s (%s); moved it to %s", self._path, exc, aside)
            try:
                self._path.replace(aside)
            except OSError as move_error:
                log.error("alerts: cannot move %s aside: %s", self._path, move_error)
            return
        # An event ongoing when statbus stopped is closed at the last save: nobody knows
        # what happened while statbus was down.  If its stat still fires within
        # min_interval of that, the next sample re-opens it (same begin).
        saved_at = raw.get("saved_at")
        ended = float(int(saved_at)) if isinstance(saved_at, int | float) else None
        for event in events:
            if event.ongoing:
                event.end = ended if ended is not None else float(event.begin)
        self.events.events = events
        log.info("alerts: loaded %d events from %s", len(events), self._path)
