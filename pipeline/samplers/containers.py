"""The ``containers`` plugin: Docker and Podman containers, read from their Engine APIs.

Each engine is an HTTP API on a unix socket (``docker_sock``, ``podman_sock``; "" turns
an engine off, a path that does not exist skips it quietly).  Per engine and round:

* ``GET /containers/json?all=…`` lists the containers (``all`` adds the stopped ones);
* per container ``GET /containers/{id}/json`` (command, creation date, status, start
  time) and, for a running or paused one, ``GET /containers/{id}/stats?stream=false&
  one-shot=true`` (counters; one-shot spares Docker's one-second second reading);
* ``GET /images/{id}/json`` for the image's tags, kept for :data:`IMAGE_TTL` seconds;
* Podman only: the libpod list ``GET /v4.0.0/libpod/containers/json`` for ``pod_id`` and
  ``pod_name`` (``None`` for a container outside a pod, and when that list fails).

One-shot stats carry no previous CPU reading, so ``cpu_percent`` and the rates come from
statbus's own previous reading of the same container (kept in the state): first sight
gives ``cpu {"total": 0.0}`` and ``None`` rates.  CPU is Docker's formula, Δcontainer
CPU time / Δhost CPU time × online CPUs × 100.  ``io_rx``/``io_wx`` and
``network_rx``/``network_tx`` are bytes per second, ``Δcumulative // Δt``, as the
reference computes them (the spec's field list says bit/s for the network ones).

Time: each engine has its own budget (``engine_timeout``), the two engines are read at
once (one thread each) and so are each engine's containers (up to :data:`POOL_SIZE`
requests at a time); every request's timeout is what is left of its engine's budget.  An
engine that fails or stalls is left out of the round (its previous readings are kept for
the next one), and so is a container whose requests did not end within the budget; the
other engine's containers are served all the same.  The fault is logged at warning level
once, when it starts, and at info level when the engine answers in full again.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipeline.plugins import PLUGINS
from pipeline.runner import SampleContext, SamplerSpec

if TYPE_CHECKING:  # httpx weighs megabytes: imported when an engine or URL is read
    import httpx

log = logging.getLogger(__name__)

ENGINES = ("docker", "podman")
#: the statuses whose containers have stats (the reference's CONTAINER_ACTIVE_STATUS)
ACTIVE = frozenset({"running", "paused"})
#: concurrent per-container requests per engine
POOL_SIZE = 8
#: how long past the budget the sampler waits for an engine's thread to hand back
GRACE = 0.5
#: how long an image's tags are reused before they are asked for again (seconds)
IMAGE_TTL = 300.0
#: the libpod API version in the path (Podman serves libpod routes only versioned)
LIBPOD_VERSION = "v4.0.0"

#: a container, per engine: ``(engine, container id)``
Key = tuple[str, str]


class EngineError(Exception):
    """A request to an engine failed: refused, an HTTP error, a bad body, out of time."""


class NotFound(EngineError):
    """HTTP 404: the container (or image) went away between two requests."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One container's counters at monotonic time ``ts``."""

    ts: float
    #: ``cpu_usage.total_usage`` and ``system_cpu_usage`` (ns), None when absent
    cpu: int | None
    system: int | None
    #: cumulative block I/O (read, written) and network (received, sent) bytes
    io: tuple[int, int] | None
    net: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class ContainersState:
    readings: Mapping[Key, Reading] = field(default_factory=dict)
    #: ``(engine, image id)`` -> (comma-joined tags, monotonic time they were read)
    images: Mapping[Key, tuple[str, float]] = field(default_factory=dict)
    #: the engines whose fault was logged at warning level and has not cleared yet
    troubled: frozenset[str] = frozenset()


@dataclass(slots=True)
class EngineRound:
    """What one engine gave this round."""

    entries: list[dict[str, Any]]
    readings: dict[Key, Reading]
    images: dict[Key, tuple[str, float]]
    #: containers left out (id -> why): their requests failed or did not end in time
    missed: dict[str, str]


# --- parsing one-shot stats bodies -------------------------------------------------------


def blkio_bytes(stats: Mapping[str, Any]) -> tuple[int, int] | None:
    """Bytes read and written, summed over devices.

    cgroup v2 Docker writes the ops ``read``/``write``, cgroup v1 (and Podman) ``Read``,
    ``Write``, ``Sync``, ``Async``, ``Total``…: matched without case, as the reference does
    (which takes the first device only; statbus sums them, as ``docker stats`` does).
    """
    entries = (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive")
    if not entries:
        return None
    read = write = 0
    found = False
    for entry in entries:
        try:
            op, value = str(entry["op"]).lower(), int(entry["value"])
        except (KeyError, TypeError, ValueError):
            continue
        if op == "read":
            read, found = read + value, True
        elif op == "write":
            write, found = write + value, True
    return (read, write) if found else None


def net_bytes(stats: Mapping[str, Any]) -> tuple[int, int] | None:
    """Bytes received and sent, summed over the container's interfaces (the reference
    reads ``eth0`` only; Podman 4 names its single entry after the endpoint)."""
    networks = stats.get("networks")
    if not isinstance(networks, Mapping) or not networks:
        return None
    try:
        rx = sum(int(n["rx_bytes"]) for n in networks.values())
        tx = sum(int(n["tx_bytes"]) for n in networks.values())
    except (KeyError, TypeError, ValueError):
        return None
    return rx, tx


def memory_of(stats: Mapping[str, Any]) -> dict[str, int]:
    """``{usage, limit[, inactive_file]}``, or ``{}`` without usage and limit.

    ``inactive_file`` is cgroup v1's hierarchical ``total_inactive_file`` when present,
    else cgroup v2's ``inactive_file`` (as ``docker stats`` chooses); Podman gives none.
    """
    mem = stats.get("memory_stats") or {}
    try:
        out = {"usage": int(mem["usage"]), "limit": int(mem["limit"])}
    except (KeyError, TypeError, ValueError):
        return {}
    detail = mem.get("stats") or {}
    inactive = detail.get("total_inactive_file", detail.get("inactive_file"))
    if isinstance(inactive, int):
        out["inactive_file"] = inactive
    return out


def online_cpus(stats: Mapping[str, Any]) -> int:
    """``online_cpus``, else the length of ``percpu_usage`` (older daemons, cgroup v1),
    else this host's CPU count."""
    cpu = stats.get("cpu_stats") or {}
    count = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
    return int(count) or os.cpu_count() or 1


def reading_of(stats: Mapping[str, Any], ts: float) -> Reading:
    cpu = stats.get("cpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage")
    system = cpu.get("system_cpu_usage")
    return Reading(
        ts,
        total if isinstance(total, int) else None,
        system if isinstance(system, int) else None,
        blkio_bytes(stats),
        net_bytes(stats),
    )


def cpu_percent(current: Reading, previous: Reading | None, cpus: int) -> float:
    """Δcontainer / Δhost CPU time × CPUs × 100; 0.0 without a usable previous reading."""
    if previous is None or None in (current.cpu, current.system, previous.cpu, previous.system):
        return 0.0
    assert current.cpu is not None and previous.cpu is not None
    assert current.system is not None and previous.system is not None
    delta, system = current.cpu - previous.cpu, current.system - previous.system
    if delta < 0 or system <= 0:
        return 0.0
    return delta / system * cpus * 100.0


#: a pair of counters: its nested dict's names, and its two rates' names
_PAIRS = {
    "io": (("cumulative_ior", "cumulative_iow"), ("io_rx", "io_wx")),
    "network": (("cumulative_rx", "cumulative_tx"), ("network_rx", "network_tx")),
}


def _cumulative(
    entry: dict[str, Any],
    name: str,
    now: tuple[int, int],
    before: tuple[int, int] | None,
    elapsed: float,
) -> None:
    """``entry[name]``, the two cumulative counters, and their two rates."""
    counters, rates = _PAIRS[name]
    entry[name] = dict(zip(counters, now, strict=True))
    for i, rate in enumerate(rates):
        entry[rate] = _rate(now[i], before[i] if before else None, elapsed)


def _rate(current: int, previous: int | None, elapsed: float) -> int | None:
    if previous is None or current < previous or elapsed <= 0:
        return None
    return int((current - previous) // elapsed)


def pretty_date(started: str, now: datetime) -> str | None:
    """How long ago ``started`` (RFC 3339) was, worded as the reference's ``pretty_date``
    ("just now", "12 secs", "a min", "5 mins", "an hour", "3 hours", "yesterday",
    "4 days", "2 weeks", "3 months", "2 years"); None for an unreadable date."""
    try:
        when = datetime.fromisoformat(started)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    diff = now - when
    days, secs = diff.days, diff.seconds
    if days < 0:
        return ""
    if days == 0:
        for limit, text in ((10, "just now"), (60, f"{secs} secs"), (120, "a min")):
            if secs < limit:
                return text
        if secs < 3600:
            return f"{secs // 60} mins"
        return "an hour" if secs < 7200 else f"{secs // 3600} hours"
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days"
    if days < 31:
        return f"{days // 7} weeks"
    return f"{days // 30} months" if days < 365 else f"{days // 365} years"


def command_of(config: Mapping[str, Any]) -> str | None:
    """Entrypoint then Cmd, joined by spaces (line breaks and tabs become spaces)."""
    parts: list[str] = []
    for name in ("Entrypoint", "Cmd"):
        value = config.get(name)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(str(v) for v in value)
    if not parts:
        return None
    return " ".join(parts).replace("\r\n", " ").replace("\n", " ").replace("\t", " ")


# --- one entry -----------------------------------------------------------------------------


def build_entry(
    engine: str,
    inspect: Mapping[str, Any],
    image: str,
    stats: tuple[Mapping[str, Any], float] | None,
    previous: Reading | None,
    now: datetime,
) -> tuple[dict[str, Any], Reading | None]:
    """The spec's entry for one container, and its reading (None: not running)."""
    state = inspect.get("State") or {}
    entry: dict[str, Any] = {
        "key": "name",
        "name": str(inspect.get("Name") or "").lstrip("/"),
        "id": inspect.get("Id"),
        "image": [image],
        "command": command_of(inspect.get("Config") or {}),
        "created": inspect.get("Created"),
        "status": state.get("Status"),
        "uptime": None,
        "engine": engine,
        "cpu": {},
        "cpu_percent": None,
        "memory": {},
        "memory_usage": None,
        "memory_limit": None,
        "memory_inactive_file": None,
        "memory_percent": None,
        "io": {},
        "io_rx": None,
        "io_wx": None,
        "network": {},
        "network_rx": None,
        "network_tx": None,
    }
    if stats is None:
        return entry, None
    body, ts = stats
    reading = reading_of(body, ts)
    usable = previous if previous is not None and previous.ts < ts else None
    elapsed = ts - usable.ts if usable is not None else 0.0
    total = cpu_percent(reading, usable, online_cpus(body))
    entry["cpu"] = {"total": total}
    entry["cpu_percent"] = total
    memory = memory_of(body)
    entry["memory"] = memory
    entry["memory_usage"] = memory.get("usage")
    entry["memory_limit"] = memory.get("limit")
    entry["memory_inactive_file"] = memory.get("inactive_file")
    if reading.io is not None:
        _cumulative(entry, "io", reading.io, usable.io if usable else None, elapsed)
    if reading.net is not None:
        _cumulative(entry, "network", reading.net, usable.net if usable else None, elapsed)
    entry["uptime"] = pretty_date(str(state.get("StartedAt") or ""), now)
    return entry, reading


# --- one engine ----------------------------------------------------------------------------


class _Api:
    """GETs on one engine, each with what is left of the engine's budget as timeout."""

    def __init__(self, client: httpx.Client, deadline: float) -> None:
        self.client, self.deadline = client, deadline

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        import httpx

        left = self.deadline - time.monotonic()
        if left <= 0:
            raise EngineError(f"{path}: out of time")
        try:
            response = self.client.get(path, params=params, timeout=left)
        except httpx.HTTPError as exc:
            raise EngineError(f"{path}: {exc!r}") from exc
        if response.status_code == 404:
            raise NotFound(f"{path}: HTTP 404")
        if response.status_code != 200:
            raise EngineError(f"{path}: HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise EngineError(f"{path}: not JSON ({exc})") from exc


def _read_container(api: _Api, cid: str) -> tuple[Any, tuple[Any, float] | None] | None:
    """``(inspect, (stats, monotonic time) or None)``; None when the container is gone."""
    try:
        inspect = api.get(f"/containers/{cid}/json")
        if not isinstance(inspect, Mapping):
            raise EngineError(f"/containers/{cid}/json: not an object")
        if (inspect.get("State") or {}).get("Status") not in ACTIVE:
            return inspect, None
        body = api.get(f"/containers/{cid}/stats", {"stream": "false", "one-shot": "true"})
    except NotFound:
        return None  # removed since the listing
    if not isinstance(body, Mapping):
        raise EngineError(f"/containers/{cid}/stats: not an object")
    return inspect, (body, time.monotonic())


def _image_tags(api: _Api, image_id: str) -> str:
    body = api.get(f"/images/{image_id}/json")
    tags = body.get("RepoTags") if isinstance(body, Mapping) else None
    return ",".join(str(t) for t in tags or ())


def _pods(api: _Api, show_all: bool) -> dict[str, tuple[str | None, str | None]]:
    body = api.get(
        f"/{LIBPOD_VERSION}/libpod/containers/json", {"all": "true" if show_all else "false"}
    )
    pods: dict[str, tuple[str | None, str | None]] = {}
    for item in body if isinstance(body, list) else ():
        if isinstance(item, Mapping) and isinstance(item.get("Id"), str):
            pods[item["Id"]] = (item.get("Pod") or None, item.get("PodName") or None)
    return pods


def _probe(sock: str, deadline: float) -> None:
    """Connect once to the socket, closing it whatever happens: httpcore leaves the socket
    of a refused unix connection unclosed (a ResourceWarning), so a refusing or forbidden
    socket is caught here first."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(max(0.001, deadline - time.monotonic()))
            probe.connect(sock)
    except OSError as exc:
        raise EngineError(f"{sock}: {exc!r}") from exc


def read_engine(
    engine: str, sock: str, show_all: bool, deadline: float, previous: ContainersState
) -> EngineRound:
    """Read one engine within ``deadline`` (monotonic).  Raises :class:`EngineError` when
    the engine cannot list its containers."""
    import httpx

    _probe(sock, deadline)
    transport = httpx.HTTPTransport(uds=sock)
    limits = httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE)
    with httpx.Client(transport=transport, base_url="http://localhost", limits=limits) as client:
        api = _Api(client, deadline)
        listing = api.get("/containers/json", {"all": "true" if show_all else "false"})
        if not isinstance(listing, list):
            raise EngineError("/containers/json: not a list")
        ids: dict[str, str] = {}  # container id -> image id
        for item in listing:
            if isinstance(item, Mapping) and isinstance(item.get("Id"), str):
                ids[item["Id"]] = str(item.get("ImageID") or "")
        clock = time.monotonic()
        cached = {
            image: previous.images[(engine, image)]
            for image in set(ids.values())
            if (engine, image) in previous.images
            and clock - previous.images[(engine, image)][1] < IMAGE_TTL
        }
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=POOL_SIZE, thread_name_prefix=f"containers-{engine}"
        )
        try:
            containers = {cid: pool.submit(_read_container, api, cid) for cid in ids}
            images = {
                image: pool.submit(_image_tags, api, image)
                for image in set(ids.values()) - set(cached)
                if image
            }
            pods = pool.submit(_pods, api, show_all) if engine == "podman" else None
            waited: list[concurrent.futures.Future[Any]] = [*containers.values(), *images.values()]
            if pods is not None:
                waited.append(pods)
            concurrent.futures.wait(waited, timeout=max(0.0, deadline - time.monotonic()))
        finally:
            # requests still running end by the deadline (their timeout); queued ones go
            pool.shutdown(wait=True, cancel_futures=True)
    return _assemble(engine, ids, containers, images, cached, pods, previous)


def _outcome(future: concurrent.futures.Future[Any] | None) -> tuple[Any, str | None]:
    """``(result, None)``, or ``(None, why)`` when it failed, was cancelled or did not end
    (the pool is shut down first, so a future is done or cancelled)."""
    if future is None:
        return None, "not asked"
    if not future.done() or future.cancelled():
        return None, "no answer within the budget"
    if (exc := future.exception()) is not None:
        # an engine's odd answer (a list where a dict belongs) is that request's miss
        return None, str(exc) if isinstance(exc, EngineError) else f"unexpected answer: {exc!r}"
    return future.result(), None


def _assemble(
    engine: str,
    ids: Mapping[str, str],
    containers: Mapping[str, concurrent.futures.Future[Any]],
    images: Mapping[str, concurrent.futures.Future[str]],
    cached: Mapping[str, tuple[str, float]],
    pods: concurrent.futures.Future[Any] | None,
    previous: ContainersState,
) -> EngineRound:
    clock, now = time.monotonic(), datetime.now(UTC)
    known = dict(cached)
    for image, future in images.items():
        tags, why = _outcome(future)
        if why is None:
            known[image] = (tags, clock)
        else:
            log.debug("containers: %s image %s: %s", engine, image, why)
    pod_of, why = _outcome(pods)
    if why is not None and pods is not None:
        log.debug("containers: %s pods: %s", engine, why)
    out = EngineRound([], {}, {(engine, i): v for i, v in known.items()}, {})
    for cid, future in containers.items():
        result, why = _outcome(future)
        if why is not None:
            out.missed[cid] = why
            continue
        if result is None:
            continue  # removed since the listing
        inspect, stats = result
        tags = known.get(ids[cid], ("", 0.0))[0]
        image = tags or str((inspect.get("Config") or {}).get("Image") or "")
        key = (engine, cid)
        try:
            entry, reading = build_entry(
                engine, inspect, image, stats, previous.readings.get(key), now
            )
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            out.missed[cid] = f"unexpected answer: {exc!r}"
            continue
        if engine == "podman":
            entry["pod_id"], entry["pod_name"] = (pod_of or {}).get(cid, (None, None))
        if reading is not None:
            out.readings[key] = reading
        out.entries.append(entry)
    return out


# --- the sampler ---------------------------------------------------------------------------


def _sort_key(entry: Mapping[str, Any]) -> tuple[float, float, str]:
    return (-(entry["cpu_percent"] or 0.0), -(entry["memory_usage"] or 0), entry["name"])


def sample_containers(
    previous: ContainersState | None, ctx: SampleContext
) -> tuple[dict[str, Any], ContainersState]:
    previous = previous or ContainersState()
    options = ctx.config.plugins["containers"].options
    socks = {"docker": str(options["docker_sock"]), "podman": str(options["podman_sock"])}
    present = []
    for engine in ENGINES:
        if not socks[engine]:
            continue
        if not os.path.exists(socks[engine]):
            log.debug("containers: no %s socket at %s", engine, socks[engine])
            continue
        present.append(engine)
    if not present:
        return {"containers": PLUGINS["containers"].empty()}, ContainersState()

    budget = float(options["engine_timeout"])
    deadline = time.monotonic() + budget
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=len(present), thread_name_prefix="containers"
    )
    try:
        futures = {
            engine: pool.submit(
                read_engine, engine, socks[engine], bool(options["all"]), deadline, previous
            )
            for engine in present
        }
        concurrent.futures.wait(futures.values(), timeout=budget + GRACE)
    finally:
        # an engine thread that overstays (a server trickling bytes) is not waited for
        pool.shutdown(wait=False, cancel_futures=True)

    entries: list[dict[str, Any]] = []
    readings: dict[Key, Reading] = {}
    images: dict[Key, tuple[str, float]] = {}
    troubled: set[str] = set()
    for engine in present:
        future = futures[engine]
        carried = [k for k in previous.readings if k[0] == engine]
        fault: str | None = None
        if not future.done():
            fault = f"no answer within {budget:g} s"
        elif (exc := future.exception()) is not None:
            # one engine's failure, whatever it is, never costs the other's containers
            fault = str(exc) if isinstance(exc, EngineError) else f"unexpected: {exc!r}"
        else:
            got: EngineRound = future.result()
            entries.extend(got.entries)
            readings.update(got.readings)
            images.update(got.images)
            carried = [k for k in carried if k[1] in got.missed]
            if got.missed:
                cid, why = next(iter(got.missed.items()))
                fault = f"{len(got.missed)} container(s) left out ({cid[:12]}: {why})"
        for key in carried:  # a container not read this round keeps its last reading
            readings.setdefault(key, previous.readings[key])
        if fault is None:
            if engine in previous.troubled:
                log.info("containers: the %s engine answers again", engine)
            continue
        for key, image in previous.images.items():
            if key[0] == engine:
                images.setdefault(key, image)
        troubled.add(engine)
        if engine in previous.troubled:
            log.debug("containers: %s engine (%s): %s", engine, socks[engine], fault)
        else:
            log.warning("containers: %s engine (%s) left out: %s", engine, socks[engine], fault)
    entries.sort(key=_sort_key)
    state = ContainersState(readings, images, frozenset(troubled))
    return {"containers": entries}, state


SAMPLERS = [SamplerSpec("containers", ("containers",), sample_containers)]
