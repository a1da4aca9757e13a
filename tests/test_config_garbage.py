"""Garbage in the configuration file (issue #9): every key of the effective
configuration given a value of the wrong type, a negative number, an unknown key next to
it; every section given a non-table, an array of tables where a table is expected and a
table where an array of tables is; unknown plugins; malformed TOML.  Each must stop
start-up with exit code 2 and ONE line on stderr naming the key (and, unless it is a
secret, the value) and why, never a traceback.

The cases are generated from the effective configuration (what ``statbus check-config``
prints, :func:`pipeline.config.to_toml`) and the schemas behind it, so that a key added
later is covered without editing this file.  Most run in-process through
``api.cli.main`` (fast); a few through the real command, for the exit code and the
stderr a user sees."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api import cli
from pipeline import config as cfg
from pipeline.checks import Option
from pipeline.plugins import ALIASED, OPTIONS, SAMPLED, amps, folders, option_schema, ports

STATBUS = [sys.executable, "-m", "api.cli"]
#: the effective configuration of the built-in defaults, as check-config prints it
EFFECTIVE: dict[str, Any] = tomllib.loads(cfg.to_toml(cfg.load(), redact=False))
#: the arrays of tables among the plugin options: (section, key) -> (entry schema, the
#: required keys with valid values)
TABLE_LISTS: dict[tuple[str, str], tuple[dict[str, Option], dict[str, Any]]] = {
    ("ports", "port"): (ports.PORT_TARGET, {"host": "192.0.2.1"}),
    ("folders", "folder"): (folders.FOLDER, {"path": "/tmp"}),
    ("amps", "amp"): (amps.AMP, {"name": "a", "regex": "x"}),
}
WEBHOOK_REQUIRED = {"url": "http://127.0.0.1:9/hook"}
#: values that are shown as ******** (never quoted back in an error)
SECRET_KEYS = {"api.password", "mqtt.password", "webhooks[0].secret", "webhooks[0].headers"}


# -- writing the cases as TOML -------------------------------------------------------


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else cfg.toml_value(key)


def toml(value: Any) -> str:
    """``value`` as TOML (inline tables and arrays of them included)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return cfg.toml_value(value)


def bad_values(default: Any) -> list[Any]:
    """Values of the wrong type (and, for numbers, out of range) for a key whose
    default (or example) is ``default``; ``None``: an optional number."""
    if isinstance(default, bool):
        return ["yes", 1, 0.5, [], {}]
    if default is None or isinstance(default, int | float):
        # negative, not a number, infinite, and the wrong types
        return [-1, -0.5, math.nan, math.inf, "5", True, [1], {"a": 1}]
    if isinstance(default, str):
        return [5, True, 1.5, ["a"], {"a": "b"}]
    if isinstance(default, list | tuple):
        return ["x", 5, True, {"a": 1}, [[1]], [{"a": 1}]]
    if isinstance(default, dict):  # a sub-table
        return [5, "x", [1], [{}]]
    raise AssertionError(f"no bad values for {default!r}")


@dataclass(frozen=True)
class Case:
    """One key and the TOML that gives it ``value``; ``key``: how the error names it."""

    key: str
    value: Any
    text: str

    @property
    def id(self) -> str:
        return f"{self.key}={self.value!r}"


def section_text(section: str, body: dict[str, Any]) -> str:
    return f"[{section}]\n" + "".join(f"{toml_key(k)} = {toml(v)}\n" for k, v in body.items())


def key_cases() -> Iterator[tuple[str, list[Case]]]:
    """Every key: ``(dotted key, its cases)``."""
    for section, body in EFFECTIVE.items():
        keys = dict(body)
        if section in ALIASED:
            keys["alias"] = ""  # only shown when set; a string or a table
        for key, default in keys.items():
            if isinstance(default, dict):  # [mqtt.homeassistant]
                sub = f"{section}.{key}"
                for k, d in default.items():
                    values = bad_values(d)
                    yield (
                        f"{sub}.{k}",
                        [Case(f"{sub}.{k}", v, section_text(sub, {k: v})) for v in values],
                    )
                continue
            if (section, key) in TABLE_LISTS:
                schema, required = TABLE_LISTS[(section, key)]
                for k, option in schema.items():
                    full = f"{section}.{key}[0].{k}"
                    values = bad_values(option.default)
                    if k == "regex":  # a regex or a list of them
                        values = [5, True, [], [5], {"a": 1}, "(", ["("]]
                    yield (
                        full,
                        [
                            Case(full, v, section_text(section, {key: [{**required, k: v}]}))
                            for v in values
                        ],
                    )
                continue
            values = bad_values(default)
            if key == "alias":
                values = [5, True, ["a:b"], {"a": 5}, "no-colon"]
            yield (
                f"{section}.{key}",
                [Case(f"{section}.{key}", v, section_text(section, {key: v})) for v in values],
            )
    for key, default in _webhook_defaults().items():
        full = f"webhooks[0].{key}"
        values = bad_values(default)
        yield (
            full,
            [
                Case(full, v, section_text("[webhooks]", {**WEBHOOK_REQUIRED, key: v}))
                for v in values
            ],
        )


def _webhook_defaults() -> dict[str, Any]:
    hook = cfg.WebhookConfig(url=WEBHOOK_REQUIRED["url"])
    out = {}
    for key in cfg.WEBHOOK_SCHEMA:
        value = getattr(hook, key)
        out[key] = dict(value) if key == "headers" else value
    return out


def structure_cases() -> Iterator[Case]:
    """Whole sections and tables of the wrong kind; unknown keys, sections, plugins."""
    for section in [*EFFECTIVE, "mqtt.homeassistant"]:
        for value in (5, "x", True, [1, 2]):
            head, _, last = section.rpartition(".")
            text = f"[{head}]\n{last} = {toml(value)}\n" if head else f"{section} = {toml(value)}\n"
            yield Case(section, value, text)
        yield Case(section, [{"refresh": 1}], f"[[{section}]]\nrefresh = 1\n")
        unknown = f"{section}.no_such_key"
        yield Case(unknown, 1, f"[{section}]\nno_such_key = 1\n")
    # arrays of tables: a table, a scalar, an array of scalars
    for section, key in TABLE_LISTS:
        _, required = TABLE_LISTS[(section, key)]
        full = f"{section}.{key}"
        yield Case(full, required, section_text(full, required))
        yield Case(full, 5, section_text(section, {key: 5}))
        yield Case(f"{full}[0]", 5, section_text(section, {key: [5]}))
        yield Case(f"{full}[0].nokey", 1, section_text(section, {key: [{**required, "nokey": 1}]}))
        first = next(iter(required))
        yield Case(f"{full}[0].{first}", None, f"[[{full}]]\nrefresh = 5\n")  # required
    yield Case("webhooks", WEBHOOK_REQUIRED, section_text("webhooks", WEBHOOK_REQUIRED))
    yield Case("webhooks", 5, "webhooks = 5\n")
    yield Case("webhooks[0]", 5, "webhooks = [5]\n")
    yield Case("webhooks[0].url", None, "[[webhooks]]\nname = 'x'\n")
    yield Case("webhooks[0].nokey", 1, section_text("[webhooks]", {**WEBHOOK_REQUIRED, "nokey": 1}))
    # unknown plugins: as a section, in the MQTT lists, in quicklook's list
    yield Case("nosuchplugin", {"disable": True}, "[nosuchplugin]\ndisable = true\n")
    yield Case("mqtt.plugins", "nosuchplugin", "[mqtt]\nplugins = ['cpu', 'nosuchplugin']\n")
    yield Case("mqtt.exclude", "nosuchplugin", "[mqtt]\nexclude = ['nosuchplugin']\n")
    yield Case("quicklook.list", "gpu", "[quicklook]\nlist = ['cpu', 'gpu']\n")
    # negative intervals where a value alone is fine but not together
    yield Case("global.retry_max", 0.5, "[global]\nretry_initial = 1\nretry_max = 0.5\n")


MALFORMED = {
    "unclosed table": "[api\nport = 1\n",
    "no value": "[api]\nport =\n",
    "duplicate key": "[api]\nport = 1\nport = 2\n",
    "duplicate table": "[api]\nport = 1\n[api]\nbind = 'x'\n",
    "bad escape": '[api]\nbind = "\\q"\n',
    "unterminated string": '[api]\nbind = "x\n',
    "bare word": "[api]\nbind = localhost\n",
    "table and array": "[api]\n[[api]]\n",
    "control character": "[api]\nbind = 'a\x01b'\n",
    "only garbage": "\x00\x01\x02 garbage",
    "json": '{"api": {"port": 1}}',
    "yaml": "api:\n  port: 1\n",
}


# -- running the command -------------------------------------------------------------


def run_main(
    tmp_path: Path, text: str | bytes, capsys: pytest.CaptureFixture[str]
) -> tuple[Any, str]:
    """``statbus check-config FILE`` in-process: (exit code, stderr); an exception
    escaping ``main`` is reported as the exit code (it would be a traceback)."""
    path = tmp_path / "bad.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    capsys.readouterr()
    try:
        code: Any = cli.main(["check-config", str(path)])
    except Exception as exc:  # noqa: BLE001 -- the point: nothing may escape
        code = f"traceback: {type(exc).__name__}: {str(exc)[:200]}"
    return code, capsys.readouterr().err


def assert_one_line_error(code: Any, err: str, key: str, value: Any = None) -> str:
    assert code == cli.EXIT_CONFIG, (code, err)
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), f"not one line: {err!r}"
    line = lines[0]
    assert line.startswith("statbus: config error: "), line
    assert line.isprintable(), f"control characters in: {line!r}"
    named = line.removeprefix("statbus: config error: ")
    assert named.startswith(f"{key} = ") or named.startswith(f"{key}: "), (key, line)
    if value is not None and key not in SECRET_KEYS and not isinstance(value, dict | list):
        assert repr(value) in line, (value, line)
    return line


KEY_CASES = dict(key_cases())


def test_the_cases_cover_every_key_of_every_schema() -> None:
    """Nothing of the schemas is left out of the generated cases."""
    keys = set(KEY_CASES)
    expected = {f"{s}.{k}" for s in ("global", "api", "alert", "mqtt") for k in cfg.SCHEMA[s]}
    expected -= {"mqtt.homeassistant"}
    expected |= {f"mqtt.homeassistant.{k}" for k in cfg.SCHEMA["mqtt.homeassistant"]}
    for plugin in SAMPLED:
        expected |= {f"{plugin}.{k}" for k in cfg.PLUGIN_SCHEMA}
        for key in option_schema(plugin):
            if (plugin, key) in TABLE_LISTS:
                schema, _ = TABLE_LISTS[(plugin, key)]
                expected |= {f"{plugin}.{key}[0].{k}" for k in schema}
            else:
                expected.add(f"{plugin}.{key}")
    expected |= {f"webhooks[0].{k}" for k in cfg.WEBHOOK_SCHEMA}
    assert expected <= keys, sorted(expected - keys)
    # and every array-of-tables option is known here as one: given [{}], a table list
    # names the entry ("x[0]...") in its error
    for plugin, options in OPTIONS.items():
        for key, option in options.items():
            try:
                option.check(f"{plugin}.{key}", [{}])
                names_entry = False
            except cfg.ConfigError as exc:
                names_entry = exc.key.startswith(f"{plugin}.{key}[0]")
            assert names_entry == ((plugin, key) in TABLE_LISTS), (plugin, key)


@pytest.mark.parametrize("key", sorted(KEY_CASES))
def test_every_key_refuses_values_of_the_wrong_type(
    key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for case in KEY_CASES[key]:
        code, err = run_main(tmp_path, case.text, capsys)
        assert_one_line_error(code, err, case.key, case.value)


@pytest.mark.parametrize("case", list(structure_cases()), ids=lambda c: c.id)
def test_sections_and_tables_of_the_wrong_kind_unknown_keys_and_plugins(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_main(tmp_path, case.text, capsys)
    value = case.value if isinstance(case.value, str) and case.value.startswith("nosuch") else None
    assert_one_line_error(code, err, case.key, value)


@pytest.mark.parametrize("text", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_toml(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(tmp_path, text, capsys)
    line = assert_one_line_error(code, err, "--config")
    assert "invalid TOML" in line and "line " in line, line  # where it went wrong


def test_a_file_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(tmp_path, b"[api]\nbind = '\xff\xfe'\n", capsys)
    assert_one_line_error(code, err, "--config")


# -- keys, values and files that once broke the one-line rule -------------------------


@pytest.mark.parametrize(
    "text",
    [
        '[global]\n"a\\nb" = 1\n',  # an unknown key
        '["a\\nb"]\nx = 1\n',  # an unknown section
        '[cpu]\n"a\\n_careful" = 1\n',  # an unknown plugin key
        '[[webhooks]]\nurl = "http://127.0.0.1:9/"\nheaders = {"a\\nb" = "c"}\n',
        '["\\u001b[2J\\u001b[31mred"]\nx = 1\n',  # an escape sequence
    ],
    ids=["global-key", "section", "plugin-key", "header-name", "ansi-escape"],
)
def test_control_characters_in_key_names(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_main(tmp_path, text, capsys)
    assert code == cli.EXIT_CONFIG, (code, err)
    assert len(err.splitlines()) == 1 and err.splitlines()[0].isprintable(), repr(err)


@pytest.mark.parametrize("nested", ["[" * 5000 + "]" * 5000, "{a=" * 3000 + "1" + "}" * 3000])
def test_deeply_nested_toml(
    nested: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_main(tmp_path, f"x = {nested}\n", capsys)
    line = assert_one_line_error(code, err, "--config")
    assert "invalid TOML" in line


def test_a_huge_value_is_quoted_short(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(tmp_path, f"[global]\nrefresh = '{'A' * 100_000}'\n", capsys)
    assert_one_line_error(code, err, "global.refresh")
    assert len(err) < 1000, len(err)


# -- the real command: exit code and stderr as a user sees them -----------------------


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[global]\nrefresh = -5\n", "global.refresh = -5: must be between"),
        ("[mqtt.homeassistant]\nprefix = 5\n", "mqtt.homeassistant.prefix = 5: must be a string"),
        ("[[ports.port]]\nhost = 'h'\nport = 'https'\n", "ports.port[0].port = 'https'"),
        ("[[cpu]]\ndisable = true\n", "cpu = [{'disable': True}]: must be a table"),
        ("[api\n", "invalid TOML"),
    ],
    ids=["negative", "sub-table", "table-list", "array-for-table", "malformed"],
)
def test_the_command_exits_2_with_one_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    for argv in (["--config", str(path)], ["check-config", str(path)]):
        out = subprocess.run([*STATBUS, *argv], capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, out.stderr
        assert out.stdout == ""
        lines = out.stderr.splitlines()
        assert len(lines) == 1 and needle in lines[0], out.stderr


def test_a_file_too_large_to_be_a_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # valid TOML (comments only), so only a size limit refuses it; /dev/zero is the
    # real case, not run here: without the limit it would take the machine's memory
    code, err = run_main(tmp_path, "# padding\n" * 500_000, capsys)
    line = assert_one_line_error(code, err, "--config")
    assert "larger than" in line, line
