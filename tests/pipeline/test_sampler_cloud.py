"""The ``cloud`` sampler against a metadata server on 127.0.0.1 (``http.server`` in a
thread): EC2, OpenStack, IMDSv2, 404s, a stall and a refused connection."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pipeline.config import from_mapping
from pipeline.plugins import PLUGINS
from pipeline.samplers.cloud import sample_cloud
from tests.pipeline.sampler_helpers import context, loopback_config

EC2 = {
    "/latest/meta-data/ami-id": "ami-0c1a7f89451184c8b",
    "/latest/meta-data/instance-id": "i-0f3c2e8b1d4a5b6c7",
    "/latest/meta-data/instance-type": "t3.micro",
    "/latest/meta-data/placement/availability-zone": "eu-west-3a",
}
OPENSTACK = {
    "/openstack/latest/meta-data/project_id": "2f6c4e1b9a7d4c3e8f0a1b2c3d4e5f60",
    "/openstack/latest/meta-data/name": "web-01",
    "/openstack/latest/meta-data/meta/role": "frontend",
    "/openstack/latest/meta-data/availability_zone": "nova",
}
TOKEN = "AQAEAJ4Mvq9-example-token=="


@dataclass
class Metadata:
    """What the server answers (path -> body; others 404) and what it was asked."""

    routes: dict[str, str] = field(default_factory=dict)
    #: answer no request until ``release`` is set
    stall: bool = False
    #: IMDSv2 only: GETs without the token answer 401
    imdsv2: bool = False
    #: the token the PUT hands out
    token: str = TOKEN
    requests: list[tuple[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""


@pytest.fixture
def metadata() -> Iterator[Metadata]:
    meta = Metadata()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(self, status: int, body: str = "") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            meta.requests.append(("GET", self.path))
            if meta.stall:
                meta.release.wait(30)
                return  # the client gave up: no answer
            if meta.imdsv2 and self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
                self.answer(401)
            elif self.path in meta.routes:
                self.answer(200, meta.routes[self.path])
            else:
                self.answer(404, "Not Found")

        def do_PUT(self) -> None:
            meta.requests.append(("PUT", self.path))
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if meta.imdsv2 and self.path == "/latest/api/token" and ttl:
                self.answer(200, meta.token)
            else:
                self.answer(403)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = False  # server_close() joins the handlers
    thread = threading.Thread(target=server.serve_forever, name="metadata-server")
    thread.start()
    meta.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield meta
    finally:
        meta.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


def sample(url: str, request_timeout: float = 3.0, **section: Any) -> dict[str, Any]:
    config = from_mapping({"cloud": {"url": url, "request_timeout": request_timeout, **section}})
    data, state = sample_cloud(None, context(["cloud"], config=config))
    assert state is None
    result: dict[str, Any] = data["cloud"]
    return result


def test_ec2(metadata: Metadata) -> None:
    metadata.routes = dict(EC2)
    assert sample(metadata.url) == {
        "id": "ami-0c1a7f89451184c8b",
        "name": "i-0f3c2e8b1d4a5b6c7",
        "type": "t3.micro",
        "region": "eu-west-3a",
        "platform": "Amazon EC2",
    }
    # OpenStack asked first (404 everywhere), then EC2
    assert [p for _, p in metadata.requests] == list(OPENSTACK) + list(EC2)


def test_openstack(metadata: Metadata) -> None:
    metadata.routes = {**OPENSTACK, **EC2}
    assert sample(metadata.url) == {
        "id": "2f6c4e1b9a7d4c3e8f0a1b2c3d4e5f60",
        "name": "web-01",
        "type": "frontend",
        "region": "nova",
        "platform": "OpenStack",
    }
    assert [p for _, p in metadata.requests] == list(OPENSTACK)  # EC2 not asked


def test_openstack_without_role(metadata: Metadata) -> None:
    metadata.routes = {k: v for k, v in OPENSTACK.items() if not k.endswith("/meta/role")}
    result = sample(metadata.url)
    assert result["platform"] == "OpenStack"
    assert result["type"] is None
    assert result["name"] == "web-01"


def test_ec2_imdsv2_token(metadata: Metadata) -> None:
    metadata.routes = dict(EC2)
    metadata.imdsv2 = True
    result = sample(metadata.url)
    assert result["platform"] == "Amazon EC2"
    assert result["type"] == "t3.micro"
    # one token for the four EC2 requests
    assert metadata.requests.count(("PUT", "/latest/api/token")) == 1


def test_a_token_that_is_no_header_value_is_not_used(metadata: Metadata) -> None:
    """A token httpx could not send (non-ASCII): no token, so the 401s stand: {}."""
    metadata.routes = dict(EC2)
    metadata.imdsv2 = True
    metadata.token = "tökén"
    assert sample(metadata.url) == {}
    assert ("PUT", "/latest/api/token") in metadata.requests


def test_only_404_is_empty(metadata: Metadata) -> None:
    assert sample(metadata.url) == {} == PLUGINS["cloud"].empty()
    assert len(metadata.requests) == 8


def test_stall_is_empty_within_twice_the_request_timeout(metadata: Metadata) -> None:
    metadata.stall = True
    start = time.monotonic()
    assert sample(metadata.url, request_timeout=0.5) == {}
    assert time.monotonic() - start < 2 * 0.5 + 2
    # the first request of each provider timed out
    assert [p for _, p in metadata.requests] == [
        "/openstack/latest/meta-data/project_id",
        "/latest/meta-data/ami-id",
    ]


def test_stall_is_cut_by_the_sampler_timeout(metadata: Metadata) -> None:
    metadata.stall = True
    start = time.monotonic()
    # 2 x 5 s would outlast the sampler timeout (2 s): 80 % of it is the budget
    assert sample(metadata.url, request_timeout=5, timeout=2) == {}
    assert time.monotonic() - start < 3
    assert metadata.requests[0] == ("GET", "/openstack/latest/meta-data/project_id")


def test_refused_is_empty(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    caplog.set_level(logging.DEBUG, "pipeline.samplers.cloud")
    start = time.monotonic()
    assert sample(f"http://127.0.0.1:{port}") == {}
    assert time.monotonic() - start < 3
    # refused once: the service is not there, EC2 is not asked again
    [record] = caplog.records
    url = f"http://127.0.0.1:{port}/openstack/latest/meta-data/project_id"
    assert record.getMessage().startswith(f"cloud: no OpenStack metadata: {url}: ConnectError(")


def test_the_url_s_credentials_never_reach_the_log(
    metadata: Metadata, caplog: pytest.LogCaptureFixture
) -> None:
    """A metadata URL may carry user info or a token query: the debug log of an empty
    answer, and of a refused one, shows neither."""
    caplog.set_level(logging.DEBUG, "pipeline.samplers.cloud")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        refused = f"127.0.0.1:{sock.getsockname()[1]}"
    answering = metadata.url.removeprefix("http://")
    for host in (answering, refused):
        assert sample(f"http://statbus:S3cret-pw@{host}/?token=T0ken-q") == {}
    shown = "\n".join(r.getMessage() for r in caplog.records)
    assert "metadata at http://********@" in shown and "ConnectError(" in shown
    assert "S3cret-pw" not in shown and "T0ken-q" not in shown


def test_live_loopback_config() -> None:
    """The tests' built-in configuration points cloud at a loopback port where nothing
    listens (this machine is no cloud instance, and 169.254.169.254 is off loopback)."""
    ctx = context(["cloud"], config=loopback_config())
    data, _ = sample_cloud(None, ctx)
    assert data == {"cloud": {}}
