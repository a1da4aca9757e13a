"""A fake Docker/Podman Engine API on a unix socket.

It serves the routes statbus's ``containers`` sampler asks for, from bodies the test
gives (copies of real ones, under ``tests/pipeline/fixtures/containers/``)::

    GET /_ping                                   "OK"
    GET /containers/json?all=…                   the list (stopped ones only with all)
    GET /containers/{id}/json                    inspect
    GET /containers/{id}/stats?stream=false…     the container's stats bodies, one per
                                                 request (the last one repeats)
    GET /images/{id}/json                        image inspect
    GET /v{version}/libpod/containers/json       Podman only: the libpod list

A path may carry a ``/v1.47`` version prefix, as Docker clients send.  Faults
(:attr:`FakeEngine.fault`): ``"500"`` answers every request with HTTP 500 and a Docker
error body; ``"stall"`` holds every request until the engine is stopped (or ``stall_for``
seconds); ``stall_paths`` stalls only requests whose path contains one of its strings.

Use it as a context manager: the server runs in a thread and ``__exit__`` releases the
stalled requests, stops the server, joins every handler thread and closes the socket.
"""

from __future__ import annotations

import json
import re
import socketserver
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

_VERSION = re.compile(r"^/v\d+(?:\.\d+)*(?=/)")


@dataclass
class FakeEngine:
    path: Path
    flavour: str = "docker"  # "docker" or "podman"
    #: the ``/containers/json?all=true`` body; without ``all`` only running/paused ones
    containers: list[dict[str, Any]] = field(default_factory=list)
    inspect: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: container id -> successive stats bodies
    stats: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Podman's libpod list (``all=true``)
    libpod: list[dict[str, Any]] = field(default_factory=list)
    fault: str | None = None
    stall_paths: tuple[str, ...] = ()
    stall_for: float = 30.0
    #: every request's path and query, in order
    requests: list[str] = field(default_factory=list)
    _release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _served: dict[str, int] = field(default_factory=dict)
    _server: socketserver.ThreadingUnixStreamServer | None = None
    _thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> FakeEngine:
        engine = self

        class Handler(_Handler):
            owner = engine

        server = _Server(str(self.path), Handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Release stalled requests, stop serving and remove the socket."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()  # joins the handler threads (block_on_close)
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.path.unlink(missing_ok=True)

    # --- routing ----------------------------------------------------------------------

    def stats_served(self, cid: str) -> int:
        with self._lock:
            return self._served.get(cid, 0)

    def answer(self, raw_path: str) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        path = _VERSION.sub("", parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append(raw_path)
        if self.fault == "stall" or any(s in path for s in self.stall_paths):
            self._release.wait(self.stall_for)
        if self.fault == "500":
            return 500, {"message": "Internal Server Error: fake engine fault"}
        show_all = query.get("all", "") in ("1", "true", "True")
        if path == "/_ping":
            return 200, "OK"
        if path == "/containers/json":
            return 200, [c for c in self.containers if show_all or c["State"] in _ACTIVE]
        if path == "/libpod/containers/json" and self.flavour == "podman":
            return 200, [c for c in self.libpod if show_all or c["State"] in _ACTIVE]
        if m := re.fullmatch(r"/containers/([^/]+)/json", path):
            found = self._container(m[1])
            return (200, self.inspect[found]) if found else _missing(m[1])
        if m := re.fullmatch(r"/containers/([^/]+)/stats", path):
            found = self._container(m[1])
            if found is None or not self.stats.get(found):
                return _missing(m[1])
            if self.inspect[found]["State"]["Status"] not in _ACTIVE:
                return 409, {"message": f"container {m[1]} is not running"}
            with self._lock:
                n = self._served.get(found, 0)
                self._served[found] = n + 1
            bodies = self.stats[found]
            return 200, bodies[min(n, len(bodies) - 1)]
        if m := re.fullmatch(r"/images/([^/]+)/json", path):
            image = self._image(m[1])
            return (200, image) if image else (404, {"message": f"No such image: {m[1]}"})
        return 404, {"message": "page not found"}

    def _image(self, ref: str) -> dict[str, Any] | None:
        """An image by id, with or without ``sha256:``, or by id prefix."""
        ref = ref.removeprefix("sha256:")
        for iid, body in self.images.items():
            if ref and iid.removeprefix("sha256:").startswith(ref):
                return body
        return None

    def _container(self, ref: str) -> str | None:
        """A container's full id from its id, id prefix or name, as the engines accept."""
        for cid, body in self.inspect.items():
            if cid.startswith(ref) or body.get("Name", "").lstrip("/") == ref:
                return cid
        return None


_ACTIVE = ("running", "paused")


def _missing(ref: str) -> tuple[int, Mapping[str, str]]:
    return 404, {"message": f"No such container: {ref}"}


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (closed mid-answer) is not the test's business


class _Handler(BaseHTTPRequestHandler):
    owner: FakeEngine
    protocol_version = "HTTP/1.1"  # keep-alive, as dockerd and podman serve
    #: an idle kept-alive connection is dropped after this long (server_close joins)
    timeout = 5

    def address_string(self) -> str:
        return "unix"

    def do_GET(self) -> None:
        status, body = self.owner.answer(self.path)
        data = json.dumps(body).encode() + b"\n"
        self.send_response(status)
        self.send_header("Api-Version", "1.47" if self.owner.flavour == "docker" else "1.41")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass
