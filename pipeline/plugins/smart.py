"""SMART disk health (docs/plugins/smart.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.checks import Option
from pipeline.checks import number as check_number
from pipeline.plugins.descriptor import FieldInfo, PluginInfo

if TYPE_CHECKING:
    pass

F = FieldInfo


DESCRIPTORS = (
    PluginInfo(
        "smart",
        "list",
        "DeviceName",
        refresh=60.0,
        default_disable=True,
        absent="dict",
        fields={
            # the other keys are SMART attribute ids ("5", "194", ...), each a dict with
            # name, flags, raw, value, worst, threshold, type, updated and when_failed
            "DeviceName": F("Device name (without /dev/) and model.", ""),
        },
        options={"command_timeout": Option(check_number(0.1, 600), 10.0)},
        sectioned=True,
    ),
)
