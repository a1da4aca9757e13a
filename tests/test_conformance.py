"""Conformance with the specification: every documented Linux field of every plugin
statbus implements is present, with a sensible type, in the live ``/api/4/all``.

The spec is ``tests/spec/glances-api-v4.rst`` (or ``$STATBUS_SPEC``): a copy of the
project's ``../shared/spec/glances-api-v4.rst``, kept in the repository so that a
checkout alone runs the tests; a test checks the copy against the original when the
original sits beside the checkout.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.plugins import PLUGINS
from tests.conftest import LiveStatbus

SPEC_COPY = Path(__file__).resolve().parent / "spec" / "glances-api-v4.rst"
SPEC_ORIGINAL = Path(__file__).resolve().parents[2] / "shared" / "spec" / "glances-api-v4.rst"
SPEC = Path(os.environ.get("STATBUS_SPEC", SPEC_COPY))
SECTION = re.compile(r"^GET (\w+)\n-+\n", re.M)
FIELD = re.compile(r"^\* \*\*(\w+)\*\*: (.*?)(?: \(unit is \*(.+?)\*(?: per second)?\))?$", re.M)
PLATFORM = re.compile(r"^\*\(([^)]*)\)\*")

# Documented, but only filled when a feature is switched on (public IP lookup).
NOT_ON_BY_DEFAULT = {("ip", "public_address"), ("ip", "public_info_human")}
# Documented numbers that may legitimately be null on a given machine.
NULLABLE = {
    ("sensors", "warning"),
    ("sensors", "critical"),
    ("quicklook", "cpu_hz"),
    ("quicklook", "cpu_hz_current"),
    ("ip", "gateway"),
    ("processlist", "nice"),
    ("programlist", "nice"),
}
# Where the spec's own example contradicts its unit, the example (what clients see) wins:
# programlist entries aggregate processes and carry "pid": "_".
EXAMPLE_VALUES = {("programlist", "pid"): "_"}
# programlist fields that read "_" when the program's processes differ in them
MIXED = {("programlist", f) for f in ("username", "nice", "status", "gids")}
NUMBER_UNITS = {
    "percent",
    "float",
    "int",
    "number",
    "byte",
    "bytes",
    "seconds",
    "second",
    "hertz",
    "timestamp",
    "bitpersecond",
    "celsius",
    "roundperminute",
    "megabyte",
    "numberpersecond",
}


def parse_spec(text: str) -> dict[str, dict[str, tuple[str, str]]]:
    """``{plugin: {field: (description, unit)}}`` from the "Fields descriptions" lists."""
    out: dict[str, dict[str, tuple[str, str]]] = {}
    sections = list(SECTION.finditer(text))
    for i, match in enumerate(sections):
        end = sections[i + 1].start() if i + 1 < len(sections) else len(text)
        body = text[match.end() : end]
        if "Fields descriptions:" not in body:
            continue
        fields = out.setdefault(match.group(1), {})
        for f in FIELD.finditer(body):
            fields[f.group(1)] = (f.group(2), f.group(3) or "None")
    return out


def is_linux(description: str) -> bool:
    platform = PLATFORM.match(description)
    if platform is None:
        return True
    names = platform.group(1).lower()
    return "linux" in names or "unix" in names


def check_type(plugin: str, field: str, description: str, unit: str, value: Any) -> None:
    where = f"{plugin}.{field} = {value!r}"
    if (plugin, field) in EXAMPLE_VALUES:
        assert value == EXAMPLE_VALUES[plugin, field], where
        return
    if (plugin, field) in MIXED and value == "_":
        return  # a program whose processes differ in this field (docs/plugins.md)
    if value is None:
        assert (plugin, field) in NULLABLE or unit == "None", f"{where}: unexpected null"
        return
    if "(dict with" in description:
        assert isinstance(value, dict), where
    elif "(list with" in description or unit == "list":
        assert isinstance(value, list), where
    elif unit == "string":
        assert isinstance(value, str), where
    elif unit == "bool":
        assert isinstance(value, bool), where
    elif unit in NUMBER_UNITS:
        assert isinstance(value, int | float) and not isinstance(value, bool), where
        if unit == "percent":
            assert -0.001 <= value <= 100.0 * max(1, os.cpu_count() or 1), where


def test_spec_is_readable() -> None:
    spec = parse_spec(SPEC.read_text())
    assert {"cpu", "mem", "network", "fs", "processlist"} <= set(spec)
    assert spec["diskio"]["read_bytes"] == ("Number of bytes read", "byte")


@pytest.fixture(scope="module")
def all_stats(live: LiveStatbus) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{live.base}/all", timeout=10).json()
    return data


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_documented_linux_fields_are_served(plugin: str, all_stats: dict[str, Any]) -> None:
    spec = parse_spec(SPEC.read_text())
    documented = {
        f: meta
        for f, meta in spec.get(plugin, {}).items()
        if is_linux(meta[0]) and (plugin, f) not in NOT_ON_BY_DEFAULT
    }
    value = all_stats[plugin]
    if PLUGINS[plugin].kind == "value":
        assert isinstance(value, str) and value
        return
    entries = value if isinstance(value, list) else [value]
    if not entries:
        pytest.skip(f"{plugin}: this machine has nothing to report")
    for entry in entries:
        for field, (description, unit) in documented.items():
            assert field in entry, f"{plugin}.{field} missing from {sorted(entry)}"
            check_type(plugin, field, description, unit, entry[field])


@pytest.mark.skipif(not SPEC_ORIGINAL.exists(), reason="no ../shared beside this checkout")
def test_the_spec_copy_is_the_projects_spec() -> None:
    assert SPEC_COPY.read_bytes() == SPEC_ORIGINAL.read_bytes()
