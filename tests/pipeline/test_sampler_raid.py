"""The raid plugin on copies of /proc/mdstat, and on this machine's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pipeline.samplers import procfs
from pipeline.samplers.raid import sample_raid
from tests.pipeline.sampler_helpers import context

FIXTURES = Path(__file__).parent / "fixtures" / "raid"


def raid_of(monkeypatch: pytest.MonkeyPatch, root: Path) -> Any:
    monkeypatch.setattr(procfs, "PROC", str(root))
    data, state = sample_raid(None, context(["raid"]))
    assert state is None
    return data["raid"]


def md(
    status: str, kind: str | None, components: dict[str, str], health: tuple[Any, Any, Any]
) -> dict[str, Any]:
    available, used, config = health
    return {
        "status": status,
        "type": kind,
        "components": components,
        "available": available,
        "used": used,
        "config": config,
    }


NO_HEALTH = (None, None, None)


def test_raid1_arrays_in_the_file_order(monkeypatch: pytest.MonkeyPatch) -> None:
    raid = raid_of(monkeypatch, FIXTURES / "raid1")
    assert raid == {
        "md1": md("active", "raid1", {"sdb2": "1", "sda2": "0"}, (2, 2, "UU")),
        "md0": md("active", "raid1", {"sdb1": "1", "sda1": "0"}, (2, 2, "UU")),
    }
    assert list(raid) == ["md1", "md0"]
    assert type(raid["md0"]["available"]) is int and type(raid["md0"]["used"]) is int


def test_degraded_raid5_keeps_its_faulty_and_spare_members(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert raid_of(monkeypatch, FIXTURES / "raid5_degraded") == {
        "md2": md(
            "active",
            "raid5",
            {"sde1": "4", "sdd1": "3", "sdc1": "2", "sdb1": "1", "sda1": "0"},
            (4, 3, "UU_U"),
        )
    }


def test_recovery_and_resync_lines_are_not_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    assert raid_of(monkeypatch, FIXTURES / "recovery") == {
        "md3": md("active", "raid10", {"sdd": "4", "sdc": "2", "sdb": "1", "sda": "0"},
                  (4, 3, "UUU_")),
        "md0": md("active", "raid1", {"nvme1n1p1": "1", "nvme0n1p1": "0"}, (2, 2, "UU")),
    }  # fmt: skip


def test_inactive_array_has_no_type_and_no_health(monkeypatch: pytest.MonkeyPatch) -> None:
    assert raid_of(monkeypatch, FIXTURES / "inactive") == {
        "md127": md("inactive", None, {"sdc": "2", "sdb": "1"}, NO_HEALTH)
    }


def test_raid0_and_linear_have_no_health(monkeypatch: pytest.MonkeyPatch) -> None:
    assert raid_of(monkeypatch, FIXTURES / "raid0") == {
        "md4": md("active", "raid0", {"nvme1n1": "1", "nvme0n1": "0"}, NO_HEALTH),
        "md5": md("active", "linear", {"sdg1": "1", "sdf1": "0"}, NO_HEALTH),
    }


def test_read_only_arrays_are_active_with_their_type(monkeypatch: pytest.MonkeyPatch) -> None:
    assert raid_of(monkeypatch, FIXTURES / "auto_read_only") == {
        "md127": md("active", "raid1", {"sdb": "1", "sda": "0"}, (2, 2, "UU")),
        "md126": md("active", "raid5", {"sde": "2", "sdd": "1", "sdc": "0"}, (3, 3, "UUU")),
    }


def test_broken_raid0(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Linux 5.5+ marks a raid0/linear array that lost a member "broken" (MD_BROKEN)
    (tmp_path / "mdstat").write_text(
        "Personalities : [raid0] \n"
        "md4 : broken raid0 nvme0n1[0]\n"
        "      1000148992 blocks super 1.2 512k chunks\n"
        "      \n"
        "unused devices: <none>\n"
    )
    assert raid_of(monkeypatch, tmp_path) == {
        "md4": md("broken", "raid0", {"nvme0n1": "0"}, NO_HEALTH)
    }


def test_imsm_volume_and_its_container(monkeypatch: pytest.MonkeyPatch) -> None:
    assert raid_of(monkeypatch, FIXTURES / "imsm") == {
        "md126": md("active", "raid1", {"sda": "1", "sdb": "0"}, (2, 2, "UU")),
        "md127": md("inactive", None, {"sdb": "1", "sda": "0"}, NO_HEALTH),
    }


def test_no_array_or_no_file_is_the_empty_dict(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert raid_of(monkeypatch, FIXTURES / "empty") == {}
    assert raid_of(monkeypatch, tmp_path) == {}  # md driver not loaded


def test_malformed_lines_are_skipped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = (FIXTURES / "raid1" / "mdstat").read_text()
    text = text.replace("md0 : active raid1 sdb1[1] sda1[0]", "md0 : active raid1 sdb1[1] ???")
    text = text.replace("unused devices", "md9 :\nmd8 : \nunused devices")
    (tmp_path / "mdstat").write_text(text)
    raid = raid_of(monkeypatch, tmp_path)
    assert list(raid) == ["md1", "md0"]
    assert raid["md0"]["components"] == {"sdb1": "1"}


def test_live() -> None:
    data, state = sample_raid(None, context(["raid"]))
    assert state is None
    if not os.path.exists("/proc/mdstat"):
        assert data == {"raid": {}}
        return
    names = [
        line.split()[0]
        for line in Path("/proc/mdstat").read_text().splitlines()
        if line.startswith("md")
    ]
    assert list(data["raid"]) == names
