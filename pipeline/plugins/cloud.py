"""Cloud instance metadata (docs/plugins/cloud.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.checks import Option, base_url
from pipeline.checks import number as check_number
from pipeline.plugins.descriptor import FieldInfo, PluginInfo

if TYPE_CHECKING:
    pass

F = FieldInfo


DESCRIPTORS = (
    PluginInfo(
        "cloud",
        "dict",
        refresh=3600.0,
        default_disable=True,
        fields={
            "id": F(
                "Cloud identifier of the instance: the EC2 AMI id or the OpenStack project id.", ""
            ),
            "name": F(
                "Name of the instance: the EC2 instance id or the OpenStack instance name.", ""
            ),
            "type": F("Type of the instance: the EC2 instance type or the OpenStack role.", ""),
            "region": F("Availability zone of the instance.", ""),
            "platform": F("Cloud platform: OpenStack or Amazon EC2.", ""),
        },
        options={
            "url": Option(base_url, "http://169.254.169.254"),
            "request_timeout": Option(check_number(0.1, 60), 3.0),
        },
        sectioned=True,
    ),
)
