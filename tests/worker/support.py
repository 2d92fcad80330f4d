"""Helpers for worker tests: appending entries, reading outcomes and state."""

from __future__ import annotations

from typing import Any

import redis

from services.worker.accounts import Account
from shared import keys
from shared.deployment import SCHEMA_VERSION
from shared.keys import ShardKeys
from shared.model import Tx, TxType
from shared.outcomes import unpack
from shared.records import STATE, Record, unpack_state
from shared.records import unpack as unpack_record
from shared.sharding import shard_of

SHARDS = 4


def init(client: redis.Redis, shards: int = SHARDS) -> None:
    client.hset(keys.META, mapping={"shards": shards, "schema": SCHEMA_VERSION})
    for k in keys.shard_keys(shards):
        client.xgroup_create(k.inbox, keys.GROUP, id="0", mkstream=True)


def append(client: redis.Redis, txs: list[Tx], shards: int = SHARDS) -> list[str]:
    pipe = client.pipeline(transaction=False)
    for tx in txs:
        pipe.xadd(ShardKeys(shard_of(tx.account_id, shards)).inbox, {"d": tx.encode()})
    return [i.decode() if isinstance(i, bytes) else i for i in pipe.execute()]


def deposit(account: str, tx_id: str, units: int) -> Tx:
    return Tx(account, tx_id, TxType.DEPOSIT, units)


def withdrawal(account: str, tx_id: str, units: int) -> Tx:
    return Tx(account, tx_id, TxType.WITHDRAWAL, units)


def outcomes(client: redis.Redis, shards: int = SHARDS) -> list[dict[str, Any]]:
    """Every outcome in ``:out`` of every shard, each shard in commit order."""
    found = []
    for k in keys.shard_keys(shards):
        for _, fields in client.xrange(k.outbox):
            found += unpack(fields)
    return found


def account(client: redis.Redis, account_id: str, shards: int = SHARDS) -> Account | None:
    state = client.hget(ShardKeys(shard_of(account_id, shards)).account(account_id), STATE)
    return None if state is None else Account(*unpack_state(state.decode()))


def stored(client: redis.Redis, account_id: str, tx_id: str, shards: int = SHARDS) -> Record | None:
    """The stored record of a transaction (``None`` if there is none)."""
    value = client.hget(ShardKeys(shard_of(account_id, shards)).account(account_id), tx_id)
    return None if value is None else unpack_record(value.decode())


def pending_total(client: redis.Redis, shards: int = SHARDS) -> int:
    return sum(
        int(client.xpending(k.inbox, keys.GROUP)["pending"]) for k in keys.shard_keys(shards)
    )


def one_shard(count: int, prefix: str = "acct", shards: int = SHARDS) -> list[str]:
    """``count`` account ids of one shard (the shard of the first)."""
    names = (f"{prefix}{n}" for n in range(10**6))
    first = next(names)
    shard = shard_of(first, shards)
    return [first, *[a for a in names if shard_of(a, shards) == shard][: count - 1]]
