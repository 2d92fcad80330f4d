"""Request bodies: read once under a size limit, parsed with orjson, validated with pydantic.

FastAPI's generic body parsing is bypassed on purpose: one ``orjson.loads`` and
one ``TransactionIn.model_validate`` per item is the cheapest correct path, and
a batch must report *every* invalid item by its index before anything is
appended.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from pydantic import ValidationError

from services.ingest import problems
from shared.model import TransactionIn

NDJSON = "application/x-ndjson"


async def read(request: Request, limit: int) -> bytes:
    """The whole body, or ``413`` as soon as it is known to exceed ``limit`` bytes.

    A declared ``Content-Length`` is checked before reading anything; a chunked
    body is counted as it arrives and abandoned past the limit.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise problems.too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise problems.too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def one(body: bytes) -> TransactionIn:
    """One transaction (a JSON object), or ``422`` saying what is wrong with it."""
    doc = _loads(body)
    try:
        return TransactionIn.model_validate(doc)
    except ValidationError as e:
        errors = _errors(e, ["body"])
        raise problems.invalid(_summary(errors), errors) from None


def many(body: bytes, content_type: str, max_batch: int) -> list[TransactionIn]:
    """A batch (JSON array, or NDJSON), all valid, or ``422`` naming every invalid index."""
    docs = _lines(body) if content_type.startswith(NDJSON) else _array(body)
    if len(docs) > max_batch:
        raise problems.invalid(
            f"a batch holds at most {max_batch} transactions; this one has {len(docs)}",
            [{"loc": ["body"], "msg": f"more than {max_batch} items", "type": "too_long"}],
        )
    txs: list[TransactionIn] = []
    errors: list[dict[str, Any]] = []
    bad: list[int] = []
    for index, doc in enumerate(docs):
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


def _item(index: int, doc: Any, errors: list[dict[str, Any]]) -> TransactionIn | None:
    """Item ``index`` of a batch, or ``None`` with its errors appended to ``errors``."""
    if isinstance(doc, _Unparsable):
        msg = f"not valid JSON: {doc.reason}"
        errors.append({"index": index, "loc": ["body", index], "msg": msg, "type": "json_invalid"})
        return None
    try:
        return TransactionIn.model_validate(doc)
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


def _lines(body: bytes) -> list[Any]:
    """One JSON value per non-blank line."""
    docs: list[Any] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            docs.append(orjson.loads(line))
        except orjson.JSONDecodeError as e:
            docs.append(_Unparsable(str(e)))
    return docs


def _summary(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
