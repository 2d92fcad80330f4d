"""Request bodies: read once under a size limit, validated by pydantic-core from the bytes.

FastAPI's generic body parsing is bypassed on purpose: ``shared.wire``'s
adapters parse and validate the body in one pass (a batch as one JSON array,
NDJSON line by line), and a batch must report *every* invalid item by its
index before anything is appended. What is accepted, and every error message,
are pydantic's. pydantic-core keeps the last of repeated keys without a word,
so an object that may repeat one is looked at again (``duplicates``) and
refused naming the key.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from services.ingest import duplicates, problems
from services.ingest.media import NDJSON_TYPES
from shared.model import Tx
from shared.wire import MIN_KEYS, TRANSACTION, batch, untagged


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


NOT_JSON = "the body is not valid JSON"


def one(body: bytes) -> Tx:
    """One transaction (a JSON object), or ``422`` saying what is wrong with it."""
    try:
        tx = TRANSACTION.validate_json(body)
    except ValidationError as e:
        repeated = duplicates.in_object(body)
        errors = _repeated(repeated, ["body"]) if repeated else _errors(e, ["body"])
        unparsable = errors[0]["type"] == "json_invalid"
        detail = NOT_JSON if unparsable else _summary(errors)
        raise problems.invalid(detail, errors) from None
    if duplicates.possible(body, MIN_KEYS):
        repeated = duplicates.in_object(body)
        if repeated:
            errors = _repeated(repeated, ["body"])
            raise problems.invalid(_summary(errors), errors)
    return tx


def many(body: bytes, media_type: str, max_batch: int) -> list[Tx]:
    """A batch (JSON array, or NDJSON), all valid, or ``422`` naming every invalid index.

    ``media_type`` is the request's, as ``media.require`` answered it.
    """
    if media_type in NDJSON_TYPES:
        return _lines(body, max_batch)
    try:
        txs = batch(max_batch).validate_json(body)
    except ValidationError as e:
        raise _array_refusal(e, body, max_batch) from None
    if duplicates.possible(body, MIN_KEYS * len(txs)):
        _refuse_items({}, duplicates.in_array(body))
    return txs


def _array_refusal(e: ValidationError, body: bytes, max_batch: int) -> problems.Problem:
    """The 422 refusing the JSON array ``body``, for which pydantic raised ``e``."""
    raw: list[dict[str, Any]] = e.errors(include_url=False, include_input=False)  # type: ignore[assignment]
    whole = [error for error in raw if not error["loc"]]
    if whole and whole[0]["type"] == "too_long":
        has = whole[0]["ctx"]["actual_length"]
        return _too_many(max_batch, has)
    if whole:
        errors = problems.validation_errors(whole, ["body"])
        detail = "a batch is a JSON array of transactions (or NDJSON)"
        if whole[0]["type"] == "json_invalid":
            detail = NOT_JSON
        return problems.invalid(detail, errors)
    by_index: dict[int, list[dict[str, Any]]] = {}
    for error in raw:
        index, *_ = error["loc"]
        by_index.setdefault(index, []).append(_untagged(error, 1))
    return _refusal(by_index, duplicates.in_array(body))


def _too_many(max_batch: int, has: int) -> problems.Problem:
    return problems.invalid(
        f"a batch holds at most {max_batch} transactions; this one has {has}",
        [{"loc": ["body"], "msg": f"more than {max_batch} items", "type": "too_long"}],
    )


def _lines(body: bytes, max_batch: int) -> list[Tx]:
    """One transaction per non-blank line of an NDJSON ``body``."""
    lines = _nonblank(body)
    if len(lines) > max_batch:
        raise _too_many(max_batch, len(lines))
    validate, possible = TRANSACTION.validate_json, duplicates.possible
    txs: list[Tx] = []
    failed: dict[int, list[dict[str, Any]]] = {}
    repeated: dict[int, list[str]] = {}
    for index, line in enumerate(lines):
        try:
            txs.append(validate(line))
        except ValidationError as e:
            failed[index] = [_untagged(error, 0) for error in _raw(e)]
        if index in failed or possible(line, MIN_KEYS):
            keys = duplicates.in_object(line)
            if keys:
                repeated[index] = keys
    _refuse_items(failed, repeated)
    return txs


def _refuse_items(failed: dict[int, list[dict[str, Any]]], repeated: dict[int, list[str]]) -> None:
    if failed or repeated:
        raise _refusal(failed, repeated)


def _refusal(
    failed: dict[int, list[dict[str, Any]]], repeated: dict[int, list[str]]
) -> problems.Problem:
    """The 422 naming each invalid item: by its errors (loc relative to the item), or,
    where it repeats a key, by those keys alone."""
    errors: list[dict[str, Any]] = []
    bad = sorted(failed.keys() | repeated.keys())
    for index in bad:
        prefix: list[str | int] = ["body", index]
        found = (
            _repeated(repeated[index], prefix)
            if index in repeated
            else problems.validation_errors(failed[index], prefix)
        )
        errors += ({"index": index, **error} for error in found)
    detail = f"invalid item(s) at index {', '.join(map(str, bad))}; nothing was accepted"
    return problems.invalid(detail, errors, invalid_indices=bad)


def _raw(e: ValidationError) -> list[dict[str, Any]]:
    return e.errors(include_url=False, include_context=False, include_input=False)  # type: ignore[return-value]


def _untagged(error: dict[str, Any], depth: int) -> dict[str, Any]:
    """``error`` with its ``loc`` past the item's ``depth`` leading elements, without the tag."""
    return untagged({**error, "loc": error["loc"][depth:]})


def _errors(e: ValidationError, prefix: list[str | int]) -> list[dict[str, Any]]:
    return problems.validation_errors([_untagged(error, 0) for error in _raw(e)], prefix)


def _nonblank(body: bytes) -> list[bytes]:
    """The lines of an NDJSON body that hold an item (a blank line holds none)."""
    return [line for line in body.splitlines() if line.strip()]


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
