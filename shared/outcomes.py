"""The outcome log ``txflow:{s}:out``: one stream entry per commit.

An entry's fields are ``ep``, the fencing epoch of the owner that committed it,
and ``d``, a JSON array of the commit's outcomes in the order they were
decided. Each outcome is ``{"e": entry id in :in, "a": account, "t": tx_id,
"y": type, "o": outcome, "r": reason (rejected / dead only), "at": accepted
ms, "s": the account's state after it, packed as ``shared.records.pack_state``
(applied / rejected / duplicate only: a dead or parked entry changes no state)}``.

One entry per commit, not per transaction: an XADD per transaction was a
fifth of the commit script's cost in Redis. The entry's ID still dates every
outcome in it (to the commit's millisecond). The log is capped (approximate
MAXLEN, counted in commits): it is a record of what happened, not the source
of truth, which is the account and transaction hashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, cast

import orjson


class Decision(TypedDict):
    """What became of a transaction: ``o`` its outcome (``shared.model.Outcome``'s
    value), ``r`` the reason, ``s`` the account's state after it (packed)."""

    o: str
    r: NotRequired[str | None]
    s: NotRequired[str]


class LoggedOutcome(Decision):
    """One outcome of a ``:out`` entry, as ``unpack`` returns it (with ``ep``)."""

    e: str
    a: str
    t: str
    y: str
    at: int
    ep: int


def unpack(fields: Mapping[Any, Any]) -> list[LoggedOutcome]:
    """The outcomes of one ``:out`` entry, each with its commit's ``ep`` added.

    ``fields`` as any client returns them: ``bytes`` or ``str`` names and values.
    """
    data = fields.get("d", fields.get(b"d"))
    epoch = int(fields.get("ep", fields.get(b"ep", 0)))
    found = orjson.loads(data)
    # An entry written before one entry per commit held one outcome, not an array.
    outcomes = cast(list[LoggedOutcome], [found] if isinstance(found, dict) else found)
    for outcome in outcomes:
        outcome["ep"] = epoch
    return outcomes
