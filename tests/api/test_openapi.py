"""The OpenAPI document and the /docs page.

* the checked-in ``docs/openapi.json`` is the builder's document for the default
  configuration, and a live statbus serves exactly those bytes;
* every route in Quart's URL map is documented with its methods, and every documented
  route exists (so a route added without documentation fails here);
* the document is valid OpenAPI 3.1, and real answers of a statbus (every plugin on, with
  something to report) validate against its schemas;
* ``/docs`` names no external URL, and its script renders every path and schema (run
  with node and a small stand-in DOM, when node is installed).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trio

from api import create_app
from api.openapi_doc import build, render
from pipeline.config import Config, load
from tests.api.in_process import every_handle
from tests.conftest import LiveStatbus
from tests.test_conformance import everything  # noqa: F401 - a fixture: every plugin on

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = "regenerate it: python -m api.openapi_doc > docs/openapi.json"
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "prefix-and-auth": {"api.url_prefix": "/glances/host-1", "api.password": "s3cret"},
    "some-disabled": {"cpu.disable": True, "irq.disable": False, "processlist.disable": True},
}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


# -- the checked-in document ----------------------------------------------------------


def test_the_checked_in_document_is_the_builders() -> None:
    built = render(build(Config()))
    assert CHECKED_IN.exists(), f"docs/openapi.json is missing: {REGENERATE}"
    assert CHECKED_IN.read_bytes() == built, f"docs/openapi.json is out of date: {REGENERATE}"


def test_the_generator_prints_the_document() -> None:
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "api.openapi_doc"],
        capture_output=True,
        check=True,
        cwd=CHECKED_IN.parents[1],
        timeout=60,
    )
    assert out.stdout == render(build(Config()))


def test_the_document_is_structurally_sound() -> None:
    doc = build(Config())
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": "/"}]
    for ref in _refs(doc):
        _resolve(doc, ref)
    ids = []
    for path, item in doc["paths"].items():
        declared = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            assert method in METHODS, (path, method)
            ids.append(op["operationId"])
            params = [
                _resolve(doc, p["$ref"]) if "$ref" in p else p for p in op.get("parameters", [])
            ]
            in_path = {p["name"] for p in params if p["in"] == "path"}
            assert in_path == declared, (path, method, in_path)
            assert "200" in op["responses"], (path, method)
            for status, resp in op["responses"].items():
                if status != "200":  # every error is {"detail": ...}
                    resp = _resolve(doc, resp["$ref"])
                    schema = _resolve(doc, resp["content"]["application/json"]["schema"]["$ref"])
                    assert schema["required"] == ["detail"], (path, status)
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_the_document_is_valid_openapi_3_1() -> None:
    validator = pytest.importorskip("openapi_spec_validator", reason="pip install '.[test]'")
    for overrides in CONFIGS.values():
        validator.validate(build(load(overrides=overrides)))


def test_the_main_plugins_have_schemas_made_from_their_fields() -> None:
    schemas = build(Config())["components"]["schemas"]
    main = ["cpu", "mem", "memswap", "load", "network", "diskio", "fs", "sensors"]
    main += ["processlist", "alert", "quicklook", "system", "containers"]
    for plugin in main:
        assert plugin in schemas["All"]["properties"], plugin
    cpu = schemas["cpu"]["properties"]
    assert cpu["total"] == {
        "type": "number",
        "description": "Sum of all CPU percentages (except idle).",
        "x-unit": "percent",
    }
    assert cpu["dpc"]["type"] == ["number", "null"]  # Windows only
    assert schemas["network"]["items"] == {"$ref": "#/components/schemas/network_entry"}
    net = schemas["network_entry"]["properties"]
    assert net["key"]["const"] == "interface_name"
    assert net["is_up"]["type"] == "boolean"
    assert net["bytes_recv_rate_per_sec"]["x-unit"] == "byte per second"
    assert schemas["sensors_entry"]["properties"]["warning"]["type"] == ["number", "null"]
    assert schemas["processlist_entry"]["properties"]["cmdline"]["type"] == "array"
    assert schemas["system"]["properties"]["hostname"]["type"] == "string"
    assert schemas["uptime"]["type"] == "string" and schemas["help"]["type"] == "null"
    assert {"type": "object", "maxProperties": 0} in schemas["vms"]["anyOf"]  # {} without tools


def test_auth_is_optional_unless_a_password_is_set() -> None:
    open_doc = build(Config())
    assert open_doc["security"] == [{}, {"basicAuth": []}]
    locked = build(load(overrides=CONFIGS["prefix-and-auth"]))
    assert locked["security"] == [{"basicAuth": []}]
    assert locked["servers"] == [{"url": "/glances/host-1"}]
    assert locked["components"]["securitySchemes"]["basicAuth"]["scheme"] == "basic"
    for doc in (open_doc, locked):
        status = doc["paths"]["/api/4/status"]["get"]
        assert status["security"] == [] and "401" not in status["responses"]
        assert "401" in doc["paths"]["/api/4/all"]["get"]["responses"]


# -- the document and Quart's URL map -------------------------------------------------


@pytest.mark.parametrize("name", CONFIGS)
def test_every_route_is_documented_and_every_documented_route_exists(
    name: str, tmp_path: Path
) -> None:
    """Paths, methods and endpoints (``operationId``), both ways. HEAD and OPTIONS are
    left out: every GET route answers them (Werkzeug adds them), as the document says."""
    config = load(overrides=CONFIGS[name])
    app = create_app(every_handle(config, tmp_path))
    served: dict[tuple[str, str], str] = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            served[path, method.lower()] = rule.endpoint
    doc = build(config)
    base = doc["servers"][0]["url"].rstrip("/")
    documented = {
        (base + path, method): op["operationId"]
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }
    missing = sorted(set(served) - set(documented))
    assert not missing, f"routes served but not in the OpenAPI document: {missing}"
    extra = sorted(set(documented) - set(served))
    assert not extra, f"routes in the OpenAPI document that statbus does not serve: {extra}"
    assert documented == served  # the operationId is the route's endpoint


# -- served through Quart -------------------------------------------------------------


async def test_the_app_serves_the_document_for_its_configuration(tmp_path: Path) -> None:
    config = load(overrides={**CONFIGS["some-disabled"], "api.url_prefix": "/p"})
    handles = every_handle(config, tmp_path)
    client = create_app(handles).test_client()
    resp = await client.get("/p/api/4/openapi.json")
    assert resp.status_code == 200
    assert resp.content_type == "application/json"
    body = await resp.get_data()
    assert body == render(build(config, list(handles.state.plugins)))
    doc = orjson.loads(body)
    assert doc["servers"] == [{"url": "/p"}]
    plugins = doc["components"]["parameters"]["plugin"]["schema"]["enum"]
    assert "cpu" not in plugins and "irq" in plugins
    again = await client.get("/p/api/4/openapi.json")
    assert await again.get_data() == body


async def test_the_document_and_page_need_credentials_when_a_password_is_set(
    tmp_path: Path,
) -> None:
    config = load(overrides=CONFIGS["prefix-and-auth"])
    client = create_app(every_handle(config, tmp_path)).test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(b"glances:s3cret").decode()}
    for path in ("/glances/host-1/api/4/openapi.json", "/glances/host-1/docs"):
        resp = await client.get(path)
        assert resp.status_code == 401, path
        assert orjson.loads(await resp.get_data()) == {"detail": "Not authenticated"}
        assert (await client.get(path, headers=auth)).status_code == 200, path


async def test_the_docs_page_loads_nothing_from_another_host(tmp_path: Path) -> None:
    config = load(overrides={"api.url_prefix": "/glances"})
    client = create_app(every_handle(config, tmp_path)).test_client()
    resp = await client.get("/glances/docs")
    assert resp.status_code == 200
    assert resp.content_type == "text/html; charset=utf-8"
    page = (await resp.get_data()).decode()
    assert re.findall(r"(?i)https?:|//[a-z0-9]", page) == []  # no URL with a host at all
    assert re.findall(r"(?i)<(?:link|img|iframe)\b|\bsrc=", page) == []
    assert 'data-openapi="/glances/api/4/openapi.json"' in page
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp


def _page_script(page: str) -> str:
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.S)
    return script


#: a stand-in for the few DOM calls the page makes, then the page's own script
_FAKE_DOM = """
const ids = {};
class FakeNode {
  constructor(tag) { this.tag = tag; this.kids = []; this.dataset = {}; this.hidden = false; }
  setAttribute(k, v) {
    if (k === "id") ids[v] = this;
    const camel = k.slice(5).replace(/-(.)/g, (_, c) => c.toUpperCase());
    if (k.startsWith("data-")) this.dataset[camel] = v;
  }
  append(...kids) { for (const k of kids) this.kids.push(typeof k === "string" ? {text: k} : k); }
  get childNodes() { return this.kids; }
  addEventListener() {}
  scrollIntoView() {}
  set textContent(v) { this.kids = [{text: v}]; }
  get textContent() {
    return this.kids.map(k => k.text !== undefined ? k.text : "<" + k.tag + ">" + k.textContent)
      .join("");
  }
}
globalThis.Node = FakeNode;
globalThis.location = {hash: ""};
globalThis.document = {
  body: Object.assign(new FakeNode("body"), {dataset: {openapi: process.argv[3]}}),
  createElement: tag => new FakeNode(tag),
  getElementById: id => ids[id],
  addEventListener() {},
};
new FakeNode("main").setAttribute("id", "main");
new FakeNode("p").setAttribute("id", "error");
const served = require("fs").readFileSync(process.argv[2], "utf8");
globalThis.fetch = async url => ({ok: true, status: 200, json: async () => JSON.parse(served)});
process.on("exit", () => {
  const shown = {main: ids.main.textContent, error: ids.error.textContent};
  require("fs").writeSync(1, JSON.stringify(shown));
});
"""


async def test_the_docs_page_renders_every_path_and_schema(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the page's script is not run")
    client = create_app(every_handle(Config(), tmp_path)).test_client()
    page = (await (await client.get("/docs")).get_data()).decode()
    doc_bytes = await (await client.get("/api/4/openapi.json")).get_data()
    (tmp_path / "openapi.json").write_bytes(doc_bytes)
    (tmp_path / "page.js").write_text(_FAKE_DOM + _page_script(page))
    with trio.fail_after(60):
        out = await trio.run_process(
            [node, tmp_path / "page.js", tmp_path / "openapi.json", "/api/4/openapi.json"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert out.returncode == 0, out.stderr.decode()
    shown = json.loads(out.stdout)
    assert shown["error"] == ""
    text = shown["main"]
    doc = json.loads(doc_bytes)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert f"{method} <span>{path}" in text, (method, path)
            assert op["summary"] in text
    for name in doc["components"]["schemas"]:
        assert f"<summary><code>{name}" in text, name
    # parameters, units and descriptions are shown, as text (never as markup)
    assert "<code>nb<td>path" in text and "byte per second" in text
    assert "Sum of all CPU percentages (except idle)." in text


# -- a live statbus ---------------------------------------------------------------------


def test_a_live_statbus_serves_the_checked_in_document(live: LiveStatbus) -> None:
    with httpx.Client(base_url=live.base, timeout=10.0) as http:
        resp = http.get("/openapi.json")
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/json"
        assert resp.content == CHECKED_IN.read_bytes(), f"served != docs/openapi.json: {REGENERATE}"
        docs = http.get(live.base.removesuffix("/api/4") + "/docs")
        assert docs.status_code == 200 and b'data-openapi="/api/4/openapi.json"' in docs.content


def test_a_live_statbus_with_a_password_serves_its_own_document(live_auth: LiveStatbus) -> None:
    with httpx.Client(base_url=live_auth.base, timeout=10.0) as http:
        assert http.get("/openapi.json").status_code == 401
        doc = http.get("/openapi.json", auth=("admin", "s3cret")).json()
    assert doc["servers"] == [{"url": "/glances"}]
    assert doc["security"] == [{"basicAuth": []}]


def _validator(doc: dict[str, Any], schema: str) -> Any:
    jsonschema = pytest.importorskip("jsonschema", reason="pip install '.[test]'")
    root = {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]}
    return jsonschema.Draft202012Validator(root)


def _errors(validator: Any, value: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(value)
    ]


def test_real_answers_validate_against_the_schemas(everything: dict[str, Any]) -> None:  # noqa: F811
    """Every plugin on, with something to report (containers, VMs, SMART, folders, ports,
    AMPs, cloud metadata): ``/all`` and ``/pipeline`` as a statbus serves them."""
    doc = json.loads(CHECKED_IN.read_bytes())
    assert _errors(_validator(doc, "All"), everything["all"]) == []
    for plugin in ("containers", "vms", "smart", "folders", "ports", "amps", "cloud"):
        assert everything["all"][plugin], f"{plugin} has nothing to validate"
    base = everything["base"]
    pipeline = httpx.get(f"{base}/pipeline", timeout=10).json()
    assert _errors(_validator(doc, "Pipeline"), pipeline) == []
    process = everything["all"]["processlist"][0]
    one = httpx.get(f"{base}/processes/{process['pid']}", timeout=10).json()
    assert _errors(_validator(doc, "processlist_entry"), one) == []
    views = httpx.get(f"{base}/all/views", timeout=10).json()
    assert "list" in views["quicklook"]
    assert _errors(_validator(doc, "Views"), views["quicklook"]) == []
    for plugin, plugin_views in views.items():
        assert _errors(_validator(doc, "Views"), plugin_views) == [], plugin


def test_the_schemas_reject_a_wrong_answer() -> None:
    """The validation above can fail: a wrong type, a missing null, an unknown plugin."""
    doc = json.loads(CHECKED_IN.read_bytes())
    wrong = {
        "cpu": {"total": "12"},
        "network": [{"interface_name": "eth0", "is_up": 1}],
        "fs": [{"mnt_point": "/", "percent": None}],
        "nonsense": {},
    }
    errors = _errors(_validator(doc, "All"), wrong)
    assert len(errors) == 4, errors
    assert any(e.startswith("cpu/total") for e in errors)
    assert any(e.startswith("fs/0/percent") for e in errors)


async def test_no_static_files_are_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Quart's default /static route would serve <cwd>/static to anyone."""
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "secret.txt").write_text("secret")
    monkeypatch.chdir(tmp_path)
    app = create_app(every_handle(load(), tmp_path))
    assert not any(rule.endpoint == "static" for rule in app.url_map.iter_rules())
    response = await app.test_client().get("/static/secret.txt")
    assert response.status_code == 404
