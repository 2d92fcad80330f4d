"""The count of committed entries behind the exact backlog (``services/worker/backlog.py``)."""

from __future__ import annotations

import redis

from shared import keys
from tests.worker.support import SHARDS, append, committed_and_lag, deposit, drain, init


async def test_every_commit_counts_its_entries(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    init(client)
    append(client, [deposit(f"a{i % 7}", f"t{i}", 100) for i in range(300)])

    await drain(redis_url, batch=40)

    assert sum(count for count, _ in committed_and_lag(client)) == 300
    assert all(lag == 0 for _, lag in committed_and_lag(client))


async def test_the_owner_seeds_a_deployment_that_had_no_count(redis_url: str) -> None:
    # A deployment from before the count: some entries committed, more waiting.
    client = redis.Redis.from_url(redis_url)
    init(client)
    append(client, [deposit(f"a{i % 7}", f"t{i}", 100) for i in range(120)])
    await drain(redis_url)
    for k in keys.shard_keys(SHARDS):
        client.delete(k.committed)
    append(client, [deposit(f"a{i % 7}", f"u{i}", 100) for i in range(80)])

    await drain(redis_url, batch=30)

    assert committed_and_lag(client) == [
        (client.xinfo_stream(k.inbox)["entries-added"], 0) for k in keys.shard_keys(SHARDS)
    ]
    assert sum(count for count, _ in committed_and_lag(client)) == 200
