"""The plugin-specific keys (their descriptors in pipeline/plugins/): defaults, checks, arrays of
tables, aliases, and their round trip through ``check-config``'s TOML."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from pipeline import config as cfg
from pipeline.config import ConfigError
from pipeline.plugins import OPTIONS


def test_every_plugin_option_has_its_default_when_unset() -> None:
    config = cfg.load()
    for plugin, options in OPTIONS.items():
        assert dict(config.plugins[plugin].options) == {k: o.default for k, o in options.items()}, (
            plugin
        )
    assert config.plugins["ports"].options["port_default_gateway"] is True
    assert config.plugins["quicklook"].options["list"] == ("cpu", "mem", "load")


def test_arrays_of_tables_fill_every_key() -> None:
    config = cfg.from_mapping(
        {
            "ports": {"port": [{"host": "127.0.0.1", "port": 22, "rtt_warning": 50}]},
            "folders": {"folder": [{"path": "/tmp", "warning": 10}]},
            "amps": {"amp": [{"name": "sshd", "regex": "sshd", "command": ["true"]}]},
        }
    )
    (port,) = config.plugins["ports"].options["port"]
    assert dict(port) == {
        "host": "127.0.0.1", "port": 22, "description": "", "timeout": None,
        "rtt_warning": 50.0,
    }  # fmt: skip
    (folder,) = config.plugins["folders"].options["folder"]
    assert (folder["path"], folder["warning"], folder["careful"]) == ("/tmp", 10.0, None)
    (amp,) = config.plugins["amps"].options["amp"]
    assert (amp["command"], amp["countmin"], amp["one_line"]) == (("true",), None, True)


@pytest.mark.parametrize(
    ("raw", "key", "reason"),
    [
        ({"ports": {"port": {"host": "x"}}}, "ports.port", "array of tables"),
        ({"ports": {"port": [{"port": 22}]}}, "ports.port[0].host", "is required"),
        ({"ports": {"port": [{"host": "h", "prot": 1}]}}, "ports.port[0].prot", "unknown key"),
        ({"ports": {"port": [{"host": "h", "port": 70000}]}}, "ports.port[0].port", "between"),
        ({"ports": {"port": ["h:1"]}}, "ports.port[0]", "must be a table"),
        ({"ports": {"port": [{"host": "-oX=y"}]}}, "ports.port[0].host", "host name"),
        ({"ports": {"port": [{"host": ""}]}}, "ports.port[0].host", "host name"),
        ({"folders": {"folder": [{"path": "logs"}]}}, "folders.folder[0].path", "absolute"),
        ({"amps": {"amp": [{"name": "a", "regex": []}]}}, "amps.amp[0].regex", "non-empty"),
        ({"ports": {"scan_timeout": "3"}}, "ports.scan_timeout", "must be a number"),
        ({"folders": {"folder": [{"path": 1}]}}, "folders.folder[0].path", "string"),
        ({"amps": {"amp": [{"name": "a"}]}}, "amps.amp[0].regex", "is required"),
        ({"amps": {"amp": [{"name": "a", "regex": "("}]}}, "amps.amp[0].regex", "regular"),
        (
            {"amps": {"amp": [{"name": "a", "regex": "a", "command": "ls -l"}]}},
            "amps.amp[0].command",
            "list of strings",
        ),
        ({"containers": {"docker_sock": "docker.sock"}}, "containers.docker_sock", "absolute"),
        ({"cloud": {"url": "169.254.169.254"}}, "cloud.url", "http"),
        ({"cloud": {"url": "http://127.0.0.1:0"}}, "cloud.url", "port 0"),
        ({"cloud": {"url": "http://meta data"}}, "cloud.url", "white space"),
        ({"network": {"hide_zero": "yes"}}, "network.hide_zero", "true or false"),
        ({"network": {"alias": "eth0"}}, "network.alias", "name:Alias"),
        ({"network": {"alias": 3}}, "network.alias", "string"),
        ({"processlist": {"sort_key": "pid"}}, "processlist.sort_key", "one of"),
        ({"processlist": {"nice_warning": ["-1"]}}, "processlist.nice_warning", "integers"),
        ({"quicklook": {"list": ["cpu", "gpu"]}}, "quicklook.list", "one of"),
        ({"percpu": {"max_cpu_display": 0}}, "percpu.max_cpu_display", "between"),
        ({"cpu": {"hide_zero": True}}, "cpu.hide_zero", "unknown key"),
        ({"alert": {"alias": "a:b"}}, "alert.alias", "unknown key"),
    ],
)
def test_bad_option_names_the_key(raw: dict[str, Any], key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        cfg.from_mapping(raw)
    assert info.value.key == key
    assert reason in info.value.reason


def test_unknown_key_lists_the_plugins_own_keys() -> None:
    with pytest.raises(ConfigError) as info:
        cfg.from_mapping({"ports": {"nosuch": 1}})
    assert "scan_timeout" in info.value.reason and "port_default_gateway" in info.value.reason


def test_alias_as_the_reference_writes_it_or_as_a_table() -> None:
    written = cfg.from_mapping({"diskio": {"alias": "sda:System disk, sdb:Data"}})
    assert dict(written.plugins["diskio"].alias) == {"sda": "System disk", "sdb": "Data"}
    table = cfg.from_mapping({"sensors": {"alias": {"Package id 0": "CPU"}}})
    assert dict(table.plugins["sensors"].alias) == {"Package id 0": "CPU"}


def test_socket_paths_take_the_unix_scheme() -> None:
    config = cfg.from_mapping({"containers": {"podman_sock": "unix:///run/user/1000/p.sock"}})
    assert config.plugins["containers"].options["podman_sock"] == "/run/user/1000/p.sock"
    off = cfg.from_mapping({"containers": {"docker_sock": ""}})
    assert off.plugins["containers"].options["docker_sock"] == ""


def test_check_config_toml_round_trips_options_tables_and_aliases() -> None:
    config = cfg.from_mapping(
        {
            "ports": {"port": [{"host": "::1", "port": 0, "description": "me"}]},
            "amps": {"amp": [{"name": "a", "regex": "a.*", "command": ["echo", "a b"]}]},
            "network": {"alias": "eth0:LAN", "hide_no_ip": True},
            "processlist": {"nice_critical": [-20]},
        }
    )
    text = cfg.to_toml(config)
    assert "[[ports.port]]" in text and "[[amps.amp]]" in text
    back = cfg.from_mapping(tomllib.loads(text))
    assert back.as_dict(redact=False) == config.as_dict(redact=False)
    assert back.plugins["amps"].options == config.plugins["amps"].options
    assert back.plugins["network"].alias == config.plugins["network"].alias
