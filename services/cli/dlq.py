"""``txflow dlq list|show|replay``: dead letters, their reasons, and putting them back.

A replay appends the original entry to its shard's stream again (a new
stream ID, the same idempotency key): a dead letter never reserved its id, so
the replay is decided once, afresh (its new outcome and reason), and replaying
it twice gives a ``duplicate``.

The console (``services.console``) lists and replays dead letters through these
same functions.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic reads these (the console's OpenAPI)

from services.cli.status import shard_count
from shared.errors import InvalidInput
from shared.keys import ShardKeys, shard_keys
from shared.model import PostedTx, Tx
from shared.records import unpack
from shared.sharding import shard_of
from shared.store import SyncClient
from shared.streams import is_id


@with_config(ConfigDict(extra="forbid"))
class DeadLetter(TypedDict):
    """A dead letter: where it is, the worker's record, the transaction it holds."""

    shard: int
    id: str  # in the shard's :dlq
    e: str | None  # the entry's id in :in
    d: str | None  # the entry as it was appended
    reason: str
    tx: PostedTx | None  # the transaction it holds, when it can be decoded


def letters(client: SyncClient, limit: int | None = None) -> list[DeadLetter]:
    """Dead letters by shard, oldest first: every one, or the first ``limit`` in all."""
    every = shard_keys(shard_count(client))
    pipe = client.pipeline(transaction=False)
    for k in every:
        pipe.xrange(k.dlq, count=limit)
    found = [
        letter(k.shard, dlq_id, fields)
        for k, rows in zip(every, pipe.execute(), strict=True)
        for dlq_id, fields in rows
    ]
    return found if limit is None else found[:limit]


def letter(shard: int, dlq_id: str, fields: dict[str, Any]) -> DeadLetter:
    """One dead letter: where it is, the worker's record (``e`` its entry id in
    ``:in``, ``d`` the entry, ``reason``) and ``tx``, the transaction the entry
    holds (``None`` when it cannot be decoded)."""
    doc = orjson.loads(fields["d"])
    try:
        tx: PostedTx | None = Tx.decode(doc.get("d") or b"").to_wire()
    except InvalidInput:
        tx = None
    e, d, reason = doc.get("e"), doc.get("d"), doc["reason"]
    return {"shard": shard, "id": dlq_id, "e": e, "d": d, "reason": reason, "tx": tx}


def find(client: SyncClient, dlq_id: str) -> DeadLetter:
    """The dead letter ``dlq_id``, whichever shard holds it (one read per shard)."""
    if not is_id(dlq_id):
        raise LookupError(f"no dead letter with id {dlq_id!r} (an id reads like 1700000000000-0)")
    every = shard_keys(shard_count(client))
    pipe = client.pipeline(transaction=False)
    for k in every:
        pipe.xrange(k.dlq, min=dlq_id, max=dlq_id)
    for k, rows in zip(every, pipe.execute(), strict=True):
        for found_id, fields in rows:
            return letter(k.shard, found_id, fields)
    raise LookupError(f"no dead letter with id {dlq_id}")


def replay(client: SyncClient, dlq_id: str) -> str:
    """Append the dead letter's entry to its shard again; return the new stream ID.

    Its ``dead`` record goes in the same transaction (watched: a record that a
    later transaction with the same id replaced stays): until the replay is
    decided, the transaction reads as not processed, then as its new outcome,
    with no field of the dead record left.
    """
    found = find(client, dlq_id)
    data = found["d"]
    try:
        tx = Tx.decode(data or b"")
    except InvalidInput as e:
        raise InvalidInput(f"dead letter {dlq_id} cannot be replayed: undecodable: {e}") from None
    k = ShardKeys(shard_of(tx.account_id, shard_count(client)))
    account = k.account(tx.account_id)

    def put_back(pipe: Any) -> None:
        record = pipe.hget(account, tx.tx_id)
        dead = record is not None and unpack(record).outcome == "dead"
        pipe.multi()
        pipe.xadd(k.inbox, {"d": str(data)})
        pipe.xdel(ShardKeys(found["shard"]).dlq, dlq_id)
        if dead:
            pipe.hdel(account, tx.tx_id)

    replies: Any = client.transaction(put_back, account)
    return str(replies[0])


def show_table(found: list[DeadLetter]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dead letters ({len(found)})")
    for column in ("shard", "id", "entry", "reason"):
        table.add_column(column)
    for found_letter in found:
        table.add_row(
            str(found_letter["shard"]),
            found_letter["id"],
            str(found_letter["e"]),
            found_letter["reason"],
        )
    Console().print(table)
