"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

A real statbus process on a free loopback port serves ``/api/4/openapi.json``; every
operation in it is called with a bounded number of generated requests, valid ones
(positive) and ones that break the document's parameter schemas (negative), over real
HTTP.  Each answer must be: not a 5xx, a status the document lists for the operation, of
the content type it documents, and of the documented schema (the 4xx ``{"detail": ...}``
bodies included).  ``/api/4/stream`` (a body that never ends) is read up to its
headers only.

The number of examples per operation and mode is ``STATBUS_FUZZ_EXAMPLES`` (default 12;
half that behind a password; about 7 s in all); raise it locally to search harder (400
ran clean on the default configuration, but needs ``--timeout`` raised).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import LiveStatbus, start_statbus

EXAMPLES = int(os.environ.get("STATBUS_FUZZ_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
STREAM = "/api/4/stream"


CONFIGS = {
    "default": "[api]\nport = 0\n[global]\nrefresh = 1.0\n",
    # a URL prefix and a password: the client sends the credentials (``AUTH``); the same
    # handlers behind them, so half the examples
    "prefix-and-auth": '[api]\nport = 0\nusername = "u"\npassword = "p"\nurl_prefix = "/g/"\n',
}
SHARE = {"default": 1.0, "prefix-and-auth": 0.5}
AUTH = ("u", "p")


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveStatbus, int]]:
    """Its own statbus (the fuzzing POSTs: it clears events, selects a process), and the
    examples per operation and mode."""
    server = start_statbus(tmp_path_factory.mktemp("fuzz"), CONFIGS[request.param])
    yield server, max(1, round(EXAMPLES * SHARE[request.param]))
    assert server.stop() == 0
    assert not [line for line in server.stderr_lines if "Traceback" in line], "".join(
        server.stderr_lines
    )


def _root(live: LiveStatbus) -> str:
    return live.base.removesuffix("/api/4")


def _operations(live: LiveStatbus) -> list[Any]:
    doc = httpx.get(f"{live.base}/openapi.json", auth=AUTH, timeout=10).json()
    schema = schemathesis.openapi.from_dict(doc)
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = sum(len(methods) for methods in doc["paths"].values())
    assert len(operations) == documented > 30  # the whole API
    return operations


def _call(case: Any, root: str, session: requests.Session) -> None:
    if case.path == STREAM and case.method.upper() == "GET":
        kwargs = case.as_transport_kwargs(base_url=root)
        with session.request(**kwargs, stream=True, timeout=10) as raw:
            if raw.status_code == 200:  # the body never ends: the head only
                assert raw.headers["content-type"].startswith("text/event-stream")
                return
            raw.content  # noqa: B018 - the (short) error body
        case.validate_response(raw, checks=CHECKS)
        assert raw.headers["content-type"] == "application/json", raw.text
        assert set(raw.json()) == {"detail"}, raw.text
        return
    response = case.call(base_url=root, session=session, timeout=10)
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:  # every error is a JSON detail
        assert response.headers["content-type"] == ["application/json"], response.text
        assert set(response.json()) == {"detail"}, response.text


def test_every_operation_survives_generated_requests(
    fuzzed: tuple[LiveStatbus, int],
) -> None:
    live, examples = fuzzed
    root = _root(live)
    operations = _operations(live)
    with requests.Session() as session:
        session.auth = AUTH  # ignored where no password is set
        for op in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz(op, mode, root, session, examples)
    assert httpx.get(f"{live.base}/status", timeout=10).status_code == 200


def _fuzz(
    op: Any, mode: GenerationMode, root: str, session: requests.Session, examples: int
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        _call(case, root, session)

    try:
        run()
    except Unsatisfiable:
        # nothing to break: an operation without parameters has no negative case
        assert mode is GenerationMode.NEGATIVE, op.path
    except Exception as exc:
        exc.add_note(f"operation {op.method.upper()} {op.path} ({mode})")
        raise
