"""Request bodies: read once under a size limit, parsed with orjson, validated.

FastAPI's generic body parsing is bypassed on purpose: one ``orjson.loads`` and
one ``from_wire`` per item is the cheapest correct path, and a batch must
report *every* invalid item by its index before anything is appended. An item
``from_wire`` does not take goes through ``TransactionIn``, whose errors are
the ones answered: what is accepted, and every error message, are pydantic's.
An object with a repeated key is refused before either sees it
(``duplicates``): orjson would have kept its last value.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from pydantic import ValidationError
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from services.ingest import duplicates, problems
from services.ingest.media import NDJSON_TYPES
from shared.model import TransactionIn, Tx, from_wire


async def read(request: Request, limit: int) -> bytes:
    """The whole body of ``request``, or ``413`` (see ``receive``)."""
    return await receive(request.receive, request.headers.get("content-length"), limit)


async def receive(channel: Receive, content_length: str | None, limit: int) -> bytes:
    """The whole body from an ASGI ``channel``, or ``413`` once it is known to exceed ``limit``.

    A declared ``content_length`` is checked before reading anything; a chunked
    body is counted as it arrives and abandoned past the limit. Raises
    Starlette's ``ClientDisconnect`` when the client goes away first.
    """
    declared = content_length  # ASCII digits only: str.isdigit() takes '²' too
    if declared and declared.isascii() and declared.isdigit():
        if len(declared) > 18 or int(declared) > limit:
            raise problems.too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await channel()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise problems.too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def one(body: bytes) -> Tx:
    """One transaction (a JSON object), or ``422`` saying what is wrong with it."""
    doc = _loads(body)
    if type(doc) is dict and duplicates.possible(body, len(doc)):
        repeated = duplicates.in_object(body)
        if repeated:
            errors = _repeated(repeated, ["body"])
            raise problems.invalid(_summary(errors), errors)
    tx = from_wire(doc)
    if tx is not None:
        return tx
    try:
        return TransactionIn.model_validate(doc).to_tx()
    except ValidationError as e:
        errors = _errors(e, ["body"])
        raise problems.invalid(_summary(errors), errors) from None


def many(body: bytes, media_type: str, max_batch: int) -> list[Tx]:
    """A batch (JSON array, or NDJSON), all valid, or ``422`` naming every invalid index.

    ``media_type`` is the request's, as ``media.require`` answered it.
    """
    ndjson = media_type in NDJSON_TYPES
    docs = _lines(body) if ndjson else _array(body)
    if len(docs) > max_batch:
        raise problems.invalid(
            f"a batch holds at most {max_batch} transactions; this one has {len(docs)}",
            [{"loc": ["body"], "msg": f"more than {max_batch} items", "type": "too_long"}],
        )
    kept = sum(len(doc) for doc in docs if type(doc) is dict)
    repeated = _repeated_items(body, ndjson) if duplicates.possible(body, kept) else {}
    txs: list[Tx] = []
    errors: list[dict[str, Any]] = []
    bad: list[int] = []
    for index, doc in enumerate(docs):
        if repeated and index in repeated:
            errors += ({"index": index, **e} for e in _repeated(repeated[index], ["body", index]))
            tx = None
        else:
            tx = _item(index, doc, errors)
        if tx is None:
            bad.append(index)
        else:
            txs.append(tx)
    if bad:
        detail = f"invalid item(s) at index {', '.join(map(str, bad))}; nothing was accepted"
        raise problems.invalid(detail, errors, invalid_indices=bad)
    return txs


class _Unparsable:
    """An NDJSON line that is not JSON; fails validation like any other bad item."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _item(index: int, doc: Any, errors: list[dict[str, Any]]) -> Tx | None:
    """Item ``index`` of a batch, or ``None`` with its errors appended to ``errors``."""
    tx = from_wire(doc)
    if tx is not None:
        return tx
    if isinstance(doc, _Unparsable):
        msg = f"not valid JSON: {doc.reason}"
        errors.append({"index": index, "loc": ["body", index], "msg": msg, "type": "json_invalid"})
        return None
    try:
        return TransactionIn.model_validate(doc).to_tx()
    except ValidationError as e:
        errors.extend({"index": index, **error} for error in _errors(e, ["body", index]))
        return None


def _errors(e: ValidationError, prefix: list[str | int]) -> list[dict[str, Any]]:
    raw = e.errors(include_url=False, include_context=False, include_input=False)
    return problems.validation_errors(raw, prefix)


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        error = {"loc": ["body"], "msg": f"not valid JSON: {e}", "type": "json_invalid"}
        raise problems.invalid("the body is not valid JSON", [error]) from None


def _array(body: bytes) -> list[Any]:
    docs = _loads(body)
    if not isinstance(docs, list):
        error = {"loc": ["body"], "msg": "expected a JSON array", "type": "list_type"}
        raise problems.invalid("a batch is a JSON array of transactions (or NDJSON)", [error])
    return docs


def _nonblank(body: bytes) -> list[bytes]:
    """The lines of an NDJSON body that hold an item (a blank line holds none)."""
    return [line for line in body.splitlines() if line.strip()]


def _lines(body: bytes) -> list[Any]:
    """One JSON value per non-blank line."""
    docs: list[Any] = []
    for line in _nonblank(body):
        try:
            docs.append(orjson.loads(line))
        except orjson.JSONDecodeError as e:
            docs.append(_Unparsable(str(e)))
    return docs


def _repeated_items(body: bytes, ndjson: bool) -> dict[int, list[str]]:
    """The keys repeated in each item of a batch, by index (only those with any)."""
    if not ndjson:
        return duplicates.in_array(body)
    found = {i: duplicates.in_object(line) for i, line in enumerate(_nonblank(body))}
    return {i: keys for i, keys in found.items() if keys}


def _repeated(keys: list[str], prefix: list[str | int]) -> list[dict[str, Any]]:
    """The errors of an object in which ``keys`` are repeated."""
    return [
        {
            "loc": [*prefix, key],
            "msg": f"key {key!r} appears more than once",
            "type": "duplicate_key",
        }
        for key in keys
    ]


def _summary(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
