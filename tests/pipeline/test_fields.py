"""Field metadata: it covers the spec and every field the samplers emit."""

from __future__ import annotations

import time
from typing import Any

from pipeline.plugins import FIELDS, PLUGINS, FieldInfo
from pipeline.samplers import all_samplers
from tests.pipeline.sampler_helpers import context

SPEC_PLUGINS = {
    "alert", "amps", "cloud", "connections", "containers", "core", "cpu", "diskio", "folders",
    "fs", "gpu", "help", "ip", "irq", "load", "mem", "memswap", "network", "now", "percpu",
    "ports", "processcount", "processlist", "programlist", "psutilversion", "quicklook",
    "raid", "sensors", "smart", "system", "uptime", "version", "vms", "wifi",
}  # fmt: skip


def test_every_spec_plugin_has_metadata() -> None:
    assert set(FIELDS) == SPEC_PLUGINS
    assert set(PLUGINS) <= set(FIELDS)


def test_entries_read_as_the_spec_and_the_reference_answer() -> None:
    assert FIELDS["diskio"]["read_bytes"] == FieldInfo("Number of bytes read.", "byte", rate=True)
    assert FIELDS["diskio"]["read_bytes_rate_per_sec"].unit == "byte per second"
    assert FIELDS["diskio"]["read_bytes_gauge"].rate is False
    assert FIELDS["network"]["interface_name"].unit == ""  # "None" in the spec
    assert FIELDS["mem"]["percent"].unit == "percent"
    assert FIELDS["cpu"]["time_since_update"].unit == "seconds"


def test_rate_marks_exactly_the_counters_with_rate_siblings() -> None:
    for plugin, fields in FIELDS.items():
        for name, info in fields.items():
            has_siblings = f"{name}_rate_per_sec" in fields and f"{name}_gauge" in fields
            assert info.rate == has_siblings, f"{plugin}.{name}"
            assert info.description.endswith("."), f"{plugin}.{name}"
            if name.endswith("_rate_per_sec"):
                assert info.unit.endswith(" per second"), f"{plugin}.{name}"


def test_every_field_the_samplers_emit_is_described() -> None:
    ctx = context()
    firsts = {spec.name: spec.sample(None, ctx)[1] for spec in all_samplers()}
    time.sleep(0.1)
    emitted: dict[str, set[str]] = {}
    for spec in all_samplers():
        data, _ = spec.sample(firsts[spec.name], ctx)
        for plugin, value in data.items():
            entries: list[Any] = (
                value
                if isinstance(value, list)
                else list(value.values())
                if plugin == "raid"  # keyed by array
                else [value]
            )
            for entry in entries:
                if isinstance(entry, dict):
                    emitted.setdefault(plugin, set()).update(entry)
    assert set(emitted) >= {"cpu", "network", "processlist", "programlist", "quicklook"}
    for plugin, names in emitted.items():
        missing = names - set(FIELDS[plugin]) - {"key"}
        if plugin == "smart":  # attribute ids, disk by disk
            missing = {n for n in missing if not n.isdigit()}
        assert not missing, f"{plugin}: no description for {sorted(missing)}"
