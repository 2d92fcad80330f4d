"""The OpenAPI description of bodies the routes read and write by hand.

The POST routes parse their bodies themselves (see ``body.py``), so FastAPI
cannot infer their request schema; it is declared here from the wire union
of ``shared.wire``, the one that validates them. Responses are rendered with orjson and
described by the documents' own TypedDicts (``Receipt``, ``Decided``,
``AccountState``, ``TxView``, ``HistoryPage``, ``Shards``) and the envelopes below.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from typing_extensions import TypedDict

from services.ingest.intake import Receipt
from services.ingest.media import JSON, NDJSON_TYPES
from services.ingest.problems import MEDIA_TYPE as PROBLEM
from services.ingest.wait import Decided
from shared.wire import TRANSACTION as TRANSACTION_ADAPTER


class BatchReceipt(TypedDict):
    accepted: int
    results: list[Receipt]


class BatchDecided(TypedDict):
    accepted: int
    results: list[Decided]


OUTCOME_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: one `outcomes` event per commit (see README)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def decided(model: type[BatchDecided] | type[Decided]) -> dict[int | str, dict[str, Any]]:
    """The ``200`` of a POST with ``Prefer: wait=N`` decided in time."""
    return {200: {"model": model, "description": "Decided within the wait (Prefer: wait=N)"}}


class Health(TypedDict):
    status: str


class Ready(Health):
    pid: int  # the answering process: txflow up checks it is the ingest it started


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its local ``#/$defs/...`` references replaced by their targets."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


def transaction_schema() -> dict[str, Any]:
    """The wire union's JSON schema (``shared.wire``), its definitions inlined.

    The discriminator's mapping points into ``$defs``, which the OpenAPI
    document does not hold: without it, the two variants' ``type`` enums
    already tell them apart.
    """
    schema = inline_refs(TRANSACTION_ADAPTER.json_schema())
    schema.pop("discriminator", None)
    return schema


TRANSACTION = transaction_schema()


def single_body() -> dict[str, Any]:
    content = {JSON: {"schema": TRANSACTION}}
    return {"requestBody": {"required": True, "content": content}}


def batch_body(max_batch: int) -> dict[str, Any]:
    array = {"type": "array", "items": TRANSACTION, "maxItems": max_batch}
    lines = {"type": "string", "description": "one transaction object per line"}
    content = {JSON: {"schema": array}} | {ndjson: {"schema": lines} for ndjson in NDJSON_TYPES}
    return {"requestBody": {"required": True, "content": content}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for errors answered as problem details."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }
