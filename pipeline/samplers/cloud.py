"""The ``cloud`` plugin: the instance as the cloud's metadata service describes it.

The OpenStack metadata API is tried first, then the EC2 one, at ``url`` (default
``http://169.254.169.254``), as the reference does:

* OpenStack: ``<url>/openstack/latest/meta-data/{project_id,name,meta/role,availability_zone}``
* EC2: ``<url>/latest/meta-data/{ami-id,instance-id,instance-type,placement/availability-zone}``

giving ``{"id", "name", "type", "region", "platform"}``.  A provider is chosen when every
request got an answer and at least one answered 2xx; a field whose request answered
something else (404) is ``None``.  An EC2 request answered 401 (IMDSv2 only) is retried
once with a session token (``PUT <url>/latest/api/token``).  Anything else (no service,
refused, a stall, only 404s) gives ``{}``: the plugin never raises for the network.

A request waits at most ``request_timeout`` seconds, and the whole sample at most twice
that (and 80 % of the sampler timeout); a service that refuses or does not accept the
connection is not asked again for the second provider.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.checks import url_without_secrets
from pipeline.plugins import PLUGINS
from pipeline.runner import SampleContext, SamplerSpec

if TYPE_CHECKING:  # httpx weighs megabytes: imported when an engine or URL is read
    import httpx

log = logging.getLogger(__name__)

#: a metadata value longer than this is not one (the values are short strings)
MAX_VALUE = 4096
TOKEN_TTL = "21600"


@dataclass(frozen=True, slots=True)
class Provider:
    platform: str
    prefix: str
    #: served field -> path under ``prefix``
    paths: tuple[tuple[str, str], ...]


PROVIDERS = (
    Provider(
        "OpenStack",
        "/openstack/latest/meta-data",
        (
            ("id", "project_id"),
            ("name", "name"),
            ("type", "meta/role"),
            ("region", "availability_zone"),
        ),
    ),
    Provider(
        "Amazon EC2",
        "/latest/meta-data",
        (
            ("id", "ami-id"),
            ("name", "instance-id"),
            ("type", "instance-type"),
            ("region", "placement/availability-zone"),
        ),
    ),
)


class Unanswered(Exception):
    """A request got no HTTP answer (refused, timed out, reset, past the deadline)."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        #: the service does not accept connections: no other provider is tried
        self.unreachable = unreachable


@dataclass(slots=True)
class Session:
    client: httpx.Client
    base: str
    request_timeout: float
    deadline: float
    #: IMDSv2 session token, once one was needed
    token: str | None = None

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """``(status, body)``; raises :class:`Unanswered`."""
        import httpx

        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise Unanswered("no time left")
        url = self.base + path
        shown = url_without_secrets(url)  # the configured URL may carry credentials
        try:
            with self.client.stream(
                method, url, headers=headers, timeout=min(self.request_timeout, remaining)
            ) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_VALUE or time.monotonic() > self.deadline:
                        raise Unanswered(f"{shown}: answer too long or too slow")
                return response.status_code, body.decode("utf-8", "replace").strip()
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Unanswered(f"{shown}: {exc!r}", unreachable=True) from exc
        except (httpx.HTTPError, ValueError) as exc:  # timeout, reset, protocol, encoding
            raise Unanswered(f"{shown}: {exc!r}") from exc

    def get(self, provider: Provider, path: str) -> str | None:
        """The value at ``path``, None when the answer is not 2xx."""
        headers = {"X-aws-ec2-metadata-token": self.token} if self.token else None
        status, body = self.request("GET", f"{provider.prefix}/{path}", headers)
        if status == 401 and provider.platform == "Amazon EC2" and self.token is None:
            put = {"X-aws-ec2-metadata-token-ttl-seconds": TOKEN_TTL}
            token_status, token = self.request("PUT", "/latest/api/token", put)
            # a header value: printable ASCII only (httpx cannot send anything else)
            if token_status == 200 and token and token.isascii() and token.isprintable():
                self.token = token
                headers = {"X-aws-ec2-metadata-token": token}
                status, body = self.request("GET", f"{provider.prefix}/{path}", headers)
        return body if 200 <= status < 300 else None


def fetch(session: Session) -> dict[str, str | None]:
    for provider in PROVIDERS:
        try:
            values = {field: session.get(provider, path) for field, path in provider.paths}
        except Unanswered as exc:
            log.debug("cloud: no %s metadata: %s", provider.platform, exc)
            if exc.unreachable:
                break
            continue
        if any(v is not None for v in values.values()):
            return {**values, "platform": provider.platform}
        log.debug(
            "cloud: no %s metadata at %s", provider.platform, url_without_secrets(session.base)
        )
    return {}


def sample_cloud(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    import httpx

    options = ctx.config.plugins["cloud"].options
    request_timeout = float(options["request_timeout"])
    budget = min(2 * request_timeout, 0.8 * ctx.config.timeout_of("cloud"))
    with httpx.Client(trust_env=False, follow_redirects=False) as client:
        session = Session(client, options["url"], request_timeout, time.monotonic() + budget)
        stats = fetch(session)
    return {"cloud": stats or PLUGINS["cloud"].empty()}, None


SAMPLERS = [SamplerSpec("cloud", ("cloud",), sample_cloud)]
