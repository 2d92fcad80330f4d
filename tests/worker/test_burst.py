"""A worker in burst mode, in process, against a real Redis: the commit path."""

from __future__ import annotations

import redis

from services.worker.accounts import Account
from shared.keys import shard_keys
from shared.model import Tx, TxType
from tests.worker.support import (
    SHARDS,
    account,
    append,
    deposit,
    drain,
    init,
    outcomes,
    pending_total,
    stored,
)
from tests.worker.support import withdrawal as wd


async def test_burst_applies_everything_in_order_and_acks(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    init(client)
    append(
        client, [deposit("a", "1", 100), wd("a", "2", 30), wd("a", "3", 100), deposit("b", "1", 5)]
    )
    await drain(redis_url)
    assert account(client, "a") == Account(70, 0, False)
    assert account(client, "b") == Account(5, 0, False)
    seen = [(o["a"], o["t"], o["o"]) for o in outcomes(client) if o["a"] == "a"]
    assert seen == [("a", "1", "applied"), ("a", "2", "applied"), ("a", "3", "rejected")]
    assert pending_total(client) == 0
    assert client.zcard("txflow:workers") == 0
    assert not any(client.exists(k.lease) for k in shard_keys(SHARDS))


async def test_a_duplicate_changes_nothing_across_batches(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    init(client)
    append(client, [deposit("a", "1", 100)])
    await drain(redis_url)
    append(client, [deposit("a", "1", 100), wd("a", "1", 5)])
    await drain(redis_url)  # a fresh worker: the cache is cold, Redis is asked
    assert account(client, "a") == Account(100, 0, False)
    assert [o["o"] for o in outcomes(client) if o["a"] == "a"] == [
        "applied",
        "duplicate",
        "duplicate",
    ]


async def test_ids_of_an_account_evicted_for_its_records_are_still_known(redis_url: str) -> None:
    # 1,000 records at most per worker (split over the shards: 1,000 per shard,
    # the least allowed): account "a" outgrows it, is evicted after each commit
    # and reloaded incomplete, so its old ids are looked up in Redis.
    client = redis.Redis.from_url(redis_url)
    init(client)
    append(client, [deposit("a", str(n), 1) for n in range(1500)])
    append(client, [deposit("a", "7", 1), wd("a", "1499", 1), deposit("a", "new", 1)])
    await drain(redis_url, cache_max_records=1000, batch=200)
    assert account(client, "a") == Account(1501, 0, False)
    assert [o["o"] for o in outcomes(client)][-3:] == ["duplicate", "duplicate", "applied"]


async def test_a_deposit_disputed_thousands_of_times_in_one_batch_commits(redis_url: str) -> None:
    # Each dispute and resolve rewrites the deposit's state: one batch of 5,000
    # (the largest allowed) must still commit, all of it, in one script.
    client = redis.Redis.from_url(redis_url)
    init(client)
    flips = [
        Tx("a", f"f{n}", TxType.DISPUTE if n % 2 == 0 else TxType.RESOLVE, ref_tx_id="x")
        for n in range(4998)
    ]
    append(client, [deposit("a", "x", 7), *flips, deposit("a", "y", 1)])
    await drain(redis_url, batch=5000)
    assert account(client, "a") == Account(8, 0, False)
    assert {o["o"] for o in outcomes(client)} == {"applied"}
    assert stored(client, "a", "x").state == "resolved"
    assert pending_total(client) == 0
