"""The layout rules, made executable (docs/architecture.md, "Layout").

Every module's imports are read from its AST (those under ``if TYPE_CHECKING:`` are not
imports at run time and do not count), and each module is put in a layer:

* **core**: the top of ``pipeline/`` and ``pipeline/config/`` (events and topics,
  codec, bus, config, runner, persist, backoff, checks);
* **plugins**: ``pipeline/plugins/``, the descriptors and the judge;
* **samplers**, **stages**: ``pipeline/samplers/``, ``pipeline/stages/``;
* **sinks**, **api**: ``sinks/``, ``api/``;
* **root**: the composition root ``api/main.py`` and the CLI ``api/cli.py``.

Then: the core imports no sampler, stage, sink or API module; the plugins none of those
either, and of the core only the value checks; samplers import no stage, sink or API;
stages no sink or API; sinks and the API not each other; nothing imports the root but
the root; there is no import cycle; and a topic name is only ever imported from
``pipeline.topics``.

The tables that belong to a face (MQTT discovery's entities, the OpenAPI document's
schema overrides, the Prometheus labels) stay in that face; their keys must be real
plugins and fields.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.metrics_page import EXTRA_LABELS, SKIPPED
from api.openapi_schemas import OVERRIDES
from pipeline.plugins import FIELDS, PLUGINS
from sinks.mqtt_discovery import FIELDS as DISCOVERED

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "sinks", "api")
ROOT = frozenset({"api.main", "api.cli"})


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {
    module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))
}


def layer(module: str) -> str:
    if module in ROOT:
        return "root"
    top, _, rest = module.partition(".")
    if top in ("sinks", "api"):
        return top
    for sub in ("plugins", "samplers", "stages"):
        if rest == sub or rest.startswith(f"{sub}."):
            return sub
    return "core"


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def imports_of(module: str) -> set[str]:
    """The project modules ``module`` imports at run time (``from a import b`` counts as
    ``a.b`` when that is a module, else as ``a``)."""
    tree = ast.parse(MODULES[module].read_text())
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in MODULES else node.module)
    return {m for m in found if m in MODULES and m != module}


GRAPH = {m: imports_of(m) for m in MODULES}

#: layer -> the layers it may not import
FORBIDDEN = {
    "core": {"samplers", "stages", "sinks", "api", "root"},
    "plugins": {"samplers", "stages", "sinks", "api", "root"},
    "samplers": {"stages", "sinks", "api", "root"},
    "stages": {"samplers", "sinks", "api", "root"},
    "sinks": {"samplers", "api", "root"},
    "api": {"samplers", "sinks", "root"},
    "root": set(),
}


def test_every_module_is_seen() -> None:
    assert {"pipeline.runner", "pipeline.plugins.cpu", "api.main", "sinks.mqtt"} <= set(MODULES)
    assert "pipeline.main" not in MODULES and "pipeline.cli" not in MODULES


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layers(module: str) -> None:
    own = layer(module)
    wrong = {m for m in GRAPH[module] if layer(m) in FORBIDDEN[own]}
    assert not wrong, f"{module} ({own}) imports {sorted(wrong)}"


def test_the_samplers_registry_is_the_only_sampler_import_of_the_root() -> None:
    """The root picks the sampler families from their registry, not one by one."""
    assert {m for m in GRAPH["api.main"] if layer(m) == "samplers"} <= {"pipeline.samplers"}


def test_the_plugins_use_only_the_value_checks_of_the_core() -> None:
    for module, imported in GRAPH.items():
        if layer(module) == "plugins":
            core = {m for m in imported if layer(m) == "core"}
            assert core <= {"pipeline.checks"}, (module, core)


def test_no_import_cycles() -> None:
    # Tarjan's strongly connected components over the runtime import graph
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert cycles == []


def test_topic_names_come_from_pipeline_topics() -> None:
    for module, path in MODULES.items():
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module != "pipeline.topics":
                topics = [a.name for a in node.names if a.name.endswith("_TOPIC")]
                assert not topics, f"{module} imports {topics} from {node.module}"


def test_the_layout_rules_catch_a_wrong_import() -> None:
    """The checks above can fail: a stage importing a sink would be caught."""
    assert "sinks" in FORBIDDEN[layer("pipeline.stages.alerts")]
    assert layer("sinks.mqtt") == "sinks" and layer("api.main") == "root"
    assert layer("pipeline.config.model") == "core" and layer("pipeline.runner") == "core"


# --- the faces' own tables ----------------------------------------------------------

#: fields a face adds to a plugin's stats as it publishes them (the reference's MQTT
#: export gives ``uptime`` as ``{"seconds": ...}``)
FACE_FIELDS = {("uptime", "seconds")}


def test_mqtt_discovery_entities_are_real_plugins_and_fields() -> None:
    for plugin, entities in DISCOVERED.items():
        assert plugin in PLUGINS, plugin
        for entity in entities:
            key = (plugin, entity.field)
            assert entity.field in FIELDS[plugin] or key in FACE_FIELDS, key


def test_openapi_overrides_are_real_plugins_and_fields() -> None:
    for plugin, field in OVERRIDES:
        assert plugin in PLUGINS, plugin
        assert field in FIELDS[plugin], (plugin, field)


def test_prometheus_labels_are_real_plugins_and_fields() -> None:
    assert SKIPPED <= set(PLUGINS)
    for plugin, labels in EXTRA_LABELS.items():
        assert PLUGINS[plugin].kind == "list", plugin
        for label in labels:
            assert label in FIELDS[plugin], (plugin, label)
