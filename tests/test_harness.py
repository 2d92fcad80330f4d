"""The harness itself: a real server, streams through ``shared.keys``, crash survival."""

from __future__ import annotations

from collections.abc import Callable

import redis

from services.cli.redis_process import RedisProcess
from shared.keys import GROUP, ShardKeys


def _round_trip(client: redis.Redis, keys: ShardKeys) -> None:
    client.xgroup_create(keys.inbox, GROUP, id="0", mkstream=True)
    ids = [client.xadd(keys.inbox, {"d": f"entry-{i}"}) for i in range(3)]
    read = client.xreadgroup(GROUP, "alice", {keys.inbox: ">"}, count=10)
    assert [entry_id for entry_id, _ in read[0][1]] == ids
    assert client.xack(keys.inbox, GROUP, ids[0]) == 1
    # bob takes over what alice left pending, in ID order
    _cursor, claimed, _deleted = client.xautoclaim(keys.inbox, GROUP, "bob", 0, "0-0")
    assert [entry_id for entry_id, _ in claimed] == ids[1:]
    assert client.xpending(keys.inbox, GROUP)["consumers"] == [{"name": b"bob", "pending": 2}]


def test_stream_round_trip_through_shard_keys(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    _round_trip(client, ShardKeys(3))
    assert client.exists("txflow:{3}:in") == 1


def test_entries_and_pending_list_survive_kill_9_with_aof_always(
    redis_factory: Callable[..., RedisProcess],
) -> None:
    server = redis_factory("always")
    keys = ShardKeys(0)
    client = redis.Redis.from_url(server.url)
    _round_trip(client, keys)
    entries_before = client.xrange(keys.inbox)
    client.close()

    server.kill()
    server.start()

    client = redis.Redis.from_url(server.url)
    assert client.xrange(keys.inbox) == entries_before
    pending = client.xpending_range(keys.inbox, GROUP, "-", "+", 10)
    assert [p["consumer"] for p in pending] == [b"bob", b"bob"]
    assert [p["message_id"] for p in pending] == [e[0] for e in entries_before[1:]]
    client.close()


def test_without_persistence_a_kill_loses_everything(
    redis_factory: Callable[..., RedisProcess],
) -> None:
    # The contrast that shows the previous test proves something.
    server = redis_factory("none")
    client = redis.Redis.from_url(server.url)
    client.xadd("txflow:{0}:in", {"d": "x"})
    client.close()
    server.kill()
    server.start()
    client = redis.Redis.from_url(server.url)
    assert client.exists("txflow:{0}:in") == 0
    client.close()
