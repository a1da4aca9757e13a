"""No configured secret leaves statbus: not through any GET route, the stream, /metrics,
``check-config`` nor the start-up log.

A statbus process is started with distinctive secrets everywhere a config can hold one:
the API password (as a hash, and as a plain password), the MQTT password, a webhook's
secret, its header values, the user info, path and query of its URL, and the cloud
plugin's URL.  Then every GET route is fetched: each rule of Quart's URL map and each
path of the OpenAPI document, with path parameters filled with real plugin, item, key,
section and argument names read from the running instance.  No answer, and no line of
the log or of ``check-config``, may contain a secret, nor its base64 or URL-encoded form.
"""

from __future__ import annotations

import base64
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from api import ApiHandles, create_app
from pipeline.bus import Bus
from pipeline.config import load, passwords
from pipeline.runner import SamplerRunner
from pipeline.samplers import all_samplers
from pipeline.stages.alerts import AlertStage
from pipeline.stages.history import HistoryStage
from pipeline.stages.state import StateStage
from pipeline.stages.thresholds import ThresholdStage
from tests.conftest import LiveStatbus, start_statbus

API_PASSWORD = "ApiPw-Secret+Kq81/x"
MQTT_PASSWORD = "Mqtt Pw+Secret/Zr52"
HOOK_SECRET = "HookSigningKey-Wt37"
HOOK_TOKEN = "HookBearerTok-Jn64"
HOOK_API_KEY = "HookApiKey-Fs19"
URL_PASSWORD = "UrlUserPw-Dm46"
URL_PATH_TOKEN = "UrlPathTok-Bx73"
URL_QUERY_TOKEN = "UrlQueryTok-Cv28"
CLOUD_PASSWORD = "CloudPw-Hy90"
CLOUD_TOKEN = "CloudTok-Lg15"
PASSWORD_HASH = passwords.hash_password(API_PASSWORD, iterations=1000)


def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _toml(api_password: str) -> str:
    dead = _dead_port()
    return f"""
[global]
refresh = 1.0
[api]
port = 0
password = "{api_password}"
[mqtt]
enabled = true
host = "127.0.0.1"
port = {dead}
username = "statbus"
password = "{MQTT_PASSWORD}"
[cloud]
disable = true
url = "http://cloud:{CLOUD_PASSWORD}@127.0.0.1:{dead}/meta?token={CLOUD_TOKEN}"
[[webhooks]]
name = "chat"
url = "http://hook:{URL_PASSWORD}@127.0.0.1:{dead}/hooks/{URL_PATH_TOKEN}?token={URL_QUERY_TOKEN}"
secret = "{HOOK_SECRET}"
headers = {{ Authorization = "Bearer {HOOK_TOKEN}", X-Api-Key = "{HOOK_API_KEY}" }}
"""


def _forms(secret: str) -> set[str]:
    """The secret and the encodings it could leak in."""
    raw = secret.encode()
    out = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        out.add(encode(raw).decode())
        out.add(encode(raw).decode().rstrip("="))
    return out


def _all_forms(api_password: str) -> dict[str, str]:
    """form -> the secret it encodes."""
    secrets = [
        API_PASSWORD,
        MQTT_PASSWORD,
        HOOK_SECRET,
        HOOK_TOKEN,
        HOOK_API_KEY,
        URL_PASSWORD,
        URL_PATH_TOKEN,
        URL_QUERY_TOKEN,
        CLOUD_PASSWORD,
        CLOUD_TOKEN,
        f"glances:{API_PASSWORD}",
        f"hook:{URL_PASSWORD}",
        f"cloud:{CLOUD_PASSWORD}",
        f"statbus:{MQTT_PASSWORD}",
    ]
    if api_password == PASSWORD_HASH:  # the hash and each of its parts
        secrets += [PASSWORD_HASH, *PASSWORD_HASH.split("$")[2:]]
    return {form: secret for secret in secrets for form in _forms(secret)}


def _leaks(text: str, forms: dict[str, str]) -> list[str]:
    return sorted({secret for form, secret in forms.items() if form in text})


@pytest.fixture(scope="module", params=["hashed", "plain"])
def live_secrets(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveStatbus, Path, dict[str, str]]]:
    api_password = PASSWORD_HASH if request.param == "hashed" else API_PASSWORD
    folder = tmp_path_factory.mktemp(f"secrets-{request.param}")
    live = start_statbus(folder, _toml(api_password))
    yield live, folder / "statbus.toml", _all_forms(api_password)
    assert live.stop() == 0


def _url_map_templates(config_path: Path) -> set[str]:
    """Every GET rule of the Quart app statbus builds for this configuration, as
    ``/api/4/{plugin}/...`` templates (the app built in this process, not served)."""
    config = load(config_path)
    bus = Bus()
    plugins = config.enabled_plugins()
    with tempfile.TemporaryDirectory() as data:
        handles = ApiHandles(
            config,
            StateStage(bus, plugins),
            alerts=AlertStage(bus, config, Path(data)),
            thresholds=ThresholdStage(bus, config, plugins),
            history=HistoryStage(bus, config, plugins),
            runner=SamplerRunner(bus, config, all_samplers()),
            bus=bus,
        )
        app = create_app(handles)
    return {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ())
    }


class _Walker:
    """Fills route templates with real names read from the running instance."""

    def __init__(self, client: httpx.Client, pid: int) -> None:
        self.c = client
        self.pid = pid
        self.plugins: list[str] = client.get("/api/4/pluginslist").json()
        self.sections: dict[str, Any] = client.get("/api/4/config").json()
        self.args: dict[str, Any] = client.get("/api/4/args").json()
        self.data: dict[str, Any] = client.get("/api/4/all").json()

    def items(self, plugin: str) -> list[tuple[str, str, str]]:
        """(item, key, value) triples of a plugin: one of its fields, the first
        entry's key and a value."""
        data = self.data.get(plugin)
        entry = data[0] if isinstance(data, list) and data else data
        if not isinstance(entry, dict) or not entry:
            return [("total", "0", "0")]
        key_field = entry.get("key")
        key = str(entry.get(key_field, "0")) if isinstance(key_field, str) else "0"
        names = [n for n in entry if n != "key"][:1] or ["total"]
        return [(n, key, quote(str(entry.get(n, "0")), safe="")) for n in names]

    def fill(self, template: str) -> Iterator[str]:
        if "{section}" in template:
            for section, body in self.sections.items():
                path = template.replace("{section}", quote(section, safe=""))
                if "{item}" not in path:
                    yield path
                    continue
                for item in body:
                    yield path.replace("{item}", quote(item, safe=""))
            return
        if template.startswith("/api/4/args/"):
            for item in self.args:
                yield template.replace("{item}", quote(item, safe=""))
            return
        if "{pid}" in template:
            yield template.replace("{pid}", str(self.pid))
            return
        if "{plugin}" not in template:
            yield template.replace("{nb}", "2")
            return
        for plugin in self.plugins:
            path = template.replace("{plugin}", plugin).replace("{nb}", "2")
            if "{item}" not in path:
                yield path
                continue
            for item, key, value in self.items(plugin):
                yield path.replace("{item}", item).replace("{key}", key).replace("{value}", value)


def test_no_route_reveals_a_secret(
    live_secrets: tuple[LiveStatbus, Path, dict[str, str]],
) -> None:
    live, config_path, forms = live_secrets
    root = live.base.removesuffix("/api/4")
    with httpx.Client(base_url=root, auth=("glances", API_PASSWORD), timeout=30) as c:
        walker = _Walker(c, live.proc.pid)
        openapi = c.get("/api/4/openapi.json").json()
        templates = _url_map_templates(config_path) | set(openapi["paths"])
        assert {"/api/4/config/{section}/{item}", "/api/4/args/{item}", "/metrics"} <= templates
        fetched: dict[str, int] = {}
        for template in sorted(templates - {"/api/4/stream"}):
            for path in walker.fill(template):
                resp = c.get(path)
                fetched[path] = resp.status_code
                assert resp.status_code < 500, (path, resp.text)
                assert not _leaks(resp.text, forms), (path, _leaks(resp.text, forms))
                assert not _leaks(str(resp.headers), forms), path
        for accept in ("application/openmetrics-text; version=1.0.0", "text/plain"):
            resp = c.get("/metrics", headers={"Accept": accept})
            assert resp.status_code == 200 and not _leaks(resp.text, forms)
        # the first events of the stream
        seen = b""
        with c.stream("GET", "/api/4/stream") as stream:
            assert stream.status_code == 200
            for chunk in stream.iter_bytes():
                seen += chunk
                if seen.count(b"\nevent:") + seen.startswith(b"event:") >= 5:
                    break
        assert not _leaks(seen.decode(), forms)
    # the walk reached the places the secrets are configured
    for path in (
        "/api/4/config/api/password",
        "/api/4/config/mqtt/password",
        "/api/4/config/cloud/url",
        "/api/4/args/password",
        "/api/4/pipeline",
    ):
        assert fetched.get(path) == 200, path
    assert len(fetched) > 300
    # the start-up log: nothing, and no warning about an open API
    log = "".join(live.stderr_lines)
    assert not _leaks(log, forms), _leaks(log, forms)
    assert "without a password" not in log


def test_check_config_reveals_no_secret(
    live_secrets: tuple[LiveStatbus, Path, dict[str, str]],
) -> None:
    _, config_path, forms = live_secrets
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", "check-config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert not _leaks(out.stdout + out.stderr, forms), _leaks(out.stdout + out.stderr, forms)
    assert "[[webhooks]]" in out.stdout and "127.0.0.1" in out.stdout
