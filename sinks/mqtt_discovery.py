"""Home Assistant MQTT discovery for the MQTT sink (``[mqtt.homeassistant]``, ``docs/mqtt.md``).

One Home Assistant *device* per host, and one entity per value worth a graph: CPU %,
load, memory, swap, per mount used % and free, per interface rx/tx rate, per disk
read/write rate, each sensor (temperature, fan, battery), process counts, uptime, and a
``problem`` binary sensor that is on while an alert is ongoing.

Every entity reads a topic the sink really publishes: in ``per-plugin`` structure the
plugin's JSON object with a ``value_template`` that picks the field
(``{{ value_json['/'].percent }}``), in ``per-metric`` structure the field's own topic,
no template.  Entities come from the plugin's latest data, so an interface that appears
gets its entities and one that disappears loses them (the sink then publishes an empty
retained config, which makes Home Assistant delete the entity).

Everything here is pure: topics and payloads as functions of the data, no I/O.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline import __version__
from sinks.mqtt_layout import PER_PLUGIN, Layout, export_data, sanitise

#: Home Assistant's pre-0.113 birth topic, still configured by some installations
LEGACY_STATUS_TOPIC = "hass/status"
#: expire_after is this many refresh intervals of the plugin (a crash backstop; the will
#: ``offline`` is the main signal)
EXPIRE_INTERVALS = 3
#: Home Assistant's birth payload; anything else on a status topic is ignored
BIRTH_PAYLOAD = b"online"

_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT = _IDENT_START | frozenset("0123456789")
#: names that ``value_json.<name>`` would resolve to a dict method, not the key
_DICT_ATTRIBUTES = frozenset(dir(dict))
_JINJA_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "if", "else", "true", "false"})


@dataclass(frozen=True, slots=True)
class Field:
    """One entity of a plugin: ``field`` of the plugin (or of each of its items)."""

    field: str
    #: the entity's name; ``{}`` is replaced by the item's key (mount, interface, ...)
    name: str
    unit: str | None = None
    device_class: str | None = None
    icon: str | None = None


#: the entities of each plugin; list plugins get them once per item
FIELDS: dict[str, tuple[Field, ...]] = {
    "cpu": (Field("total", "CPU usage", "%", icon="mdi:cpu-64-bit"),),
    "load": (
        Field("min1", "Load (1 min)", icon="mdi:gauge"),
        Field("min5", "Load (5 min)", icon="mdi:gauge"),
        Field("min15", "Load (15 min)", icon="mdi:gauge"),
    ),
    "mem": (
        Field("percent", "Memory usage", "%", icon="mdi:memory"),
        Field("used", "Memory used", "B", "data_size", icon="mdi:memory"),
    ),
    "memswap": (Field("percent", "Swap usage", "%", icon="mdi:harddisk"),),
    "fs": (
        Field("percent", "Disk {} used", "%", icon="mdi:harddisk"),
        Field("free", "Disk {} free", "B", "data_size", icon="mdi:harddisk"),
    ),
    "network": (
        Field("bytes_recv_rate_per_sec", "{} receive rate", "B/s", "data_rate"),
        Field("bytes_sent_rate_per_sec", "{} send rate", "B/s", "data_rate"),
    ),
    "diskio": (
        Field("read_bytes_rate_per_sec", "Disk {} read rate", "B/s", "data_rate"),
        Field("write_bytes_rate_per_sec", "Disk {} write rate", "B/s", "data_rate"),
    ),
    "processcount": (
        Field("running", "Processes running", icon="mdi:cpu-64-bit"),
        Field("total", "Processes total", icon="mdi:cpu-64-bit"),
    ),
    "uptime": (Field("seconds", "Uptime", "s", "duration"),),
    # unit and device class per item: see _sensor_field
    "sensors": (Field("value", "{}"),),
}

#: sensors' ``type`` → (device_class, unit when the item's own is not understood)
_SENSOR_TYPES: dict[str, tuple[str | None, str | None]] = {
    "temperature_core": ("temperature", "°C"),
    "temperature_hdd": ("temperature", "°C"),
    "fan_speed": (None, "rpm"),
    "battery": ("battery", "%"),
}
_SENSOR_UNITS = {"C": "°C", "F": "°F", "R": "rpm", "%": "%"}


def slug(text: str) -> str:
    """An id part from ``[A-Za-z0-9_-]``: the text itself when it is one already, else
    its sanitised form and a short hash of it (so ``/mnt/a b`` and ``/mnt/a_b`` differ)."""
    if text and all(c in _IDENT or c == "-" for c in text):
        return text
    clean = sanitise(text).strip("_") or "root"
    return f"{clean}_{hashlib.sha1(text.encode('utf-8')).hexdigest()[:6]}"


def template_path(path: list[str]) -> str:
    """``{{ value_json.a['b c'] }}``: attribute syntax where it is safe, else subscript."""
    out = "value_json"
    for part in path:
        if (
            part
            and part[0] in _IDENT_START
            and all(c in _IDENT for c in part)
            and part not in _DICT_ATTRIBUTES
            and part not in _JINJA_KEYWORDS
        ):
            out += f".{part}"
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            escaped = escaped.replace("\n", "\\n").replace("\r", "\\r")
            out += f"['{escaped}']"
    return "{{ " + out + " }}"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _sensor_field(item: Mapping[str, Any]) -> Field:
    device_class, unit = _SENSOR_TYPES.get(str(item.get("type")), (None, None))
    unit = _SENSOR_UNITS.get(str(item.get("unit")), unit)
    if device_class == "temperature" and unit not in ("°C", "°F"):
        device_class = None
    return Field("value", "{}", unit, device_class, None if device_class else "mdi:fan")


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity of one sample: where its value lives and how to describe it."""

    plugin: str
    #: the item's key value (mount point, interface, ...); ``None`` for dict plugins
    item: str | None
    spec: Field

    @property
    def object_id(self) -> str:
        parts = [self.plugin] + ([slug(self.item)] if self.item is not None else [])
        return "_".join([*parts, self.spec.field])

    @property
    def column(self) -> list[str]:
        """The flattened column, split on ``.`` as both layouts do."""
        name = self.spec.field if self.item is None else f"{self.item}.{self.spec.field}"
        return name.split(".")


def entities(plugin: str, data: Any) -> Iterator[Entity]:
    """The entities one sample of ``plugin`` carries: a field that is a number (or
    ``None``, a value not known yet) in the published data."""
    specs = FIELDS.get(plugin)
    if not specs:
        return
    data = export_data(plugin, data)
    if isinstance(data, dict):
        for spec in specs:
            if spec.field in data and (data[spec.field] is None or _number(data[spec.field])):
                yield Entity(plugin, None, spec)
    elif isinstance(data, list):
        for item in data:
            if not isinstance(item, dict):
                continue
            key = item.get("key")
            if not isinstance(key, str) or item.get(key) is None:
                continue
            for spec in specs:
                value = item.get(spec.field, "")
                if value is None or _number(value):
                    if plugin == "sensors":
                        spec = _sensor_field(item)
                    yield Entity(plugin, str(item[key]), spec)


class Discovery:
    """Discovery topics and payloads for one ``[mqtt]`` configuration and host."""

    def __init__(
        self,
        layout: Layout,
        *,
        prefix: str,
        device: str,
        status_topic: str = "",
        expire_after: Mapping[str, float] | None = None,
        alerts: bool = True,
    ) -> None:
        self.layout = layout
        self.prefix = prefix
        #: the node id level of every config topic, and the device identifier
        self.node_id = f"statbus_{slug(device)}"
        self.status_topics = tuple(
            dict.fromkeys([status_topic or f"{prefix}/status", LEGACY_STATUS_TOPIC])
        )
        self._expire = {p: math.ceil(EXPIRE_INTERVALS * s) for p, s in (expire_after or {}).items()}
        self.alerts = alerts
        self.device = {
            "identifiers": [self.node_id],
            "name": device,
            "manufacturer": "statbus",
            "model": "statbus host monitor",
            "sw_version": __version__,
        }
        self._origin = {"name": "statbus", "sw": __version__}

    def config_topic(self, component: str, object_id: str) -> str:
        return f"{self.prefix}/{component}/{self.node_id}/{object_id}/config"

    def _common(self, object_id: str) -> dict[str, Any]:
        return {
            "unique_id": f"{self.node_id}_{object_id}",
            "availability_topic": self.layout.availability,
            "device": self.device,
            "origin": self._origin,
        }

    def sensor_config(self, entity: Entity) -> tuple[str, bytes]:
        """``(config topic, retained config payload)`` of one sensor."""
        spec = entity.spec
        config: dict[str, Any] = {
            "name": spec.name.format(entity.item) if entity.item is not None else spec.name,
            **self._common(entity.object_id),
        }
        if self.layout.structure == PER_PLUGIN:
            config["state_topic"] = f"{self.layout.base}/{entity.plugin}"
            config["value_template"] = template_path(entity.column)
        else:
            parts = "/".join(sanitise(p) for p in entity.column)
            config["state_topic"] = f"{self.layout.base}/{entity.plugin}/{parts}"
        config["state_class"] = "measurement"
        if spec.unit is not None:
            config["unit_of_measurement"] = spec.unit
        if spec.device_class is not None:
            config["device_class"] = spec.device_class
        if spec.icon is not None:
            config["icon"] = spec.icon
        expire = self._expire.get(entity.plugin)
        if expire:
            config["expire_after"] = expire
        return self.config_topic("sensor", entity.object_id), orjson.dumps(config)

    def alert_config(self) -> tuple[str, bytes]:
        """The ``problem`` binary sensor: on while the retained events list has an
        ongoing event (``end`` -1), with the ongoing events as attributes."""
        ongoing = "value_json | selectattr('end', 'eq', -1) | list"
        config = {
            "name": "Alert",
            **self._common("alert"),
            "state_topic": self.layout.alert,
            "value_template": "{{ 'ON' if (" + ongoing + ") else 'OFF' }}",
            "json_attributes_topic": self.layout.alert,
            "json_attributes_template": "{{ {'events': " + ongoing + "} | tojson }}",
            "device_class": "problem",
        }
        return self.config_topic("binary_sensor", "alert"), orjson.dumps(config)

    def configs_of(self, found: list[Entity]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for entity in found:
            topic, payload = self.sensor_config(entity)
            out.setdefault(topic, payload)  # two items with one key: the first wins
        return out

    def is_birth(self, topic: str, payload: bytes) -> bool:
        """Home Assistant's birth message: exactly ``online`` on one of the status topics
        (as Home Assistant sends it; ``Online``, `` online``, JSON are not)."""
        return topic in self.status_topics and payload == BIRTH_PAYLOAD


#: a message of the sink: ``(topic, payload, qos, retain)``
Message = tuple[str, bytes, int, bool]


class Tracker:
    """What the sink announced and what it must send: the current configs per plugin,
    the configs waiting to go (``b""`` deletes), the config topics the broker may hold
    retained, and the latest state messages to send again after an announcement."""

    def __init__(self, discovery: Discovery) -> None:
        self.discovery = discovery
        self.configs: dict[str, dict[str, bytes]] = {}
        if discovery.alerts:
            self.configs["alert"] = dict([discovery.alert_config()])
        #: config topic → payload, in order; ``b""`` deletes the entity
        self.pending: dict[str, bytes] = {}
        #: config topics handed to the broker non-empty, and not deleted since
        self.retained: set[str] = set()
        self._last_state: dict[str, list[Message]] = {}
        #: the entities of each plugin's last sample (configs are built only on change)
        self._entities: dict[str, list[Entity]] = {}
        self._restate: set[str] = set()

    def current(self) -> dict[str, bytes]:
        return {t: p for configs in self.configs.values() for t, p in configs.items()}

    def sample(self, plugin: str, data: Any, messages: list[Message]) -> bool:
        """Note one sample and what the sink publishes of it; ``True`` when entities
        appeared, disappeared or changed (their configs are then pending)."""
        if plugin != "alert" and plugin not in FIELDS:
            return False
        self._last_state[plugin] = messages
        if plugin == "alert":
            return False
        found = list(entities(plugin, data))
        if found == self._entities.get(plugin):
            return False
        self._entities[plugin] = found
        new = self.discovery.configs_of(found)
        old = self.configs.get(plugin, {})
        if new == old:
            return False
        self.configs[plugin] = new
        for topic in old.keys() - new.keys():
            self.pending[topic] = b""
        for topic, payload in new.items():
            if old.get(topic) != payload:
                self.pending[topic] = payload
        self._restate.add(plugin)
        return True

    def announce(self, *, restate: bool) -> None:
        """Everything again: every current config and an empty one for every entity
        gone since it was announced; with ``restate`` (Home Assistant restarted and
        lost its states) the latest state of every plugin after them."""
        current = self.current()
        for topic in self.retained - current.keys():
            self.pending[topic] = b""
        self.pending.update(current)
        if restate:
            self._restate.update(self._last_state)

    def sent(self, topic: str, payload: bytes) -> None:
        if payload:
            self.retained.add(topic)

    def acknowledged(self, topic: str, payload: bytes) -> None:
        if not payload and topic not in self.current():
            self.retained.discard(topic)

    def take_restate(self) -> list[Message]:
        """The latest state messages of the plugins whose entities were announced."""
        plugins, self._restate = self._restate, set()
        return [m for p in plugins for m in self._last_state.get(p, ())]
