"""``shared.nodes`` on the three-node cluster: each node its share, the ``WAIT`` after it."""

from __future__ import annotations

import redis
import redis.asyncio as aioredis

from services.ingest.xadd import pack
from shared import keys, nodes
from shared.replicas import Replicas, ReplicasUnavailable
from shared.store import connect
from tests import config


def commands(shards: int, per_shard: int) -> list[nodes.Command]:
    """``per_shard`` appends to each shard's ``:in``, interleaved across shards."""
    return [
        (k.inbox, pack([(k.inbox.encode(), str(n).encode())]))
        for n in range(per_shard)
        for k in keys.shard_keys(shards)
    ]


async def test_every_append_lands_on_its_node_in_order(
    cluster_url: str, client: redis.RedisCluster
) -> None:
    settings = config.settings(cluster_url, redis_cluster=True)
    aclient = connect(settings)
    assert isinstance(aclient, aioredis.RedisCluster)
    try:
        sent = commands(shards=8, per_shard=5)
        replies = await nodes.pipeline(aclient, sent, None)
    finally:
        await aclient.aclose()
    assert all(isinstance(r, bytes) for r in replies), replies
    for k in keys.shard_keys(8):
        stored = client.xrange(k.inbox)
        assert [fields[b"d"] for _, fields in stored] == [str(n).encode() for n in range(5)]
        mine = [r for (key, _), r in zip(sent, replies, strict=True) if key == k.inbox]
        assert [i for i, _ in stored] == mine


async def test_a_node_short_of_replicas_fails_its_own_appends_which_stand(
    cluster_url: str, client: redis.RedisCluster
) -> None:
    settings = config.settings(
        cluster_url, redis_cluster=True, min_replicas=1, replica_timeout_ms=50
    )
    aclient = connect(settings)
    assert isinstance(aclient, aioredis.RedisCluster)
    try:
        replies = await nodes.pipeline(aclient, commands(shards=8, per_shard=2), Replicas(settings))
    finally:
        await aclient.aclose()
    # This cluster has no replicas: every node's WAIT falls short, each node once.
    assert all(isinstance(r, ReplicasUnavailable) for r in replies), replies
    assert sum(client.xlen(k.inbox) for k in keys.shard_keys(8)) == 16
