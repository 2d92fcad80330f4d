"""``txflow dlq list|show|replay``: dead letters, their reasons, and putting them back.

A replay appends the original entry to its shard's stream again (a new
stream ID, the same idempotency key): a dead letter never reserved its id, so
the replay is decided once, afresh (its new outcome and reason), and replaying
it twice gives a ``duplicate``.
"""

from __future__ import annotations

from typing import Any

import orjson

from services.cli.status import shard_count
from shared.errors import InvalidInput
from shared.keys import ShardKeys, shard_keys
from shared.model import Tx
from shared.records import unpack
from shared.sharding import shard_of
from shared.store import SyncClient


def letters(client: SyncClient) -> list[dict[str, Any]]:
    found = []
    for k in shard_keys(shard_count(client)):
        rows: Any = client.xrange(k.dlq)
        for dlq_id, fields in rows:
            doc = orjson.loads(fields["d"])
            found.append({"shard": k.shard, "id": dlq_id, **doc})
    return found


def find(client: SyncClient, dlq_id: str) -> dict[str, Any]:
    for letter in letters(client):
        if letter["id"] == dlq_id:
            return letter
    raise LookupError(f"no dead letter with id {dlq_id}")


def replay(client: SyncClient, dlq_id: str) -> str:
    """Append the dead letter's entry to its shard again; return the new stream ID.

    Its ``dead`` record goes in the same transaction (watched: a record that a
    later transaction with the same id replaced stays): until the replay is
    decided, the transaction reads as not processed, then as its new outcome,
    with no field of the dead record left.
    """
    letter = find(client, dlq_id)
    data: str | None = letter.get("d")
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
        pipe.xdel(ShardKeys(letter["shard"]).dlq, dlq_id)
        if dead:
            pipe.hdel(account, tx.tx_id)

    replies: Any = client.transaction(put_back, account)
    return str(replies[0])


def show_table(found: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dead letters ({len(found)})")
    for column in ("shard", "id", "entry", "reason"):
        table.add_column(column)
    for letter in found:
        table.add_row(str(letter["shard"]), letter["id"], str(letter.get("e")), letter["reason"])
    Console().print(table)
