"""The /proc-file plugins answer their empty value when the file cannot be read (a
restricted /proc: a directory, or permission denied), as when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.plugins import PLUGINS
from pipeline.samplers import irq, procfs, raid, wifi
from tests.pipeline.sampler_helpers import context

CASES = [
    ("irq", "interrupts", irq.sample_irq),
    ("wifi", "net/wireless", wifi.sample_wifi),
    ("raid", "mdstat", raid.sample_raid),
]


@pytest.mark.parametrize(("plugin", "path", "sample"), CASES)
def test_an_unreadable_file_is_the_empty_value(
    plugin: str, path: str, sample: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / path).mkdir(parents=True)  # reading it raises IsADirectoryError
    monkeypatch.setattr(procfs, "PROC", str(tmp_path))
    data, _ = sample(None, context([plugin]))  # type: ignore[operator]
    assert data == {plugin: PLUGINS[plugin].empty()}
