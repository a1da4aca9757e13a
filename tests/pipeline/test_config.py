"""Configuration: defaults < file < flags, validation errors, effective-config output."""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pipeline import config as cfg
from pipeline.config import Config, ConfigError
from pipeline.plugins import PLUGINS, SAMPLED

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "config" / "statbus.toml"


def write(tmp_path: Path, text: str, name: str = "statbus.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        cfg.from_mapping(raw)
    return info.value


def assert_one_line(err: ConfigError) -> None:
    text = str(err)
    assert "\n" not in text and "\r" not in text
    assert text.startswith(f"config error: {err.key} = {err.value!r}: ")
    assert text.endswith(err.reason)


# --- defaults and precedence ---------------------------------------------------------------


def test_defaults() -> None:
    config = cfg.load()

    assert config == Config()
    assert config.source is None
    assert (config.global_.refresh, config.global_.sampler_timeout) == (2.0, 10.0)
    assert (config.global_.retry_initial, config.global_.retry_max) == (1.0, 60.0)
    assert (config.api.bind, config.api.port, config.api.url_prefix) == ("127.0.0.1", 61208, "")
    assert config.api.cors_origins == ("*",)
    assert config.enabled_plugins() == [p for p in PLUGINS if not PLUGINS[p].default_disable]
    # the reference ships these disabled: costly, privileged, or reaching a network service
    off = {p for p in SAMPLED if config.plugins[p].disable}
    assert off == {"cloud", "connections", "irq", "raid", "smart", "vms"}


def test_shipped_config_file_matches_the_built_in_defaults() -> None:
    """config/statbus.toml documents the defaults: loading it changes nothing."""
    config = cfg.load(SHIPPED_CONFIG)

    assert config.source == str(SHIPPED_CONFIG)
    assert config.as_dict(redact=False) == Config().as_dict(redact=False)
    assert config.enabled_plugins() == Config().enabled_plugins()


def test_precedence_defaults_then_file_then_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [global]
        refresh = 5
        log_level = "DEBUG"

        [api]
        port = 9000
        bind = "0.0.0.0"

        [fs]
        refresh = 30.0
        """,
    )

    config = cfg.load(path, overrides={"api.port": 9100, "global.log_level": "WARNING"})

    assert config.source == str(path)
    assert config.api.port == 9100  # flag beats file
    assert config.global_.log_level == "WARNING"  # flag beats file
    assert config.api.bind == "0.0.0.0"  # file beats default
    assert config.global_.refresh == 5.0 and isinstance(config.global_.refresh, float)
    assert config.api.username == "glances"  # untouched default
    assert config.global_.sampler_timeout == 10.0


def test_the_log_level_is_taken_in_any_case(tmp_path: Path) -> None:
    path = write(tmp_path, '[global]\nlog_level = "debug"\n')
    assert cfg.load(path).global_.log_level == "DEBUG"


def test_overrides_without_a_file() -> None:
    config = cfg.load(overrides={"api.bind": "::", "global.refresh": 0.5})

    assert config.source is None
    assert (config.api.bind, config.global_.refresh) == ("::", 0.5)


def test_from_mapping_overlays_on_a_base() -> None:
    base = cfg.from_mapping({"api": {"port": 9000}, "cpu": {"refresh": 1.0}})

    config = cfg.from_mapping({"api": {"bind": "::1"}}, base)

    assert (config.api.port, config.api.bind) == (9000, "::1")
    assert config.refresh_of("cpu") == 1.0
    assert base.api.bind == "127.0.0.1"  # the base itself is not changed


def test_refresh_own_key_then_reference_default_then_global() -> None:
    config = cfg.from_mapping({"global": {"refresh": 5}, "fs": {"refresh": 30}})

    assert config.refresh_of("cpu") == 5.0  # global
    assert config.refresh_of("fs") == 30.0  # its own key beats the reference's 60
    assert config.refresh_of("ip") == 60.0  # reference default beats global
    assert config.refresh_of("sensors") == 10.0
    assert config.refresh_of("version") == 3600.0


def test_timeout_own_key_then_global() -> None:
    config = cfg.from_mapping({"global": {"sampler_timeout": 4}, "fs": {"timeout": 30}})

    assert config.timeout_of("fs") == 30.0
    assert config.timeout_of("cpu") == 4.0


def test_disabled_plugins_leave_the_enabled_list() -> None:
    config = cfg.from_mapping({"percpu": {"disable": True}, "sensors": {"disable": True}})

    enabled = config.enabled_plugins()
    assert "percpu" not in enabled and "sensors" not in enabled
    assert enabled == [p for p in Config().enabled_plugins() if p not in ("percpu", "sensors")]
    # a plugin the reference ships disabled is enabled with disable = false
    assert "irq" in cfg.from_mapping({"irq": {"disable": False}}).enabled_plugins()


def test_config_is_frozen() -> None:
    config = cfg.load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.api.port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.global_ = cfg.GlobalConfig()  # type: ignore[misc]


# --- refusals ---------------------------------------------------------------------------------


def test_unknown_section() -> None:
    err = config_error({"cpux": {"refresh": 2}})

    assert err.key == "cpux"
    assert err.value == {"refresh": 2}
    assert err.reason.startswith("unknown section")
    assert "cpu" in err.reason and "global" in err.reason  # lists the known ones
    assert_one_line(err)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"global": {"refrsh": 2}}, "global.refrsh"),
        ({"api": {"prot": 80}}, "api.prot"),
        ({"cpu": {"interval": 2}}, "cpu.interval"),
    ],
)
def test_unknown_key(raw: dict[str, Any], key: str) -> None:
    err = config_error(raw)

    assert err.key == key
    assert err.reason.startswith("unknown key")
    assert_one_line(err)


def test_unknown_key_lists_the_known_ones() -> None:
    err = config_error({"global": {"refrsh": 2}})

    assert "refresh" in err.reason and "sampler_timeout" in err.reason


def test_section_must_be_a_table() -> None:
    err = config_error({"global": 5})

    assert (err.key, err.value) == ("global", 5)
    assert "table" in err.reason


WRONG_TYPES = [
    pytest.param("global.refresh", "2", "a number", id="string-for-number"),
    pytest.param("global.refresh", True, "a number", id="bool-for-number"),
    pytest.param("api.port", "8080", "an integer", id="string-for-port"),
    pytest.param("api.port", True, "an integer", id="bool-for-port"),
    pytest.param("api.port", 8080.0, "an integer", id="float-for-port"),
    pytest.param("api.enabled", 1, "true or false", id="number-for-bool"),
    pytest.param("api.enabled", "yes", "true or false", id="string-for-bool"),
    pytest.param("cpu.disable", 0, "true or false", id="number-for-plugin-bool"),
    pytest.param("api.bind", ["0.0.0.0"], "a string", id="list-for-string"),
    pytest.param("api.cors_origins", "*", "list of non-empty strings", id="string-for-list"),
    pytest.param("api.cors_origins", ["*", ""], "list of non-empty strings", id="empty-item"),
    pytest.param("global.log_level", "VERBOSE", "one of", id="not-a-choice"),
    pytest.param("global.log_level", "INFO\nDEBUG", "one of", id="newline-in-value"),
]


@pytest.mark.parametrize(("key", "value", "reason"), WRONG_TYPES)
def test_wrong_type(key: str, value: Any, reason: str) -> None:
    section, _, name = key.partition(".")

    err = config_error({section: {name: value}})

    assert (err.key, err.value) == (key, value)
    assert reason in err.reason
    assert_one_line(err)


OUT_OF_RANGE = [
    pytest.param("api.port", 70000, id="port-70000"),
    pytest.param("api.port", 65536, id="port-65536"),
    pytest.param("api.port", -1, id="port-negative"),
    pytest.param("global.refresh", 0, id="refresh-0"),
    pytest.param("global.refresh", -2.0, id="refresh-negative"),
    pytest.param("global.refresh", 0.05, id="refresh-below-0.1"),
    pytest.param("global.refresh", 86401, id="refresh-over-a-day"),
    pytest.param("global.refresh", math.nan, id="refresh-nan"),
    pytest.param("global.refresh", math.inf, id="refresh-inf"),
    pytest.param("global.sampler_timeout", 0, id="timeout-0"),
    pytest.param("global.retry_initial", 0, id="retry-initial-0"),
    pytest.param("cpu.refresh", 0, id="plugin-refresh-0"),
    pytest.param("fs.timeout", -1, id="plugin-timeout-negative"),
    pytest.param("api.gzip_min_size", -1, id="gzip-negative"),
]


@pytest.mark.parametrize(("key", "value"), OUT_OF_RANGE)
def test_out_of_range(key: str, value: Any) -> None:
    section, _, name = key.partition(".")

    err = config_error({section: {name: value}})

    assert err.key == key
    assert err.value == value or (math.isnan(value) and math.isnan(err.value))
    assert err.reason.startswith("must be between") or err.reason.startswith("must be at least")
    assert_one_line(err)


@pytest.mark.parametrize("port", [1, 80, 65535])
def test_port_bounds_accepted(port: int) -> None:
    assert cfg.from_mapping({"api": {"port": port}}).api.port == port


def test_port_0_is_accepted() -> None:
    """docs/configuration.md and config/statbus.toml: "port: 0-65535; 0 picks a free
    port (the printed URL says which)" -- and tests serve the API on port 0."""
    assert cfg.from_mapping({"api": {"port": 0}}).api.port == 0
    assert cfg.load(overrides={"api.port": 0}).api.port == 0


def test_overrides_are_validated_like_the_file() -> None:
    with pytest.raises(ConfigError) as info:
        cfg.load(overrides={"api.port": 70000})
    assert info.value.key == "api.port"

    with pytest.raises(ConfigError) as info:
        cfg.load(overrides={"api.prot": 80})
    assert info.value.key == "api.prot"


def test_retry_max_below_retry_initial() -> None:
    err = config_error({"global": {"retry_initial": 10, "retry_max": 5}})

    assert (err.key, err.value) == ("global.retry_max", 5.0)
    assert "retry_initial" in err.reason
    assert_one_line(err)


def test_retry_initial_above_the_default_retry_max() -> None:
    err = config_error({"global": {"retry_initial": 120}})

    assert err.key == "global.retry_max"


def test_retry_max_equal_to_retry_initial_is_fine() -> None:
    config = cfg.from_mapping({"global": {"retry_initial": 5, "retry_max": 5}})

    assert (config.global_.retry_initial, config.global_.retry_max) == (5.0, 5.0)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^config error: api\.port = 70000: "):
        cfg.from_mapping({"api": {"port": 70000}})


# --- files --------------------------------------------------------------------------------------


def test_malformed_toml_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = = 80\n")

    with pytest.raises(ConfigError) as info:
        cfg.load(path)

    err = info.value
    assert (err.key, err.value) == ("--config", str(path))
    assert err.reason.startswith("invalid TOML")
    assert "line 2" in err.reason
    assert_one_line(err)


def test_invalid_value_in_a_file_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = 70000\n")

    with pytest.raises(ConfigError) as info:
        cfg.load(path)

    assert (info.value.key, info.value.value) == ("api.port", 70000)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"

    with pytest.raises(ConfigError) as info:
        cfg.load(path)

    err = info.value
    assert (err.key, err.value) == ("--config", str(path))
    assert err.reason.startswith("cannot read the file")
    assert_one_line(err)


def test_directory_instead_of_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        cfg.load(tmp_path)

    assert info.value.key == "--config"
    assert info.value.reason.startswith("cannot read the file")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[api]\nusername = "José"\n'.encode("latin-1"))

    with pytest.raises(ConfigError) as info:
        cfg.load(path)

    assert info.value.key == "--config"
    assert info.value.reason.startswith("cannot read the file")
    assert_one_line(info.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_file_without_read_permission(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = 80\n")
    path.chmod(0)
    try:
        with pytest.raises(ConfigError) as info:
            cfg.load(path)
    finally:
        path.chmod(0o600)

    assert info.value.key == "--config"
    assert "cannot read the file" in info.value.reason


# --- url_prefix ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "effective"),
    [
        ("", ""),
        ("/", ""),
        ("/glances", "/glances"),
        ("/glances/", "/glances"),
        ("/glances///", "/glances"),
        ("/monitor/glances/", "/monitor/glances"),
    ],
)
def test_url_prefix_normalised(given: str, effective: str) -> None:
    assert cfg.from_mapping({"api": {"url_prefix": given}}).api.url_prefix == effective


@pytest.mark.parametrize("given", ["glances", "/a//b", "/a b", "http://host/glances"])
def test_url_prefix_refused(given: str) -> None:
    err = config_error({"api": {"url_prefix": given}})

    assert err.key == "api.url_prefix"
    assert "path like /glances" in err.reason
    assert_one_line(err)


def test_url_prefix_error_shows_the_value_as_written() -> None:
    err = config_error({"api": {"url_prefix": "glances/"}})

    assert err.value == "glances/"
    assert "'glances/'" in str(err)


# --- effective configuration output ---------------------------------------------------------


NON_DEFAULT = {
    "global": {
        "refresh": 0.5,
        "sampler_timeout": 3,
        "retry_initial": 0.25,
        "retry_max": 90,
        "strftime_format": '%H:%M "local" \\ ok',
        "log_level": "DEBUG",
    },
    "api": {
        "enabled": False,
        "bind": "::",
        "port": 8080,
        "url_prefix": "/glances/",
        "username": "admin ünïcode",
        "password": 's3cret "quoted" \\ back',
        "cors_origins": ["https://a.example", "https://b.example"],
        "gzip_min_size": 0,
    },
    "cpu": {"refresh": 1.0, "timeout": 2.5},
    "percpu": {"disable": True},
    "fs": {"refresh": 120},
}


def assert_same_effective_values(a: Config, b: Config) -> None:
    assert a.global_ == b.global_
    assert a.api == b.api
    assert a.enabled_plugins() == b.enabled_plugins()
    assert a.alert == b.alert
    for plugin in SAMPLED:
        assert (a.refresh_of(plugin), a.timeout_of(plugin)) == (
            b.refresh_of(plugin),
            b.timeout_of(plugin),
        ), plugin


def test_to_toml_parses_back_to_the_same_configuration() -> None:
    config = cfg.from_mapping(NON_DEFAULT)

    text = cfg.to_toml(config, redact=False)
    back = cfg.from_mapping(tomllib.loads(text))

    assert_same_effective_values(back, config)
    assert back.api.url_prefix == "/glances"
    assert back.api.password == 's3cret "quoted" \\ back'
    assert back.api.cors_origins == ("https://a.example", "https://b.example")
    assert back.refresh_of("cpu") == 1.0 and back.timeout_of("cpu") == 2.5
    assert back.refresh_of("mem") == 0.5 and back.timeout_of("mem") == 3.0
    assert back.refresh_of("fs") == 120.0 and back.refresh_of("ip") == 60.0


def test_to_toml_of_the_defaults_parses_back_to_the_defaults() -> None:
    assert_same_effective_values(cfg.from_mapping(tomllib.loads(cfg.to_toml(Config()))), Config())


def test_to_toml_redacts_the_password_by_default() -> None:
    config = cfg.from_mapping(NON_DEFAULT)

    text = cfg.to_toml(config)

    assert "s3cret" not in text
    parsed = tomllib.loads(text)
    assert parsed["api"]["password"] == cfg.REDACTED
    # Everything else is the effective value.
    assert parsed["api"]["username"] == "admin ünïcode"
    assert parsed["api"]["port"] == 8080
    assert parsed["global"]["refresh"] == 0.5
    assert parsed["percpu"]["disable"] is True
    assert parsed["fs"]["refresh"] == 120.0


@pytest.mark.parametrize(
    "value",
    ["%H:%M\n", "tab\there", "bell\x07", "del\x7f", "cr\rlf"],
    ids=["newline", "tab", "control", "del", "carriage-return"],
)
def test_to_toml_escapes_control_characters(value: str) -> None:
    """Any string the validator accepts must come out as valid TOML."""
    config = cfg.from_mapping({"global": {"strftime_format": value}})

    back = tomllib.loads(cfg.to_toml(config))

    assert back["global"]["strftime_format"] == value


def test_as_dict_sections_and_redaction() -> None:
    config = cfg.from_mapping({"api": {"password": "hunter2"}, "percpu": {"disable": True}})

    shown = config.as_dict()
    raw = config.as_dict(redact=False)

    assert list(shown) == ["global", "api", "alert", "mqtt", *SAMPLED]
    assert shown["api"]["password"] == cfg.REDACTED
    assert "hunter2" not in repr(shown)
    assert raw["api"]["password"] == "hunter2"
    assert shown["api"]["cors_origins"] == ["*"]
    # Plugin sections show the effective refresh and timeout.
    plain = {"hysteresis": 0.0, "hide": [], "show": []}
    assert shown["percpu"] == {
        "disable": True, "refresh": 2.0, "timeout": 10.0, **plain, "max_cpu_display": 4
    }  # fmt: skip
    assert shown["fs"] == {"disable": False, "refresh": 60.0, "timeout": 10.0, **plain, "allow": []}
    assert shown["global"]["refresh"] == 2.0


def test_as_dict_shows_an_empty_password_as_empty() -> None:
    # "no password" (no authentication) must stay distinguishable from a set one.
    assert Config().as_dict()["api"]["password"] == ""


def test_threshold_and_log_keys_of_any_stat() -> None:
    config = cfg.from_mapping(
        {
            "cpu": {"total_careful": 70, "total_log": True, "careful": 40},
            "fs": {"/_critical": 95.5, "hysteresis": 2},
            "network": {"eth0_rx_warning": 1000000, "hide": ["docker.*", "veth.*"]},
            "alert": {"max_events": 5, "min_duration": 0},
        }
    )
    assert config.plugins["cpu"].limits == {"total_careful": 70.0, "careful": 40.0}
    assert config.plugins["cpu"].logs == {"total_log": True}
    assert config.plugins["fs"].limits == {"/_critical": 95.5}
    assert config.plugins["fs"].hysteresis == 2.0
    assert config.plugins["network"].hide == ("docker.*", "veth.*")
    assert (config.alert.max_events, config.alert.min_duration) == (5, 0.0)
    # and they round-trip through check-config's TOML (quoted keys included)
    again = cfg.from_mapping(tomllib.loads(cfg.to_toml(config, redact=False)))
    assert again.plugins["fs"].limits == {"/_critical": 95.5}
    assert again.plugins["cpu"].logs == {"total_log": True}


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"cpu": {"total_carefull": 70}}, "cpu.total_carefull = 70: unknown key"),
        ({"cpu": {"total_careful": "70"}}, "cpu.total_careful = '70': must be a number"),
        ({"cpu": {"total_log": 1}}, "cpu.total_log = 1: must be true or false"),
        ({"network": {"hide": ["("]}}, "network.hide = '(': not a valid regular expression"),
        ({"alert": {"max_events": 0}}, "alert.max_events = 0: must be between 1"),
        ({"global": {"history_size": -1}}, "global.history_size = -1: must be between 0"),
        (
            {"global": {"history_write_interval": 0}},
            "global.history_write_interval = 0: must be between 0.1",
        ),
    ],
)
def test_bad_threshold_alert_and_history_keys(raw: dict[str, Any], needle: str) -> None:
    with pytest.raises(cfg.ConfigError) as err:
        cfg.from_mapping(raw)
    assert needle in str(err.value)


def test_data_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert cfg.data_dir(Config()) == tmp_path / "statbus"
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/statbus")
    assert cfg.data_dir(Config()) == Path("/var/lib/statbus")
    custom = cfg.from_mapping({"global": {"data_dir": str(tmp_path / "x")}})
    assert cfg.data_dir(custom) == tmp_path / "x"


# -- secrets: hashes, and never quoted back ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("pbkdf2_sha256$", "4 fields"),
        ("pbkdf2_sha256$1000$c2FsdA$" + "A" * 43 + "$extra", "4 fields"),
        ("pbkdf2_sha256$lots$c2FsdA$" + "A" * 43, "whole number"),
        ("pbkdf2_sha256$999$c2FsdA$" + "A" * 43, "between 1000"),
        ("pbkdf2_sha256$99999999999$c2FsdA$" + "A" * 43, "between 1000"),
        ("pbkdf2_sha256$1000$$" + "A" * 43, "salt"),
        ("pbkdf2_sha256$1000$not*b64$" + "A" * 43, "salt (3rd field) is not base64"),
        ("pbkdf2_sha256$1000$c2FsdA$c2hvcnQ", "16-64 bytes"),
        ("pbkdf2_sha256$1000$c2FsdA$" + "é" * 43, "not base64"),
    ],
)
def test_a_malformed_password_hash_is_refused_without_its_value(value: str, reason: str) -> None:
    error = config_error({"api": {"password": value}})
    assert error.key == "api.password" and reason in error.reason
    assert cfg.REDACTED in str(error)
    if value != "pbkdf2_sha256$":  # (the scheme alone is named by the reason)
        assert value not in str(error) and value.split("$")[-1] not in str(error)


def test_a_password_hash_and_a_plain_password_load() -> None:
    from pipeline.config import passwords

    hashed = passwords.hash_password("pw", iterations=1000)
    assert cfg.from_mapping({"api": {"password": hashed}}).api.password == hashed
    # anything not starting with the scheme is a plain password, "$" or not
    assert cfg.from_mapping({"api": {"password": "a$b$c$d"}}).api.password == "a$b$c$d"
    parsed = passwords.parse(hashed)
    assert parsed is not None and parsed.verify("pw") and not parsed.verify("pW")
    assert hashed.split("$")[3] not in repr(parsed)


@pytest.mark.parametrize(
    "raw",
    [
        {"api": {"password": "Sekr1t\x00x"}},
        {"api": {"password": "Sekr1t" * 200}},
        {"mqtt": {"password": ["Sekr1t"]}},
        {"webhooks": [{"url": "http://h/x", "secret": "Sekr1t\x00"}]},
        {"webhooks": [{"url": "http://h/x", "headers": {"Authorization": "Sekr1t\n"}}]},
        {"webhooks": [{"url": "http://h/x", "headers": {"X-Key": "Sekr1té"}}]},
        {"webhooks": [{"url": "http://h/x", "headers": {"Content-Type": "Sekr1t"}}]},
    ],
)
def test_an_error_in_a_secret_never_quotes_it(raw: dict[str, Any]) -> None:
    error = config_error(raw)
    assert "Sekr1t" not in str(error) and cfg.REDACTED in str(error)


def test_secrets_stay_out_of_repr() -> None:
    config = cfg.from_mapping(
        {
            "api": {"password": "ApiSekr1t"},
            "mqtt": {"password": "MqttSekr1t"},
            "webhooks": [
                {
                    "url": "https://h/UrlSekr1t",
                    "secret": "HookSekr1t",
                    "headers": {"Authorization": "Bearer HdrSekr1t"},
                }
            ],
        }
    )
    assert "Sekr1t" not in repr(config)


def test_a_urls_credentials_are_not_shown() -> None:
    config = cfg.from_mapping(
        {"cloud": {"url": "http://user:UrlSekr1t@127.0.0.1:8080/meta?token=QuerySekr1t"}}
    )
    shown = config.as_dict()["cloud"]["url"]
    assert shown == "http://********@127.0.0.1:8080/meta?********"
    assert config.as_dict(redact=False)["cloud"]["url"].endswith("token=QuerySekr1t")
    assert "Sekr1t" not in cfg.to_toml(config)


def test_the_api_back_off_keys() -> None:
    api = cfg.from_mapping({"api": {"max_login_failures": 3, "login_backoff_max": 10}}).api
    assert (api.max_login_failures, api.login_backoff_max) == (3, 10.0)
    assert config_error({"api": {"max_login_failures": 0}}).key == "api.max_login_failures"
    assert config_error({"api": {"login_backoff_max": 0.5}}).key == "api.login_backoff_max"
