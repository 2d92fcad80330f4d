"""Helpers for worker tests: appending entries, draining them, reading outcomes and state."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis

from services.worker.accounts import Account
from services.worker.worker import Worker
from shared import keys
from shared.deployment import SCHEMA_VERSION
from shared.keys import ShardKeys
from shared.lag import backlog
from shared.model import Tx, TxType
from shared.outcomes import unpack
from shared.records import STATE, Record, unpack_state
from shared.records import unpack as unpack_record
from shared.settings import Settings
from shared.sharding import shard_of
from tests import config

SHARDS = 4


def worker_settings(redis_url: str, **overrides: object) -> Settings:
    """The settings of the tests' workers: ``SHARDS`` shards, short blocking reads."""
    return config.settings(redis_url, shards=SHARDS, block_ms=50, **overrides)


async def drain(redis_url: str, **overrides: object) -> Worker:
    """Run a burst worker until every shard is drained; the worker, once it returned."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    worker = Worker(worker_settings(redis_url, **overrides), client, "w1", burst=True)
    await worker.run()
    await client.aclose()
    return worker


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


def committed_and_lag(client: redis.Redis) -> list[tuple[int, int | None]]:
    """Each shard's count of committed entries and the backlog computed from it."""
    found = []
    for k in keys.shard_keys(SHARDS):
        count = client.get(k.committed)
        info = client.xinfo_stream(k.inbox)
        found.append((int(count or 0), backlog({"entries-added": info["entries-added"]}, count)))
    return found


def history(redis_url: str) -> list[str]:
    """a: 7 transactions (one rejected, one dispute) and b: one, processed; a's ids in
    append order."""
    client = redis.Redis.from_url(redis_url)
    txs = [
        deposit("a", "d1", 100),
        withdrawal("a", "w1", 500),
        deposit("b", "x", 1),
        deposit("a", "d2", 20),
        Tx("a", "p1", TxType.DISPUTE, None, "d1"),
        deposit("a", "d3", 3),
        withdrawal("a", "w2", 1),
        deposit("a", "d4", 4),
    ]
    append(client, txs)
    client.close()
    return [t.tx_id for t in txs if t.account_id == "a"]
