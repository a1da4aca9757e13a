"""Certificates and keys named by the configuration: when they will be used, they must
load, so that a bad file stops start-up with a one-line error naming the key (not a
retry loop later)."""

from __future__ import annotations

import ssl

from pipeline.checks import ConfigError
from pipeline.config.model import ApiConfig, MqttConfig


def check_api_tls(api: ApiConfig) -> None:
    """``api.certfile``/``api.keyfile``: when the API serves HTTPS, the certificate and
    key must load, so a bad file stops start-up with a one-line error naming the key."""
    if api.keyfile and not api.certfile:
        raise ConfigError("api.keyfile", api.keyfile, "needs api.certfile (the certificate)")
    if not api.certfile or not api.enabled:
        return
    for key in ("certfile", "keyfile"):
        path = getattr(api, key)
        try:
            if path:
                with open(path, "rb") as f:
                    head = f.read(1 << 20)
        except OSError as exc:
            raise ConfigError(
                f"api.{key}", path, f"cannot read the file: {exc.strerror or exc}"
            ) from None
        if key == "certfile" and b"-----BEGIN CERTIFICATE-----" not in head:
            raise ConfigError("api.certfile", path, "not a PEM certificate file")
    _load_cert_chain(
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), "api", api.certfile, api.keyfile, "certificate"
    )


def _load_cert_chain(
    context: ssl.SSLContext, section: str, certfile: str, keyfile: str, what: str
) -> None:
    """Load ``certfile`` and its key into ``context``, or a ConfigError naming the key
    (``keyfile`` when there is one, else ``certfile``, which then holds the key)."""
    try:  # an encrypted key is refused, not prompted for
        context.load_cert_chain(certfile, keyfile or None, password=lambda: b"")
    except (ssl.SSLError, ValueError) as exc:
        key, path = ("keyfile", keyfile) if keyfile else ("certfile", certfile)
        raise ConfigError(
            f"{section}.{key}",
            path,
            f"cannot load the {what} and its (unencrypted) key as PEM: {exc}",
        ) from None


def check_mqtt_tls(mqtt: MqttConfig) -> None:
    """The TLS keys together; when the sink will use TLS, the files named must load
    (so that a missing or unreadable one is a start-up error, not a retry loop)."""
    files = {"ca_file": mqtt.ca_file, "certfile": mqtt.certfile, "keyfile": mqtt.keyfile}
    if mqtt.keyfile and not mqtt.certfile:
        raise ConfigError(
            "mqtt.keyfile", mqtt.keyfile, "needs mqtt.certfile (the client certificate)"
        )
    if not mqtt.tls:
        for key, value in [*files.items(), ("tls_insecure", mqtt.tls_insecure)]:
            if value:
                raise ConfigError(f"mqtt.{key}", value, "is used only with mqtt.tls = true")
        return
    if not mqtt.enabled:
        return
    for key, path in files.items():
        try:
            if path:
                with open(path, "rb"):
                    pass
        except OSError as exc:
            raise ConfigError(
                f"mqtt.{key}", path, f"cannot read the file: {exc.strerror or exc}"
            ) from None
    try:
        context = ssl.create_default_context(cafile=mqtt.ca_file or None)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(
            "mqtt.ca_file", mqtt.ca_file, f"not a PEM CA certificate file: {exc}"
        ) from None
    if mqtt.certfile:
        _load_cert_chain(context, "mqtt", mqtt.certfile, mqtt.keyfile, "client certificate")
