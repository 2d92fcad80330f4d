"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the service answers goes through here: our own ``Problem``, FastAPI's
request validation errors, Starlette's HTTP exceptions (404, 405), and Redis
being unreachable, which is a ``503`` with ``Retry-After`` and never a ``500``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from shared.errors import Overloaded, StoreUnavailable
from shared.store import UNAVAILABLE

MEDIA_TYPE = "application/problem+json"

VALIDATION = "urn:txflow:problem:validation"
BACKPRESSURE = "urn:txflow:problem:backpressure"
UNAVAILABLE_TYPE = "urn:txflow:problem:unavailable"
READ_ONLY = "urn:txflow:problem:read-only"


class Problem(Exception):
    """An error answered as problem details; ``extensions`` become extra members."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type: str = "about:blank",
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        self.extensions = extensions

    def response(self) -> Response:
        doc = {"type": self.type, "title": self.title, "status": self.status}
        doc["detail"] = self.detail
        doc.update(self.extensions)
        return Response(orjson.dumps(doc), self.status, self.headers, MEDIA_TYPE)


def invalid(detail: str, errors: list[dict[str, Any]], **extensions: Any) -> Problem:
    """422: input that never becomes a transaction; ``errors`` says what and where."""
    title = "Invalid request"
    return Problem(422, detail, type=VALIDATION, title=title, errors=errors, **extensions)


def too_large(limit: int) -> Problem:
    return Problem(413, f"the request body is larger than {limit} bytes")


def unsupported_media_type(given: str | None, accepted: Sequence[str]) -> Problem:
    """415: a body of a type the route does not read; ``accepted`` names those it does."""
    got = "none" if not given else repr(given[:100])
    detail = f"Content-Type must be {' or '.join(accepted)} (got {got})"
    return Problem(415, detail, accepted=list(accepted))


def throttled(shards: Iterable[int]) -> Problem:
    """429: a shard's backlog is over the limit; the work already accepted is untouched."""
    hot = sorted(shards)
    return Problem(
        429,
        f"shard(s) {', '.join(map(str, hot))} are behind; retry later",
        type=BACKPRESSURE,
        title="Backpressure",
        headers={"Retry-After": "1"},
        shards=hot,
    )


def over_share(shards: Iterable[int], limit: int) -> Problem:
    """429: this client holds more than ``limit`` entries of each of ``shards``' backlog."""
    full = sorted(shards)
    return Problem(
        429,
        f"this client holds more than {limit} unprocessed transactions of shard(s) "
        f"{', '.join(map(str, full))}; retry later",
        type=BACKPRESSURE,
        title="Backpressure",
        headers={"Retry-After": "1"},
        shards=full,
    )


def unavailable(detail: str) -> Problem:
    """503: Redis cannot be reached right now; the client retries with the same ids."""
    headers = {"Retry-After": "1"}
    return Problem(503, detail, type=UNAVAILABLE_TYPE, title="Store unavailable", headers=headers)


STORE_ERRORS: tuple[type[Exception], ...] = (StoreUnavailable, *UNAVAILABLE)
"""What Redis being unreachable raises: answered 503 (``store_unavailable``), never 500."""


def store_unavailable(exc: Exception) -> Problem:
    """The 503 answering ``exc`` (one of ``STORE_ERRORS``).

    Not logged here, per request: the appender and the lag monitor log an
    outage once (``shared.outage``), and ``/metrics`` counts the 503s.
    """
    if isinstance(exc, Overloaded):
        return unavailable(f"ingest is at its limit: {exc}; retry with the same ids")
    return unavailable("Redis is unavailable; retry with the same ids")


def head_too_large(limit: int) -> Problem:
    """431: the request line and headers together exceed ``limit`` bytes."""
    detail = f"the request line and headers are larger than {limit} bytes"
    return Problem(431, detail, headers={"Connection": "close"})


def request_timeout(part: str, seconds: float) -> Problem:
    """408: the request's ``part`` (its headers, its body) did not arrive in time."""
    return Problem(408, f"the request {part} did not arrive within {seconds:g} s")


def connections_full(cap: int) -> Problem:
    """503: every one of the ``cap`` connections holds a request being answered."""
    detail = f"the service is answering as many connections as it takes ({cap}); retry later"
    return Problem(503, detail, headers={"Retry-After": "1"})


def wire(problem: Problem) -> bytes:
    """``problem`` as a whole HTTP/1.1 response, ``Connection: close``, for writing to a socket
    outside any request (``protocol``: a refusal before or instead of the app)."""
    response = problem.response()
    lines = [b"HTTP/1.1 %d %s" % (problem.status, HTTPStatus(problem.status).phrase.encode())]
    lines += [b"%s: %s" % header for header in response.raw_headers if header[0] != b"connection"]
    return b"\r\n".join([*lines, b"connection: close", b"", response.body])


def unauthorized() -> Problem:
    headers = {"WWW-Authenticate": "Bearer"}
    return Problem(
        401, "a valid 'Authorization: Bearer <token>' header is required", headers=headers
    )


def read_only() -> Problem:
    """403: an action asked of an ingest without ``TXFLOW_API_TOKEN`` (no one to trust)."""
    detail = "actions need a token: set TXFLOW_API_TOKEN on ingest (the console is read-only)"
    return Problem(403, detail, type=READ_ONLY, title="Read-only")


def not_found(detail: str) -> Problem:
    return Problem(404, detail)


def validation_errors(
    errors: Iterable[Mapping[str, Any]], prefix: Sequence[str | int] = ()
) -> list[dict[str, Any]]:
    """Pydantic's error dicts reduced to what is JSON and useful: ``loc``, ``msg``, ``type``."""
    return [
        {
            "loc": [*prefix, *e["loc"]],
            "msg": e["msg"].removeprefix("Value error, "),
            "type": e["type"],
        }
        for e in errors
    ]


async def _problem(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response()


async def _request_validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc.errors())
    return invalid("the request is invalid", errors).response()


async def _http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return Problem(exc.status_code, str(exc.detail), headers=exc.headers).response()


async def _store_unavailable(_: Request, exc: Exception) -> Response:
    return store_unavailable(exc).response()


CLIENT_GONE = 499
"""nginx's "client closed request": what a request whose client went away before
its body arrived is counted as. Nothing was appended, and no one is answered."""


async def _client_gone(_: Request, exc: Exception) -> Response:
    return Response(status_code=CLIENT_GONE)


def internal() -> Problem:
    """500: a bug or a Redis error that is not about reaching it (the exception is logged)."""
    return Problem(500, "an unexpected error occurred")


async def _internal(_: Request, exc: Exception) -> Response:
    return internal().response()


def install(app: FastAPI) -> None:
    """Route every error of ``app`` through problem details."""
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(HTTPException, _http)
    for store_error in STORE_ERRORS:
        app.add_exception_handler(store_error, _store_unavailable)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _internal)
