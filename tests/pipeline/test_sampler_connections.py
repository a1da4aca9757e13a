"""The ``connections`` sampler: TCP states from /proc/net/tcp{,6}, and conntrack.

The fixture tree (``fixtures/connections``) holds ``net/tcp`` and ``net/tcp6`` in the
kernel's format (``tcp4_seq_show``/``tcp6_seq_show``: padded IPv4 lines, request and
TIME_WAIT sockets in their own shorter layout) with every state code 01-0B, and the two
conntrack files of ``/proc/sys/net/netfilter``.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import psutil
import pytest

from pipeline.plugins import FIELDS, PLUGINS
from pipeline.samplers import connections, procfs
from pipeline.samplers.connections import parse_tcp_states, sample_connections
from tests.pipeline.sampler_helpers import context

FIXTURES = Path(__file__).parent / "fixtures" / "connections"

#: the states of the fixture files, IPv4 and IPv6 together
EXPECTED_STATES = {
    "LISTEN": 5,
    "ESTABLISHED": 5,
    "SYN_SENT": 3,
    "SYN_RECV": 3,
    "FIN_WAIT1": 2,
    "FIN_WAIT2": 3,
    "TIME_WAIT": 5,
    "CLOSE": 2,
    "CLOSE_WAIT": 3,
    "LAST_ACK": 3,
    "CLOSING": 2,
}


@pytest.fixture
def fake_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixture tree as ``procfs.PROC`` (and psutil's procfs), to alter."""
    root = tmp_path / "proc"
    shutil.copytree(FIXTURES, root)
    monkeypatch.setattr(procfs, "PROC", str(root))
    monkeypatch.setattr(psutil, "PROCFS_PATH", str(root))
    return root


def sample() -> dict[str, object]:
    data, state = sample_connections(None, context(["connections"]))
    assert state is None
    assert set(data) == {"connections"}
    result = data["connections"]
    assert isinstance(result, dict)
    return result


def test_every_state_code_of_both_files_is_counted() -> None:
    v4 = parse_tcp_states((FIXTURES / "net" / "tcp").read_bytes())
    v6 = parse_tcp_states((FIXTURES / "net" / "tcp6").read_bytes())
    assert set(v4) == set(v6) == set(connections.TCP_STATES.values())
    assert sum(v4.values()) == 19  # every line but the header
    assert sum(v6.values()) == 17
    assert v4 + v6 == Counter(EXPECTED_STATES)


def test_the_fixture_states_are_psutils(fake_proc: Path) -> None:
    """psutil reads the same files (no /proc/<pid> here: no inode lookup) the same way."""
    by_psutil = Counter(c.status for c in psutil.net_connections("tcp"))
    assert parse_tcp_states(procfs.proc("net/tcp")) + parse_tcp_states(
        procfs.proc("net/tcp6")
    ) == Counter(by_psutil)


def test_malformed_lines_and_unknown_codes_are_skipped() -> None:
    data = (FIXTURES / "net" / "tcp").read_bytes().split(b"\n")
    data[1:1] = [
        b"  99: 0100007F:0016",  # cut short
        b"garbage without a slot number 0A",
        b" 100: 0100007F:0016 00000000:0000 0C 00000000:00000000 00:00000000 00000000 0 0 1",
        b"",
    ]
    states = parse_tcp_states(b"\n".join(data))
    assert states == parse_tcp_states((FIXTURES / "net" / "tcp").read_bytes())
    assert parse_tcp_states(b"") == Counter()


def test_the_plugin_dict(fake_proc: Path) -> None:
    result = sample()
    assert result == {
        "net_connections_enabled": True,
        "nf_conntrack_enabled": True,
        "LISTEN": 5,
        "ESTABLISHED": 5,
        "SYN_SENT": 3,
        "SYN_RECV": 3,
        "initiated": 6,
        # FIN_WAIT1 2 + FIN_WAIT2 3 + TIME_WAIT 5 + CLOSE 2 + CLOSE_WAIT 3 + LAST_ACK 3;
        # CLOSING is not in the reference's list, and the initiated ones (its bug) are not
        "terminated": 18,
        "nf_conntrack_count": 37.0,
        "nf_conntrack_max": 262144.0,
        "nf_conntrack_percent": 37 * 100 / 262144,
    }
    for name in ("nf_conntrack_count", "nf_conntrack_max", "nf_conntrack_percent"):
        assert type(result[name]) is float
    for name in ("LISTEN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "initiated", "terminated"):
        assert type(result[name]) is int
    assert set(result) == set(FIELDS["connections"])


def test_without_conntrack_there_are_no_nf_values(fake_proc: Path) -> None:
    shutil.rmtree(fake_proc / "sys")
    result = sample()
    assert result["nf_conntrack_enabled"] is False
    assert not [k for k in result if k.startswith("nf_") and k != "nf_conntrack_enabled"]
    assert result["LISTEN"] == 5


def test_half_of_conntrack_is_no_conntrack(fake_proc: Path) -> None:
    (fake_proc / "sys/net/netfilter/nf_conntrack_max").unlink()
    result = sample()
    assert result["nf_conntrack_enabled"] is False
    assert "nf_conntrack_count" not in result


def test_a_zero_conntrack_max_gives_zero_percent(fake_proc: Path) -> None:
    (fake_proc / "sys/net/netfilter/nf_conntrack_max").write_text("0\n")
    result = sample()
    assert result["nf_conntrack_enabled"] is True
    assert result["nf_conntrack_percent"] == 0.0


def test_an_unreadable_tcp_file_disables_the_counts(fake_proc: Path) -> None:
    (fake_proc / "net/tcp").unlink()
    result = sample()
    assert result["net_connections_enabled"] is False
    assert not {"LISTEN", "ESTABLISHED", "initiated", "terminated"} & set(result)
    assert result["nf_conntrack_enabled"] is True


def test_without_tcp6_only_ipv4_is_counted(fake_proc: Path) -> None:
    (fake_proc / "net/tcp6").unlink()
    result = sample()
    assert result["net_connections_enabled"] is True
    assert (result["LISTEN"], result["ESTABLISHED"], result["initiated"]) == (3, 2, 3)


def test_nothing_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procfs, "PROC", str(tmp_path))
    assert sample() == {"net_connections_enabled": False, "nf_conntrack_enabled": False}
    assert PLUGINS["connections"].kind == "dict"


# --- live ------------------------------------------------------------------------------


def test_live_counts_match_psutil_within_drift() -> None:
    before = Counter(c.status for c in psutil.net_connections("tcp"))
    result = sample()
    after = Counter(c.status for c in psutil.net_connections("tcp"))
    assert result["net_connections_enabled"] is True
    expected = {
        "LISTEN": (before["LISTEN"], after["LISTEN"]),
        "ESTABLISHED": (before["ESTABLISHED"], after["ESTABLISHED"]),
        "SYN_SENT": (before["SYN_SENT"], after["SYN_SENT"]),
        "SYN_RECV": (before["SYN_RECV"], after["SYN_RECV"]),
        "initiated": tuple(c["SYN_SENT"] + c["SYN_RECV"] for c in (before, after)),
        "terminated": tuple(sum(c[s] for s in connections.TERMINATED) for c in (before, after)),
    }
    for name, (b, a) in expected.items():
        value = result[name]
        assert isinstance(value, int)
        # other tests on this machine open and close sockets meanwhile
        slack = 5 + max(a, b) // 4
        assert min(a, b) - slack <= value <= max(a, b) + slack, (name, b, value, a)


def test_live_conntrack_is_present_here() -> None:
    if not Path("/proc/sys/net/netfilter/nf_conntrack_max").exists():
        pytest.skip("no conntrack on this machine")
    result = sample()
    assert result["nf_conntrack_enabled"] is True
    limit = float(Path("/proc/sys/net/netfilter/nf_conntrack_max").read_text())
    assert result["nf_conntrack_max"] == limit
    count = result["nf_conntrack_count"]
    assert isinstance(count, float) and 0 <= count <= limit
    assert result["nf_conntrack_percent"] == pytest.approx(count * 100 / limit)
