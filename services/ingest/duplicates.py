"""Repeated keys in JSON objects: a cheap bound on every body, an exact look on a few.

pydantic-core's JSON parser (which validates the bodies, ``shared.wire``)
keeps the last of repeated keys without a word, and has no option to refuse
them. jiter (the same parser, as a package of its own) has one
(``catch_duplicate_keys``), but parsing a batch with it took twice orjson's
time, where the bound below adds a few percent to reading a batch.

The bound: every member of a JSON object is written with exactly one ``:``
outside strings, so a body holds at least as many ``:`` bytes as members
(a ``:`` inside a string only adds to the count). A valid transaction holds
at least ``shared.wire.MIN_KEYS`` members: when a body of valid ones has no
more ``:`` than that many per item, no member was dropped and no key was
repeated. Only when the count is higher (or the body is invalid) does it get
the exact look, the standard library's parser with ``object_pairs_hook``,
which sees every member; a transaction never has a ``:`` in a valid field,
so valid traffic never pays for it.
"""

from __future__ import annotations

import json
from typing import Any


def possible(raw: bytes, kept: int) -> bool:
    """Whether ``raw`` may repeat a key, given that its parsed objects hold ``kept`` keys.

    ``kept`` may be any lower bound of that (leave out the keys of nested
    objects, count each valid item as ``MIN_KEYS``): that only makes the
    answer ``True`` more often.
    """
    return raw.count(b":") > kept


def in_object(raw: bytes) -> list[str]:
    """The keys repeated in the JSON object ``raw``, in order; none when ``raw`` is no object."""
    doc = _exact(raw)
    return doc.repeated if isinstance(doc, _Repeating) else []


def in_array(raw: bytes) -> dict[int, list[str]]:
    """The keys repeated in each object of the JSON array ``raw``, by index, where any are."""
    docs = _exact(raw)
    if not isinstance(docs, list):
        return {}
    return {i: doc.repeated for i, doc in enumerate(docs) if isinstance(doc, _Repeating)}


class _Repeating(dict[str, Any]):
    """An object in which ``repeated`` keys were written more than once."""

    repeated: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) == len(pairs):
        return doc
    seen: set[str] = set()
    found = _Repeating(doc)
    found.repeated = []
    for key, _ in pairs:
        if key in seen and key not in found.repeated:
            found.repeated.append(key)
        seen.add(key)
    return found


def _ignore(_: str) -> None:
    """Numbers and constants: no number is a key, and converting a long one could fail."""


def _exact(raw: bytes) -> Any:
    """``raw`` parsed with every object's members seen; ``None`` when it cannot be.

    Anything may come here (an invalid body too); what cannot be read has no
    repeats to name, and what is nested deeper than the standard library's
    recursion limit is invalid anyway, and so is its batch.
    """
    try:
        return json.loads(
            raw,
            object_pairs_hook=_object,
            parse_int=_ignore,
            parse_float=_ignore,
            parse_constant=_ignore,
        )
    except (ValueError, RecursionError):
        return None
