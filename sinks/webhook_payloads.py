"""What the webhook sink sends: the two body formats and the signature header.

Pure functions, free of I/O, so that the formats are tested field by field and the
signature scheme is shown to receivers in ``docs/webhooks.md``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import orjson

SIGNATURE_HEADER = "X-Statbus-Signature"
DELIVERY_HEADER = "X-Statbus-Delivery"
#: Alertmanager's "not ended" time
ZERO_TIME = "0001-01-01T00:00:00Z"
#: transitions that say the event is (still) firing; ``closed`` is resolved
FIRING_TRANSITIONS = ("opened", "escalated", "repeated")


def fingerprint(host: str, event_type: str, begin: int) -> str:
    """Stable for one event of one host: the same through escalations, repeats and close."""
    raw = f"{host}\0{event_type}\0{int(begin)}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def rfc3339(ts: float) -> str:
    """UTC, second precision unless ``ts`` has a fraction: ``2024-05-01T12:00:00Z``."""
    dt = datetime.fromtimestamp(ts, UTC)
    if dt.microsecond:
        return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def statbus_body(host: str, transition: str, event: dict[str, Any], sent_at: float) -> bytes:
    """The ``statbus`` format: one JSON object per transition."""
    return orjson.dumps(
        {
            "host": host,
            "transition": transition,
            "fingerprint": fingerprint(host, event["type"], event["begin"]),
            "event": event,
            "sent_at": sent_at,
        }
    )


def _description(event: dict[str, Any]) -> str:
    text = f"{event['type']} {event['state']}: max {event['max']:.1f}, avg {event['avg']:.1f}"
    return text + (f" ({event['desc']})" if event.get("desc") else "")


def alertmanager_body(host: str, transition: str, event: dict[str, Any], *, receiver: str) -> bytes:
    """The Alertmanager webhook v4 body: one group of one alert."""
    firing = transition in FIRING_TRANSITIONS
    status = "firing" if firing else "resolved"
    labels = {
        "alertname": str(event["type"]),
        "host": host,
        "severity": str(event["state"]).lower(),
    }
    annotations = {
        "description": _description(event),
        "global_msg": str(event.get("global_msg", "")),
        "top": ", ".join(str(t) for t in event.get("top", [])),
    }
    end = event.get("end", -1)
    alert = {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(float(event["begin"])),
        "endsAt": ZERO_TIME if firing or end == -1 else rfc3339(float(end)),
        "generatorURL": "",
        "fingerprint": fingerprint(host, event["type"], event["begin"]),
    }
    group_labels = {"alertname": labels["alertname"], "host": host}
    return orjson.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{labels["alertname"]}", host="{host}"}}',
            "truncatedAlerts": 0,
            "status": status,
            "receiver": receiver,
            "groupLabels": group_labels,
            "commonLabels": labels,
            "commonAnnotations": annotations,
            "externalURL": "",
            "alerts": [alert],
        }
    )


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Statbus-Signature`` value: ``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, now: float, tolerance: float = 300) -> bool:
    """What a receiver does (``docs/webhooks.md``): the HMAC matches and is recent."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, body, timestamp).split("v1=", 1)[1]
    fresh = abs(now - timestamp) <= tolerance
    return fresh and hmac.compare_digest(expected, fields.get("v1", ""))
