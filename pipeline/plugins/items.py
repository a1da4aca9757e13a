"""What is done to a sample before it is published, the same way for every plugin,
from what its descriptor says, so that no sampler has to: its shape is checked
(:func:`wrong_shape`), a list plugin's items are filtered by ``hide`` / ``show`` and
given their aliases (docs/plugins/options.md; the descriptor's ``alias_field``,
``alias_names`` and ``also_matched``), and text that is not valid Unicode is mended
(:func:`valid_text`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pipeline.plugins import PLUGINS
from pipeline.plugins.descriptor import Entry

if TYPE_CHECKING:
    from pipeline.config import Config


class UniqueLabels:
    """Hands out unique labels: a repeated one gets `` 1``, `` 2``... appended (the
    sensors sampler's labels, and the item rules' after an alias renamed some)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def unique(self, label: str) -> str:
        candidate, n = label, 0
        while candidate in self._seen:
            n += 1
            candidate = f"{label} {n}"
        self._seen.add(candidate)
        return candidate


def _finder(aliases: Mapping[str, str]) -> Callable[[str], str | None]:
    """Looks a name up in ``aliases``: exactly, else ignoring case (the reference
    lower-cases both sides); the first name written wins among those equal but for
    case."""
    exact = dict(aliases)
    folded: dict[str, str] = {}
    for name, alias in exact.items():
        folded.setdefault(name.casefold(), alias)

    def find(name: str) -> str | None:
        alias = exact.get(name)
        return alias if alias is not None else folded.get(name.casefold())

    return find


def alias_lookup(plugin: str, config: Config) -> Callable[[Entry], str | None] | None:
    """The alias of an entry of ``plugin`` (``alias = "name:Alias,..."``), or ``None``
    when the plugin has no alias configured.

    The names looked up are the descriptor's ``alias_names(entry)`` in turn (by default
    the entry's key value; sensors: its ``label``, then ``<label>_<type>``, as the
    reference's sensors plugin does)."""
    info, aliases = PLUGINS[plugin], config.plugins[plugin].alias
    if info.key is None or not aliases:
        return None
    key, find = info.key, _finder(aliases)
    names = info.alias_names
    if names is None:
        return lambda entry: find(str(entry.get(key, "")))

    def lookup(entry: Entry) -> str | None:
        for name in names(entry):
            found = find(name)
            if found is not None:
                return found
        return None

    return lookup


def display_filter(plugin: str, config: Config) -> Callable[[Entry], bool] | None:
    """The reference's ``is_display`` for a list plugin's ``hide``/``show`` options, or
    ``None`` when it has neither.

    A regex matches the item's key value whole, ignoring case, or the item's alias (and
    the descriptor's ``also_matched`` fields, or their aliases: fs matches the mount
    point or the device, the reference's ``is_display_any(mnt_point, device_name)``).
    With ``show``, only the items it matches are kept (``show`` wins over ``hide``);
    else every item ``hide`` does not match.  Sensors are matched on their label as
    sampled, before the alias replaces it, and on the alias."""
    info, options = PLUGINS[plugin], config.plugins[plugin]
    if info.kind != "list" or info.key is None or not (options.hide or options.show):
        return None
    fields = info.also_matched
    show = [re.compile(r, re.IGNORECASE) for r in options.show]
    hide = [re.compile(r, re.IGNORECASE) for r in options.hide]
    regexes = show or hide
    key, alias_of, find = info.key, alias_lookup(plugin, config), _finder(options.alias)

    def names(entry: Entry) -> list[str]:
        out = [str(entry.get(key, ""))]
        alias = alias_of(entry) if alias_of is not None else None
        if alias is not None:
            out.append(alias)
        for other in fields:  # another field: matched with its own alias
            value = entry.get(other)
            if value is not None:
                out.append(str(value))
                if (alias := find(str(value))) is not None:
                    out.append(alias)
        return out

    def shown(entry: Entry) -> bool:
        matched = any(r.fullmatch(name) for name in names(entry) for r in regexes)
        return matched if show else not matched

    return shown


def item_rules(plugin: str, config: Config) -> Callable[[list[Any]], list[Any]] | None:
    """What the runner does to a list plugin's entries before publishing them: drop
    those :func:`display_filter` hides, then write the aliases (to the descriptor's
    ``alias_field``: network, diskio and fs entries get an ``alias`` field, a sensor's
    alias replaces its ``label``).  ``None`` when the plugin has neither filter nor
    alias.

    Entries are copied before they are changed, never changed in place.  A key an alias
    makes equal to another's gets `` 1``, `` 2``... appended, as the sensors sampler
    does, so that labels stay unique keys."""
    shown = display_filter(plugin, config)
    alias_of = alias_lookup(plugin, config)
    target = PLUGINS[plugin].alias_field if alias_of is not None else None
    if shown is None and target is None:
        return None
    renames_key = target is not None and target == PLUGINS[plugin].key

    def apply(entries: list[Any]) -> list[Any]:
        out: list[Any] = []
        for entry in entries:
            if not isinstance(entry, dict):
                out.append(entry)
                continue
            if shown is not None and not shown(entry):
                continue
            if target is not None and alias_of is not None:
                alias = alias_of(entry)
                if alias is not None:
                    entry = {**entry, target: alias}
            out.append(entry)
        if renames_key and target is not None:
            _unique(out, target)
        return out

    return apply


def _unique(entries: list[Any], key: str) -> None:
    """Make ``entry[key]`` unique (in place on the list, copying an entry it renames)."""
    labels = UniqueLabels()
    for i, entry in enumerate(entries):
        value = entry.get(key) if isinstance(entry, dict) else None
        if isinstance(value, str) and (candidate := labels.unique(value)) != value:
            entries[i] = {**entry, key: candidate}


def wrong_shape(plugin: str, value: Any) -> str | None:
    """What is wrong with the shape of ``plugin``'s sampled value (``None``: nothing):
    a list plugin's value is a list of dicts (or ``{}`` where that is its empty value),
    a dict plugin's a dict, a value plugin's a string.  The API and the exporters serve
    this shape to clients that index it (Home Assistant), and the stages read it, so a
    sampler that breaks it has failed, as one that raises has."""
    info = PLUGINS[plugin]
    if info.kind == "list":
        if isinstance(value, list):
            for i, entry in enumerate(value):
                if not isinstance(entry, dict):
                    return f"entry {i} is {type(entry).__name__}, not a dict"
            return None
        if info.absent == "dict" and value == {}:
            return None
        return f"{type(value).__name__}, not a list"
    expected = {"dict": dict, "value": str}.get(info.kind)
    if expected is not None and not isinstance(value, expected):
        return f"{type(value).__name__}, not a {expected.__name__}"
    return None


def valid_text(value: Any) -> Any:
    """``value`` with every string made valid Unicode: the bytes a process name, a
    command line, a mount point or an interface name held that were not UTF-8 (decoded
    with ``surrogateescape``, as psutil does) become U+FFFD, which msgpack and JSON can
    carry.  Dict keys too."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [valid_text(v) for v in value]
    if isinstance(value, dict):
        return {valid_text(k): valid_text(v) for k, v in value.items()}
    return value
