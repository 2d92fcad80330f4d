"""The HTTP routes: each handler only wires a request to the module doing the work."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response

from services.ingest import auth, body, lookup, problems, schemas
from services.ingest.metrics import CONTENT_TYPE, Metrics
from services.ingest.runtime import Runtime
from shared.model import ID_PATTERN
from shared.settings import Settings

IdPath = Annotated[str, Path(pattern=ID_PATTERN, min_length=1, max_length=64)]


async def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status, media_type="application/json")


async def post_transaction(request: Request, runtime: RuntimeDep) -> Response:
    """Accept one transaction: ``202`` with its receipt once Redis has appended it."""
    tx = body.one(await body.read(request, runtime.settings.max_body_bytes))
    (receipt,) = await runtime.intake.accept([tx])
    return _json(receipt, 202)


async def post_batch(request: Request, runtime: RuntimeDep) -> Response:
    """Accept a batch (JSON array or NDJSON), all or nothing, receipts in request order."""
    data = await body.read(request, runtime.settings.max_body_bytes)
    content_type = request.headers.get("content-type", "")
    txs = body.many(data, content_type, runtime.settings.max_batch)
    receipts = await runtime.intake.accept(txs)
    return _json({"accepted": len(receipts), "results": receipts}, 202)


async def get_account(account_id: IdPath, runtime: RuntimeDep) -> Response:
    """The account's state once its first transaction is processed."""
    view = await lookup.account(runtime.client, runtime.settings.shards, account_id)
    if view is None:
        raise problems.not_found(f"account {account_id!r} has no processed transaction")
    return _json(view)


async def get_transaction(account_id: IdPath, tx_id: IdPath, runtime: RuntimeDep) -> Response:
    """The transaction's record (state, outcome, reason); 404 while not processed."""
    view = await lookup.transaction(runtime.client, runtime.settings.shards, account_id, tx_id)
    if view is None:
        detail = f"transaction {tx_id!r} of account {account_id!r} is not processed (yet)"
        raise problems.not_found(detail)
    return _json(view)


async def get_shards(runtime: RuntimeDep) -> Response:
    """Every shard's checkpoint: how far its transactions are applied."""
    return _json(await lookup.shards(runtime.client, runtime.settings.shards))


async def healthz() -> Response:
    """Alive: the process answers. Touches nothing."""
    return _json({"status": "ok"})


async def readyz(runtime: RuntimeDep) -> Response:
    """Ready: Redis answers and ``txflow:meta`` agrees with this service's shard count."""
    reason = await runtime.unready()
    if reason is not None:
        raise problems.unavailable(reason)
    return _json({"status": "ready"})


async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE)


def api(settings: Settings) -> APIRouter:
    """The ``/v1`` routes, behind the bearer token when one is configured."""
    errors = (401, 503) if settings.api_token else (503,)
    router = APIRouter(
        prefix="/v1",
        dependencies=auth.guards(settings.api_token),
        responses=schemas.problems(*errors),
    )
    post_errors = schemas.problems(413, 422, 429)
    router.add_api_route(
        "/transactions", post_transaction, methods=["POST"], status_code=202,
        response_model=schemas.Receipt, responses=post_errors,
        openapi_extra=schemas.single_body(),
    )  # fmt: skip
    router.add_api_route(
        "/transactions/batch", post_batch, methods=["POST"], status_code=202,
        response_model=schemas.BatchReceipt, responses=post_errors,
        openapi_extra=schemas.batch_body(settings.max_batch),
    )  # fmt: skip
    get_errors = schemas.problems(404, 422)
    router.add_api_route(
        "/accounts/{account_id}", get_account,
        response_model=schemas.AccountState, responses=get_errors,
    )  # fmt: skip
    router.add_api_route(
        "/accounts/{account_id}/transactions/{tx_id}", get_transaction,
        response_model=schemas.TxRecord, responses=get_errors,
    )  # fmt: skip
    router.add_api_route("/shards", get_shards, response_model=schemas.Shards)
    return router


def probes() -> APIRouter:
    """Health, readiness and metrics: never behind the token."""
    router = APIRouter()
    router.add_api_route("/healthz", healthz, response_model=schemas.Status)
    router.add_api_route(
        "/readyz", readyz, response_model=schemas.Status, responses=schemas.problems(503)
    )
    router.add_api_route("/metrics", metrics, include_in_schema=False)
    return router
