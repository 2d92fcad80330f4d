"""The HTTP routes: each handler only wires a request to the module doing the work."""

from __future__ import annotations

import os
from contextlib import suppress
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, Path, Query, Request, Response

from services.ingest import auth, body, lookup, media, problems, schemas, stream
from services.ingest.fairness import client_of
from services.ingest.intake import Receipt
from services.ingest.metrics import CONTENT_TYPE, Metrics
from services.ingest.runtime import Runtime
from services.ingest.wait import Decided
from shared import history
from shared.errors import StoreUnavailable
from shared.history import HistoryPage
from shared.model import ID_PATTERN
from shared.records import AccountState, TxView
from shared.settings import Settings

IdPath = Annotated[str, Path(pattern=ID_PATTERN, min_length=1, max_length=64)]


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(doc), status, headers, media_type="application/json")


# The two POST routes take the bare request and find the runtime themselves: a
# dependency costs FastAPI a dependency solve per request, a fifth of the
# single-POST path's own CPU.


async def post_transaction(request: Request) -> Response:
    """Accept one transaction: ``202`` with its receipt once Redis has appended it;
    with ``Prefer: wait=N``, ``200`` and its outcome if decided within N s (``wait``).

    While the service runs, ``fastpath.FastPath`` answers these requests before
    they reach FastAPI, the same way; this route is what ``/openapi.json``
    describes, and what answers when the fast path steps aside.
    """
    runtime = runtime_of(request)
    media.require(request.headers.get("content-type"), media.SINGLE)
    tx = body.one(await body.read(request, runtime.settings.max_body_bytes))
    prefer = request.headers.getlist("prefer")
    status, (receipt,), headers = await runtime.wait.answer([tx], client_of(request.scope), prefer)
    return _json(receipt, status, headers)


async def post_batch(request: Request) -> Response:
    """Accept a batch (JSON array or NDJSON), all or nothing, receipts in request order;
    with ``Prefer: wait=N``, ``200`` and the outcomes if all are decided within N s."""
    runtime = runtime_of(request)
    media_type = media.require(request.headers.get("content-type"), media.BATCH)
    data = await body.read(request, runtime.settings.max_body_bytes)
    txs = body.many(data, media_type, runtime.settings.max_batch)
    prefer = request.headers.getlist("prefer")
    status, receipts, headers = await runtime.wait.answer(txs, client_of(request.scope), prefer)
    return _json({"accepted": len(receipts), "results": receipts}, status, headers)


async def get_account(account_id: IdPath, runtime: RuntimeDep) -> Response:
    """The account's state once its first transaction is processed."""
    view = await lookup.account(
        runtime.client, runtime.settings.shards, account_id, deadline_s=runtime.deadline_s
    )
    if view is None:
        raise problems.not_found(f"account {account_id!r} has no processed transaction")
    return _json(view)


async def get_transaction(account_id: IdPath, tx_id: IdPath, runtime: RuntimeDep) -> Response:
    """The transaction's record (state, outcome, reason); 404 while not processed."""
    view = await lookup.transaction(
        runtime.client, runtime.settings.shards, account_id, tx_id, deadline_s=runtime.deadline_s
    )
    if view is None:
        detail = f"transaction {tx_id!r} of account {account_id!r} is not processed (yet)"
        raise problems.not_found(detail)
    return _json(view)


async def get_history(
    account_id: IdPath,
    runtime: RuntimeDep,
    cursor: Annotated[str | None, Query(pattern=history.CURSOR_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=history.MAX_LIMIT)] = history.DEFAULT_LIMIT,
    order: Literal["newest", "oldest"] = "newest",
) -> Response:
    """The account's transactions, newest (or oldest) first, a page at a time: pass the
    answer's ``next_cursor`` as ``cursor`` for the next page (``null``: no more)."""
    view = await lookup.history(
        runtime.client,
        runtime.settings.shards,
        account_id,
        cursor=cursor,
        limit=limit,
        order=order,
        deadline_s=runtime.deadline_s,
    )
    if view is None:
        raise problems.not_found(f"account {account_id!r} has no processed transaction")
    return _json(view)


async def get_outcomes(
    request: Request,
    runtime: RuntimeDep,
    account: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=64)] = None,
) -> Response:
    """Outcomes as they are committed, as Server-Sent Events (``stream``): one event
    per commit, resumable with ``Last-Event-ID``; only ``account``'s when given."""
    last = request.headers.get("last-event-id")
    resume = None if last is None else stream.positions_of(last, runtime.settings.shards)
    return await runtime.streams.response(resume, account)


async def get_shards(runtime: RuntimeDep) -> Response:
    """Every shard's checkpoint: how far its transactions are applied."""
    shards = await lookup.shards(
        runtime.client, runtime.settings.shards, deadline_s=runtime.deadline_s
    )
    return _json(shards)


async def healthz() -> Response:
    """Alive: the process answers. Touches nothing (Redis least of all): the liveness probe."""
    return _json({"status": "ok"})


async def readyz(runtime: RuntimeDep) -> Response:
    """Ready: Redis answers within the deadline and takes writes, and ``txflow:meta``
    agrees with this service's shard count. Never a Redis call longer than the deadline.

    Says which process answers, so that whoever started it knows it is not
    another ingest on the same port.
    """
    reason = await runtime.unready()
    if reason is not None:
        raise problems.unavailable(reason)
    return _json({"status": "ready", "pid": os.getpid()})


async def metrics(request: Request) -> Response:
    """Prometheus text. Parked accounts are read now (cheap, and only when scraped);
    with Redis down, their last values are shown."""
    registry: Metrics = request.app.state.metrics
    runtime = runtime_of(request)
    with suppress(StoreUnavailable):
        shards, deadline_s = runtime.settings.shards, runtime.deadline_s
        registry.observe_parking(
            await lookup.parking(runtime.client, shards, deadline_s=deadline_s)
        )
    return Response(registry.render(), media_type=CONTENT_TYPE)


def install(app: FastAPI, settings: Settings) -> None:
    """Add every route to ``app`` itself.

    Not through ``include_router``: an included router costs FastAPI a second
    round of matching on every request (a measurable share of the single-POST path).
    """
    _v1(app, settings)
    _probes(app)


def _v1(app: FastAPI, settings: Settings) -> None:
    """The ``/v1`` routes, behind the bearer token when one is configured."""
    guards = auth.guards(settings.api_token)
    common = schemas.problems(401, 503) if settings.api_token else schemas.problems(503)
    post, get = common | schemas.problems(413, 415, 422, 429), common | schemas.problems(404, 422)
    app.add_api_route(
        "/v1/transactions",
        post_transaction,
        methods=["POST"],
        status_code=202,
        response_model=Receipt,
        responses=post | schemas.decided(Decided),
        dependencies=guards,
        openapi_extra=schemas.single_body(),
    )
    app.add_api_route(
        "/v1/transactions/batch",
        post_batch,
        methods=["POST"],
        status_code=202,
        response_model=schemas.BatchReceipt,
        responses=post | schemas.decided(schemas.BatchDecided),
        dependencies=guards,
        openapi_extra=schemas.batch_body(settings.max_batch),
    )
    app.add_api_route(
        "/v1/accounts/{account_id}",
        get_account,
        response_model=AccountState,
        responses=get,
        dependencies=guards,
    )
    app.add_api_route(
        "/v1/accounts/{account_id}/transactions",
        get_history,
        response_model=HistoryPage,
        responses=get,
        dependencies=guards,
    )
    app.add_api_route(
        "/v1/accounts/{account_id}/transactions/{tx_id}",
        get_transaction,
        response_model=TxView,
        responses=get,
        dependencies=guards,
    )
    app.add_api_route(
        "/v1/outcomes",
        get_outcomes,
        response_class=Response,
        responses=schemas.OUTCOME_STREAM | get,
        dependencies=guards,
    )
    app.add_api_route(
        "/v1/shards",
        get_shards,
        response_model=lookup.Shards,
        responses=common,
        dependencies=guards,
    )


def _probes(app: FastAPI) -> None:
    """Health, readiness and metrics: never behind the token."""
    app.add_api_route("/healthz", healthz, response_model=schemas.Health)
    app.add_api_route(
        "/readyz", readyz, response_model=schemas.Ready, responses=schemas.problems(503)
    )
    app.add_api_route("/metrics", metrics, include_in_schema=False)
