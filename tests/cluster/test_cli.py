"""The operator CLI on the cluster: each shard's node in ``status``, a dead letter replayed."""

from __future__ import annotations

import json

import orjson
import redis

from shared.keys import ShardKeys, shard_keys
from shared.sharding import shard_of
from tests.cli.support import txflow
from tests.cluster.local import LocalCluster
from tests.worker.support import deposit, init

SHARDS = 8


def test_status_names_the_node_of_every_shard(
    cluster_url: str, client: redis.RedisCluster, cluster: LocalCluster
) -> None:
    init(client, SHARDS)
    done = txflow("status", "--json", env={"REDIS_URL": cluster_url, "TXFLOW_REDIS_CLUSTER": "1"})
    assert done.returncode == 0, done.stderr
    shown = {r["shard"]: r["node"] for r in json.loads(done.stdout)["shards"]}
    holder = {}  # which node really holds each shard's stream: ask each node for its own keys
    for node in cluster:
        with cluster.client(node) as c:
            holder |= dict.fromkeys(c.scan_iter(match="txflow:{*}:in"), f"127.0.0.1:{node.port}")
    assert shown == {k.shard: holder[k.inbox] for k in shard_keys(SHARDS)}
    assert len(set(shown.values())) == 3


def test_a_dead_letter_is_replayed_into_its_shards_stream(
    cluster_url: str, client: redis.RedisCluster
) -> None:
    init(client, SHARDS)
    tx = deposit("alice", "t1", 100)
    k = ShardKeys(shard_of("alice", SHARDS))
    letter = client.xadd(
        k.dlq, {"d": orjson.dumps({"e": "1-1", "d": tx.encode().decode(), "reason": "test"})}
    )
    env = {"REDIS_URL": cluster_url, "TXFLOW_REDIS_CLUSTER": "1"}
    done = txflow("dlq", "replay", letter.decode(), env=env)
    assert done.returncode == 0, done.stderr
    assert client.xlen(k.dlq) == 0
    ((_, fields),) = client.xrange(k.inbox)
    assert fields[b"d"] == tx.encode()
