"""Property tests from the server's own /openapi.json (schemathesis): no 500, answers as documented."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
schemathesis = pytest.importorskip("schemathesis")

from conftest import Server  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schemathesis.serializer("application/x-ndjson")
def _ndjson(context: Any, value: Any) -> bytes:
    """The batch body as generated: text as it is (one or more lines), anything else as JSON."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode("utf-8")


def operations(server: Server) -> list[Any]:
    loaded = schemathesis.openapi.from_url(server.url + "/openapi.json")
    # POST /v1/reload re-reads the packs (seconds each); it has its own tests
    found = [result.ok() for result in loaded.get_all_operations()]
    return [op for op in found if op.path != "/v1/reload"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error_and_answers_match_the_schema(server: Server, mode: GenerationMode) -> None:
    """Valid bodies, and invalid ones (wrong types, missing fields, extra keys), for every operation.

    Driven through hypothesis directly rather than the schemathesis pytest plugin, whose
    lazy fixture loading does not work with the pytest this project tests on.
    """
    tested = []
    for operation in operations(server):
        if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue  # no parameters, no body: there is nothing invalid to send


        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        call()
        tested.append(f"{operation.method.upper()} {operation.path}")
    expected = {"POST /v1/analyze", "POST /v1/explain", "POST /v1/review", "POST /v1/batch"}
    if mode is GenerationMode.POSITIVE:
        expected |= {"GET /v1/packs", "GET /healthz"}
    assert expected <= set(tested)
