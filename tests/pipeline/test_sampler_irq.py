"""The irq plugin on copies of /proc/interrupts, and on this machine's."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from pipeline.samplers import irq, procfs
from pipeline.samplers.irq import IrqState, parse_interrupts, sample_irq
from tests.pipeline.sampler_helpers import context, two_rounds

FIXTURES = Path(__file__).parent / "fixtures" / "irq"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(irq, "monotonic", c)
    return c


def two_readings(
    monkeypatch: pytest.MonkeyPatch, clock: Clock, first: str, second: str, elapsed: float
) -> tuple[dict[str, Any], IrqState, list[dict[str, Any]]]:
    """The first call's data and state, then the second call's ``irq``, ``elapsed`` s on."""
    monkeypatch.setattr(procfs, "PROC", str(FIXTURES / first))
    data, state = sample_irq(None, context(["irq"]))
    assert state is not None
    snapshot = dataclasses.replace(state, counts=dict(state.counts))
    clock.now += elapsed
    monkeypatch.setattr(procfs, "PROC", str(FIXTURES / second))
    data2, _ = sample_irq(state, context(["irq"]))
    assert state == snapshot  # the previous state is left as it was
    return data, state, data2["irq"]


def test_parse_names_numeric_lines_after_their_device_and_sums_the_cpus() -> None:
    counts = parse_interrupts((FIXTURES / "x86_4cpu" / "interrupts").read_bytes())
    assert list(counts)[:6] == [
        "0_timer", "1_i8042", "8_rtc0", "9_acpi", "16_ehci_hcd:usb1", "120_dmar0"
    ]  # fmt: skip
    assert counts["0_timer"] == 36
    assert counts["LOC"] == 14_000_000
    assert counts["IWI"] == 1000
    assert counts["ERR"] == 0 and counts["MIS"] == 0  # one column only
    assert len(counts) == 29


def test_parse_counts_a_line_without_numbers_as_zero() -> None:
    counts = parse_interrupts((FIXTURES / "rpi" / "interrupts").read_bytes())
    assert counts["FIQ"] == 0
    assert counts["17_arch_timer"] == 3047714 + 3047624 + 3047593 + 3047608
    assert counts["24_doorbell"] == 2  # the last column, as the reference names it
    assert counts["IPI3"] == 34
    assert counts["Err"] == 0
    assert {"48_IRQ", "50_IRQ", "51_IRQ", "54_IRQ"} <= set(counts)


def test_parse_a_copy_of_this_machine() -> None:
    counts = parse_interrupts((FIXTURES / "vm_2cpu" / "interrupts").read_bytes())
    assert counts["36_virtio1-req.0"] == 58767
    assert counts["LOC"] == 23003 + 26366
    assert counts["ERR"] == 0


def test_first_call_primes_then_the_top_five_by_rate(
    monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    data, state, entries = two_readings(monkeypatch, clock, "x86_4cpu", "x86_4cpu_later", 2.0)
    assert data == {}  # priming: irq is not published
    assert state.ts == 1000.0
    assert entries == [
        {"irq_line": "LOC", "irq_rate": 8000, "time_since_update": 2.0, "key": "irq_line"},
        {"irq_line": "128_i915", "irq_rate": 1500, "time_since_update": 2.0, "key": "irq_line"},
        {"irq_line": "RES", "irq_rate": 500, "time_since_update": 2.0, "key": "irq_line"},
        {"irq_line": "127_nvme0q1", "irq_rate": 499, "time_since_update": 2.0,
         "key": "irq_line"},
        {"irq_line": "CAL", "irq_rate": 100, "time_since_update": 2.0, "key": "irq_line"},
    ]  # fmt: skip
    assert all(type(e["irq_rate"]) is int for e in entries)


def test_a_reset_counter_and_a_new_line_count_zero(
    monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    monkeypatch.setattr(irq, "TOP", 100)
    _, _, entries = two_readings(monkeypatch, clock, "x86_4cpu", "x86_4cpu_later", 2.0)
    rates = {e["irq_line"]: e["irq_rate"] for e in entries}
    assert rates["129_enp0s31f6"] == 0  # 5000 -> 100: reset
    assert rates["130_xhci_hcd"] == 0  # first seen with 99999
    assert rates["122_xhci_hcd"] == 75  # 150 // 2
    assert rates["ERR"] == 3  # a single column: 7 // 2
    names = [e["irq_line"] for e in entries]
    assert names.index("IWI") < names.index("ERR")  # a tie keeps the file's order
    assert len(entries) == 30


def test_rates_floor_over_a_fractional_interval(
    monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    _, _, entries = two_readings(monkeypatch, clock, "vm_2cpu", "vm_2cpu_later", 1.5)
    assert [(e["irq_line"], e["irq_rate"]) for e in entries] == [
        ("LOC", 212),  # 319 // 1.5
        ("CAL", 52),  # 79 // 1.5
        ("RES", 18),
        ("TLB", 14),
        ("42_virtio3-tx", 12),
    ]
    assert all(e["time_since_update"] == 1.5 for e in entries)


def test_a_line_without_numbers_has_rate_zero(
    monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    monkeypatch.setattr(irq, "TOP", 100)
    _, _, entries = two_readings(monkeypatch, clock, "rpi", "rpi", 1.0)
    assert {"irq_line": "FIQ", "irq_rate": 0, "time_since_update": 1.0, "key": "irq_line"} in (
        entries
    )


def test_missing_file_is_the_empty_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(procfs, "PROC", str(tmp_path))
    assert sample_irq(None, context(["irq"])) == ({"irq": []}, None)
    primed = IrqState(1.0, {"LOC": 5})
    assert sample_irq(primed, context(["irq"])) == ({"irq": []}, None)


def test_live() -> None:
    first, state, second, _ = two_rounds(sample_irq, context(["irq"]))
    assert first == {}
    assert isinstance(state, IrqState) and state.counts
    entries = second["irq"]
    assert 1 <= len(entries) <= 5
    rates = [e["irq_rate"] for e in entries]
    assert rates == sorted(rates, reverse=True)
    for e in entries:
        assert set(e) == {"irq_line", "irq_rate", "time_since_update", "key"}
        assert e["key"] == "irq_line" and e["irq_line"] in state.counts
        assert type(e["irq_rate"]) is int and e["irq_rate"] >= 0
        assert e["time_since_update"] > 0
