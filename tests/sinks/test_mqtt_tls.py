"""TLS and username/password against a real Mosquitto.

A throw-away PKI (a CA, server certificates, a client certificate) is made with the
``openssl`` command-line tool; the password file with ``mosquitto_passwd``.
"""

from __future__ import annotations

import getpass
import logging
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from pipeline.bus import Bus
from pipeline.config import ConfigError, from_mapping
from sinks.mqtt import MqttSink
from tests.polling import until
from tests.sinks.conftest import Broker, Subscriber, mosquitto_binary
from tests.sinks.test_mqtt import publish_stat, running_sink, sink_config

OPENSSL_HINT = (
    "the MQTT TLS tests make their certificates with the `openssl` command; install it "
    "with `apt-get install -y openssl` (Debian/Ubuntu) or your system's package manager"
)
PASSWD_HINT = (
    "the MQTT password tests need `mosquitto_passwd`, which comes with mosquitto; "
    "install it with `apt-get install -y mosquitto`"
)


def _tool(name: str, hint: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin:/usr/local/bin")
    if found is None:
        pytest.fail(hint, pytrace=False)
    return found


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class Pki:
    folder: Path
    ca: Path
    #: server certificates (with their keys) by name
    good: tuple[Path, Path]  # for 127.0.0.1 and localhost
    wrong_name: tuple[Path, Path]  # for wrong.example only
    client: tuple[Path, Path]  # a client certificate (CN statbus)


def _signed(openssl: str, pki: Path, name: str, cn: str, extensions: str) -> tuple[Path, Path]:
    key, csr = pki / f"{name}.key", pki / f"{name}.csr"
    cert, ext = pki / f"{name}.crt", pki / f"{name}.ext"
    _run(
        *(openssl, "req", "-new", "-nodes", "-newkey", "ec"),
        *("-pkeyopt", "ec_paramgen_curve:prime256v1", "-subj", f"/CN={cn}"),
        *("-keyout", str(key), "-out", str(csr)),
    )
    ext.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid, issuer\n" + extensions
    )
    _run(
        *(openssl, "x509", "-req", "-in", str(csr), "-days", "2", "-sha256"),
        *("-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"), "-CAcreateserial"),
        *("-extfile", str(ext), "-out", str(cert)),
    )
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    openssl = _tool("openssl", OPENSSL_HINT)
    folder = tmp_path_factory.mktemp("pki")
    _run(
        *(openssl, "req", "-x509", "-nodes", "-newkey", "ec"),
        *("-pkeyopt", "ec_paramgen_curve:prime256v1", "-days", "2", "-sha256"),
        *("-subj", "/CN=statbus test CA", "-keyout", str(folder / "ca.key")),
        *("-out", str(folder / "ca.crt")),
        *("-addext", "basicConstraints = critical, CA:TRUE"),
        *("-addext", "keyUsage = critical, keyCertSign, cRLSign"),
    )
    server = "extendedKeyUsage = serverAuth\nsubjectAltName = "
    return Pki(
        folder,
        folder / "ca.crt",
        _signed(openssl, folder, "server", "127.0.0.1", server + "IP:127.0.0.1, DNS:localhost\n"),
        _signed(openssl, folder, "wrong", "wrong.example", server + "DNS:wrong.example\n"),
        _signed(openssl, folder, "client", "statbus", "extendedKeyUsage = clientAuth\n"),
    )


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Start a mosquitto with extra configuration lines; all stopped at the end."""
    started: list[Broker] = []

    def make(*extra: str) -> Broker:
        folder = tmp_path / f"broker{len(started)}"
        folder.mkdir()
        # as root mosquitto drops to the "mosquitto" user, which cannot read tmp_path
        b = Broker(mosquitto_binary(), folder, extra_conf=[f"user {getpass.getuser()}", *extra])
        started.append(b)
        b.start()
        return b

    yield make
    for b in started:
        b.stop()


def tls_listener(cert: tuple[Path, Path], ca: Path, *extra: str) -> list[str]:
    return [f"cafile {ca}", f"certfile {cert[0]}", f"keyfile {cert[1]}", *extra]


async def tls_subscriber(port: int, topics: str | list[str], pki: Pki, **kw: Any) -> Subscriber:
    sub = Subscriber(port, topics)
    sub.client.tls_set(ca_certs=str(pki.ca), certfile=kw.get("certfile"), keyfile=kw.get("keyfile"))
    sub.client.tls_insecure_set(kw.get("insecure", False))
    return await sub.start()


# -- TLS ---------------------------------------------------------------------------------


async def test_tls_with_a_private_ca_publishes(pki: Pki, make_broker: Any) -> None:
    broker = make_broker(*tls_listener(pki.good, pki.ca))
    sub = await tls_subscriber(broker.port, "glances/t1/#", pki)
    bus = Bus()
    config = sink_config(broker.port, tls=True, ca_file=str(pki.ca))
    async with running_sink(bus, MqttSink(bus, config, hostname="t1")) as sink:
        await until(lambda: sink.state == "connected")
        await publish_stat(bus, "cpu", {"total": 12.5})
        got = await sub.wait_for(lambda got: any(m.topic == "glances/t1/cpu" for m in got))
    sub.stop()
    assert sub.payloads("glances/t1/cpu") == [b'{"total":12.5}']
    assert b"online" in sub.payloads("glances/t1/availability")
    assert sink.last_error is None and sink.connects == 1
    assert got


async def test_tls_checks_the_broker(pki: Pki, make_broker: Any) -> None:
    """The chain is checked against ca_file (else the system's CAs), the host name
    unless tls_insecure; a failed check is an error and a retry, not a crash."""
    good = make_broker(*tls_listener(pki.good, pki.ca))
    wrong = make_broker(*tls_listener(pki.wrong_name, pki.ca))
    bus = Bus()
    unknown_ca = MqttSink(bus, sink_config(good.port, tls=True), hostname="t2")
    mismatch = MqttSink(bus, sink_config(wrong.port, tls=True, ca_file=str(pki.ca)), hostname="t2")
    async with running_sink(bus, unknown_ca), running_sink(bus, mismatch):
        await until(lambda: unknown_ca.last_error is not None and mismatch.last_error is not None)
        await trio.sleep(0.5)  # more attempts
        for sink in unknown_ca, mismatch:
            assert sink.connects == 0 and sink.state != "connected"
            assert "CERTIFICATE_VERIFY_FAILED" in (sink.last_error or "")
        assert "mismatch" in (mismatch.last_error or "")
    # the same broker, with tls_insecure: the name is not checked, the chain still is
    sub = await tls_subscriber(wrong.port, "glances/t3/cpu", pki, insecure=True)
    config = sink_config(wrong.port, tls=True, ca_file=str(pki.ca), tls_insecure=True)
    async with running_sink(bus, MqttSink(bus, config, hostname="t3")) as sink:
        await until(lambda: sink.state == "connected")
        await publish_stat(bus, "cpu", {"total": 3.0})
        await sub.wait_for(lambda got: len(got) == 1)
    sub.stop()
    insecure_unknown_ca = MqttSink(bus, sink_config(good.port, tls_insecure=True, tls=True))
    async with running_sink(bus, insecure_unknown_ca) as sink:
        await until(lambda: sink.last_error is not None)
        assert "CERTIFICATE_VERIFY_FAILED" in sink.last_error and sink.connects == 0


async def test_tls_client_certificate(
    pki: Pki, make_broker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broker = make_broker(*tls_listener(pki.good, pki.ca, "require_certificate true"))
    cert, key = pki.client
    sub = await tls_subscriber(
        broker.port, "glances/t4/cpu", pki, certfile=str(cert), keyfile=str(key)
    )
    bus = Bus()
    config = sink_config(
        broker.port, tls=True, ca_file=str(pki.ca), certfile=str(cert), keyfile=str(key)
    )
    without = sink_config(broker.port, tls=True, ca_file=str(pki.ca))
    async with (
        running_sink(bus, MqttSink(bus, config, hostname="t4")) as sink,
        running_sink(bus, MqttSink(bus, without, hostname="t4x")) as refused,
    ):
        await until(lambda: sink.state == "connected")
        await publish_stat(bus, "cpu", {"total": 4.0})
        await sub.wait_for(lambda got: len(got) == 1)
        await until(lambda: refused.last_error is not None)
        await trio.sleep(0.5)  # more attempts
        assert refused.connects == 0
    sub.stop()
    # once, however many attempts (paho's own messages are at debug)
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and "t4x" not in warned[0].getMessage(), warned


async def test_tls_reads_packets_left_inside_the_ssl_object(pki: Pki) -> None:
    """Two MQTT packets in one TLS record: paho reads one per call, the second waits
    decrypted inside the SSL object where ``wait_readable`` cannot see it.  A tiny
    broker sends a PINGRESP and the PUBACK of ``online`` in one record; the sink must
    see the PUBACK without more bytes arriving."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*pki.good)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    records: list[bytes] = []

    async def broker() -> None:
        stream = trio.SSLStream(await listeners[0].accept(), context, server_side=True)
        buffer = bytearray()
        while True:
            kind, body = await read_packet(stream, buffer)
            if kind == 0x10:  # CONNECT
                records.append(b"\x20\x02\x00\x00")  # CONNACK, accepted
            elif kind == 0x30 and body[0] & 0x06 == 0x02:  # PUBLISH at QoS 1
                topic_len = int.from_bytes(body[1:3])
                mid = body[3 + topic_len : 5 + topic_len]
                # first one: PINGRESP + PUBACK in one record; then plain PUBACKs
                records.append((b"" if len(records) > 1 else b"\xd0\x00") + b"\x40\x02" + mid)
            elif kind == 0xE0:  # DISCONNECT
                await stream.aclose()
                return
            else:
                continue
            await stream.send_all(records[-1])

    bus = Bus()
    # no discovery: ``online`` must be the only message in flight, so that paho reads
    # one packet per call
    config = sink_config(port, tls=True, ca_file=str(pki.ca), homeassistant={"enabled": False})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(broker)
        async with running_sink(bus, MqttSink(bus, config, hostname="t5")) as sink:
            await until(lambda: sink.published == 1, within=3)
            assert records[1].startswith(b"\xd0\x00\x40\x02")
        for listener in listeners:
            await listener.aclose()


async def read_packet(stream: trio.SSLStream[Any], buffer: bytearray) -> tuple[int, bytes]:
    """One MQTT packet: (type nibble << 4, flags byte + body)."""
    while True:
        if len(buffer) >= 2:
            length, shift, i = 0, 0, 1
            while i < len(buffer) and i < 5:
                length |= (buffer[i] & 0x7F) << shift
                shift += 7
                i += 1
                if not buffer[i - 1] & 0x80:
                    break
            else:
                length = -1
            if length >= 0 and len(buffer) >= i + length:
                first, body = buffer[0], bytes(buffer[i : i + length])
                del buffer[: i + length]
                return first & 0xF0, bytes([first & 0x0F]) + body
        data = await stream.receive_some()
        if not data:
            raise EOFError("the client closed the connection")
        buffer += data


# -- username and password ---------------------------------------------------------------


@pytest.fixture
def password_broker(tmp_path: Path, make_broker: Any) -> Broker:
    passwd = _tool("mosquitto_passwd", PASSWD_HINT)
    path = tmp_path / "passwords"
    _run(passwd, "-b", "-c", str(path), "statbus", "s3cret pass")
    _run(passwd, "-b", str(path), "reader", "r")
    path.chmod(0o600)
    broker: Broker = make_broker("allow_anonymous false", f"password_file {path}")
    return broker


async def test_right_password_publishes(password_broker: Broker) -> None:
    port = password_broker.port
    sub = Subscriber(port, "glances/p1/cpu")
    sub.client.username_pw_set("reader", "r")
    await sub.start()
    bus = Bus()
    config = sink_config(port, username="statbus", password="s3cret pass")
    async with running_sink(bus, MqttSink(bus, config, hostname="p1")) as sink:
        await until(lambda: sink.state == "connected")
        await publish_stat(bus, "cpu", {"total": 5.0})
        got = await sub.wait_for(lambda got: len(got) == 1)
    sub.stop()
    assert got[0].payload == b'{"total":5.0}'


@pytest.mark.parametrize("credentials", [("statbus", "wrong"), ("", "")])
async def test_bad_password_is_an_error_logged_once_and_retried(
    password_broker: Broker, credentials: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sinks.mqtt")
    username, password = credentials
    bus = Bus()
    config = sink_config(password_broker.port, username=username, password=password)
    async with running_sink(bus, MqttSink(bus, config, hostname="p2")) as sink:
        await until(lambda: sink.last_error is not None)
        # more attempts, logged at debug only
        await until(lambda: sum("still cannot" in r.getMessage() for r in caplog.records) >= 2)
        # the sink keeps running, buffering the latest stats for when it may connect
        await publish_stat(bus, "cpu", {"total": 6.0})
        await until(lambda: sink.pending_stats == 1)
        assert sink.state != "connected" and sink.connects == 0
        assert sink.as_dict()["last_error"] == "refused by the broker: Not authorized"
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].levelno == logging.ERROR
    assert "Not authorized" in errors[0].getMessage()


# -- configuration -------------------------------------------------------------------------


def test_tls_config_is_checked_at_start(pki: Pki, tmp_path: Path) -> None:
    def load(**mqtt: Any) -> Any:
        return from_mapping({"mqtt": {"enabled": True, "tls": True, **mqtt}})

    assert load(ca_file=str(pki.ca)).mqtt.ca_file == str(pki.ca)
    cert, key = pki.client
    assert load(certfile=str(cert), keyfile=str(key)).mqtt.keyfile == str(key)
    bad_pem = tmp_path / "bad.pem"
    bad_pem.write_text("not a certificate\n")
    encrypted = tmp_path / "encrypted.key"
    _run(
        *(_tool("openssl", OPENSSL_HINT), "pkcs8", "-topk8", "-in", str(key)),
        *("-out", str(encrypted), "-passout", "pass:secret"),
    )
    missing = str(tmp_path / "missing.pem")
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"ca_file": missing}, "mqtt.ca_file", "cannot read the file"),
        ({"certfile": missing, "keyfile": str(key)}, "mqtt.certfile", "cannot read"),
        ({"certfile": str(cert), "keyfile": missing}, "mqtt.keyfile", "cannot read"),
        ({"keyfile": str(key)}, "mqtt.keyfile", "needs mqtt.certfile"),
        ({"ca_file": str(bad_pem)}, "mqtt.ca_file", "not a PEM CA certificate"),
        ({"certfile": str(cert)}, "mqtt.certfile", "cannot load the client certificate"),
        ({"certfile": str(cert), "keyfile": str(pki.good[1])}, "mqtt.keyfile", "cannot load"),
        ({"certfile": str(cert), "keyfile": str(encrypted)}, "mqtt.keyfile", "unencrypted"),
        ({"tls": False, "ca_file": str(pki.ca)}, "mqtt.ca_file", "only with mqtt.tls"),
        ({"tls": False, "tls_insecure": True}, "mqtt.tls_insecure", "only with mqtt.tls"),
        ({"tls": "yes"}, "mqtt.tls", "true or false"),
    ]
    for mqtt, key_name, reason in cases:
        with pytest.raises(ConfigError) as caught:
            load(**mqtt)
        assert caught.value.key == key_name and reason in caught.value.reason, (mqtt, caught)
    # not enabled: the files are not read
    assert from_mapping({"mqtt": {"tls": True, "ca_file": missing}}).mqtt.tls
