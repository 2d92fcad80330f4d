"""Parked accounts (DESIGN §4): what the worker writes and the operator reads.

When an entry of account A cannot be applied, A is *parked*: that entry and
every later entry of A are set aside, in order, until an operator retries or
skips (``txflow parked``). Per shard ``s``, written only by the shard's owner
in its fenced commit (``services/worker/lua/commit.lua``):

- ``txflow:{s}:parked`` hash: account → ``Parked`` as JSON ``{"reason", "since"}``
  (why its first held entry could not be applied; since when, ms);
- ``txflow:{s}:park:<account>`` list: the held entries, oldest first, each
  ``{"e": its id in :in, "d": its payload}`` (JSON);
- ``txflow:{s}:ctl`` stream: operator requests (``Request``). The owner
  processes each once: the commit that applies it also deletes it and writes
  its result to ``txflow:{s}:ctl:<request id>`` (JSON, expiring).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

import orjson

from shared.errors import InvalidInput
from shared.model import check_id

Op = Literal["retry", "skip"]
OPS: tuple[Op, ...] = ("retry", "skip")


class Parked(NamedTuple):
    """Why an account is parked (the reason its first held entry was not applied), since when."""

    reason: str
    since: int  # ms since the epoch

    def encode(self) -> bytes:
        return orjson.dumps({"reason": self.reason, "since": self.since})

    @classmethod
    def decode(cls, data: str | bytes) -> Parked:
        try:
            doc = orjson.loads(data)
            return cls(str(doc["reason"]), int(doc["since"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return cls(f"(unreadable parking record: {data!r})", 0)


def held_entry(entry_id: str, data: str | None) -> bytes:
    """One element of a held list: the entry's id in ``:in`` and its payload."""
    return orjson.dumps({"e": entry_id, "d": data})


def held_from(element: str | bytes) -> tuple[str, str | None]:
    """``(entry id, payload)`` of a held list element; a corrupt one is its own payload."""
    try:
        doc = orjson.loads(element)
        return str(doc["e"]), doc["d"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        text = element.decode(errors="replace") if isinstance(element, bytes) else element
        return "?", text


class Request(NamedTuple):
    """An operator request to a shard's owner about one parked account.

    ``retry``: apply the held entries in order. ``skip``: dead-letter the first
    held entry (``entry``, so that a request sent twice skips one entry only)
    with ``note``, then retry the rest.
    """

    op: Op
    account: str
    entry: str = ""
    note: str = ""

    def fields(self) -> dict[str, str]:
        """The ``:ctl`` entry's fields."""
        return {"op": self.op, "account": self.account, "entry": self.entry, "note": self.note}

    @classmethod
    def decode(cls, fields: Mapping[Any, Any]) -> Request:
        """The request of a ``:ctl`` entry; raises ``InvalidInput`` saying what is wrong."""
        text = {_text(k): _text(v) for k, v in fields.items()}
        op = text.get("op")
        if op == "retry":
            return cls("retry", check_id("account", text.get("account")))
        if op == "skip":
            entry = text.get("entry") or ""
            return cls(
                "skip", check_id("account", text.get("account")), entry, text.get("note", "")
            )
        raise InvalidInput(f"unknown request {op!r} (expected one of {', '.join(OPS)})")


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
