"""HTTPS for the API: ``api.certfile``/``api.keyfile`` served by hypercorn, checked at load.

A self-signed certificate for 127.0.0.1 is made by the ``openssl`` command (the
``cryptography`` package is not a dependency), and clients verify against it.
"""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from api.main import _hypercorn_config
from api.root import LazyApp, create_root_app
from pipeline.bus import Bus
from pipeline.config import ConfigError, load
from pipeline.events import StatEvent
from pipeline.stages.state import StateStage
from tests.conftest import _STARTED, LiveStatbus

STATBUS = [sys.executable, "-m", "api.cli"]
HTTPS_LINE = re.compile(r"serving (https://\S+/api/4)")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM)."""
    folder = tmp_path_factory.mktemp("tls")
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "2",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        cwd=folder,
    )  # fmt: skip
    return folder / "cert.pem", folder / "key.pem"


def _verifying(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


# -- served -----------------------------------------------------------------------------


async def test_the_fast_path_and_quart_answer_over_https(cert: tuple[Path, Path]) -> None:
    certfile, keyfile = cert
    config = load(
        overrides={
            "api.port": 0,
            "api.certfile": str(certfile),
            "api.keyfile": str(keyfile),
            "api.password": "pw",
        }
    )
    state = StateStage(Bus(), config.enabled_plugins())
    state.update(StatEvent("cpu", 1.0, 1, {"total": 12.5}))
    from hypercorn.trio import serve as hypercorn_serve

    from api.handles import ApiHandles

    root = create_root_app(ApiHandles(config, state))
    lazy = root.fallback
    assert isinstance(lazy, LazyApp)
    stop = trio.Event()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                lambda task_status: hypercorn_serve(
                    root,  # type: ignore[arg-type]
                    _hypercorn_config(config),
                    shutdown_trigger=stop.wait,
                    task_status=task_status,
                )
            )
            assert urls[0].startswith("https://127.0.0.1:")
            base = urls[0] + "/api/4"
            async with httpx.AsyncClient(verify=_verifying(certfile), auth=("glances", "pw")) as c:
                resp = await c.get(f"{base}/cpu")
                assert resp.status_code == 200 and resp.json() == {"total": 12.5}
                assert lazy.app is None  # answered by the fast path, over TLS
                assert (await c.get(f"{base}/config/api/certfile")).json() == str(certfile)
                assert lazy.app is not None  # that one was Quart's
            async with httpx.AsyncClient(verify=_verifying(certfile)) as anonymous:
                assert (await anonymous.get(f"{base}/cpu")).status_code == 401
            # a client that does not trust the certificate is refused
            async with httpx.AsyncClient() as untrusting:
                with pytest.raises(httpx.ConnectError):
                    await untrusting.get(f"{base}/status")
            # plain HTTP on the HTTPS port gets no answer
            plain = base.replace("https://", "http://")
            async with httpx.AsyncClient() as c:
                with pytest.raises(httpx.HTTPError):
                    resp = await c.get(f"{plain}/status")
                    resp.raise_for_status()
            stop.set()


@pytest.fixture
def https_statbus(tmp_path: Path, cert: tuple[Path, Path]) -> Iterator[tuple[LiveStatbus, str]]:
    certfile, keyfile = cert
    path = tmp_path / "statbus.toml"
    path.write_text(
        f'[api]\nport = 0\ncertfile = "{certfile}"\nkeyfile = "{keyfile}"\n'
        "[ports]\nport_default_gateway = false\n"
    )
    proc = subprocess.Popen(
        [*STATBUS, "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "XDG_STATE_HOME": str(tmp_path / "state")},
    )
    live = LiveStatbus(proc, base="")
    _STARTED.append(live)  # killed at the session's end if a failure left it running
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = HTTPS_LINE.search(line)
    assert match, f"no https URL printed: {line!r}"
    yield live, match.group(1)
    assert live.stop(signal.SIGTERM) == 0


def test_the_command_serves_and_prints_https(
    https_statbus: tuple[LiveStatbus, str], cert: tuple[Path, Path]
) -> None:
    _, base = https_statbus
    with httpx.Client(verify=_verifying(cert[0]), timeout=30) as c:
        assert c.get(f"{base}/all").json()["cpu"]["cpucore"] >= 1
        assert c.get(f"{base}/pluginslist").status_code == 200


# -- checked at load --------------------------------------------------------------------


def _error(**api: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(overrides={f"api.{k}": v for k, v in api.items()})
    return caught.value


def test_bad_certificate_files_stop_start_up(tmp_path: Path, cert: tuple[Path, Path]) -> None:
    certfile, keyfile = cert
    missing = tmp_path / "nope.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    other_key = tmp_path / "other.pem"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-out", str(other_key), cwd=tmp_path)  # fmt: skip
    encrypted = tmp_path / "encrypted.pem"
    _openssl("pkey", "-in", str(keyfile), "-aes256", "-passout", "pass:x",
             "-out", str(encrypted), cwd=tmp_path)  # fmt: skip
    cases = [
        ({"certfile": str(missing), "keyfile": str(keyfile)}, "api.certfile", "cannot read"),
        ({"certfile": str(certfile), "keyfile": str(missing)}, "api.keyfile", "cannot read"),
        ({"certfile": str(garbage), "keyfile": str(keyfile)}, "api.certfile", "PEM"),
        ({"certfile": str(certfile)}, "api.certfile", "PEM"),  # no key in it
        ({"certfile": str(certfile), "keyfile": str(other_key)}, "api.keyfile", "PEM"),
        ({"certfile": str(certfile), "keyfile": str(encrypted)}, "api.keyfile", "unencrypted"),
        ({"keyfile": str(keyfile)}, "api.keyfile", "needs api.certfile"),
    ]
    for api, key, reason in cases:
        error = _error(**api)
        assert error.key == key, (api, error)
        assert reason in error.reason, (api, error)
        assert "\n" not in str(error)
    # the certificate and key in one file is fine, and so is a disabled API's bad file
    both = tmp_path / "both.pem"
    both.write_text(certfile.read_text() + keyfile.read_text())
    assert load(overrides={"api.certfile": str(both)}).api.tls
    assert not load(overrides={"api.certfile": str(missing), "api.enabled": False}).api.enabled


def test_check_config_refuses_an_unreadable_certificate(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[api]\ncertfile = "{tmp_path / "nope.pem"}"\n')
    out = subprocess.run(
        [*STATBUS, "check-config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "api.certfile" in out.stderr
