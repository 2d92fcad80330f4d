"""The API against its own OpenAPI document, with generated requests (schemathesis).

Bodies are generated from the request schemas the POST routes declare (from
the wire union of ``shared.wire``), both valid (positive) and invalid
(negative) ones; every answer must be a documented status with a documented
content type, body and headers, and never a 5xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python.asgi import shutdown_lifespans

from services.ingest.app import create_app
from tests.apps import make_settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


# schemathesis keeps each app's lifespan running on its own event-loop thread;
# the tests end it themselves. (Its shutdown once hung about one run in four:
# the lag monitor went on refreshing when redis-py swallowed the cancel that
# was to stop it; ``LagMonitor.stop`` now also sets a flag, see
# ``test_stop_ends_the_monitor_even_when_a_refresh_swallows_the_cancel``.)


OPERATIONS = [
    ("POST", "/v1/transactions"),
    ("POST", "/v1/transactions/batch"),
    ("GET", "/v1/accounts/{account_id}"),
    ("GET", "/v1/accounts/{account_id}/transactions"),
    ("GET", "/v1/accounts/{account_id}/transactions/{tx_id}"),
    ("GET", "/v1/shards"),
    ("GET", "/v1/outcomes"),
    ("GET", "/v1/status"),
    ("POST", "/v1/dlq/{dlq_id}/replay"),
    ("POST", "/v1/parked/{account}/retry"),
    ("POST", "/v1/parked/{account}/skip"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
]
# An answer that never ends (Server-Sent Events): tests/ingest/test_outcome_stream.py.
ENDLESS = {"/v1/outcomes"}


# Negative cases need inputs to spoil: the probes and /v1/shards take none.
TAKE_NO_INPUT = {"/healthz", "/readyz", "/v1/shards", "/v1/status"}
CASES = [
    (method, path, GenerationMode.POSITIVE) for method, path in OPERATIONS if path not in ENDLESS
] + [
    (method, path, GenerationMode.NEGATIVE)
    for method, path in OPERATIONS
    if path not in TAKE_NO_INPUT | ENDLESS
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_every_answer_is_documented_and_none_is_a_server_error(
    redis_url: str, method: str, path: str, mode: GenerationMode
) -> None:
    # Schemathesis runs the app (and its lifespan) on its own event loop thread.
    app = create_app(make_settings(redis_url))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    try:
        operation = schema[path][method]

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS)

        conforms()
    finally:
        shutdown_lifespans()


def test_the_schema_lists_every_operation(redis_url: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(make_settings(redis_url)))
    try:
        listed = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    finally:
        shutdown_lifespans()
    assert listed == set(OPERATIONS)


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_the_schema_declares_the_bearer_scheme_with_or_without_a_token(token: str | None) -> None:
    # The document only: no lifespan runs, no Redis is reached.
    app = create_app(make_settings("redis://127.0.0.1:1/0", api_token=token)).fastapi
    document = app.openapi()
    scheme = document["components"]["securitySchemes"]["HTTPBearer"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    # Required by the operations only when the deployment has a token.
    required = document["paths"]["/v1/shards"]["get"].get("security")
    assert required == ([{"HTTPBearer": []}] if token else None)
    assert "security" not in document["paths"]["/healthz"]["get"]
