"""The console on the cluster: the status names each shard's node, a dead letter replays."""

from __future__ import annotations

import orjson
import redis

from shared.keys import ShardKeys
from shared.sharding import shard_of
from tests.apps import SHARDS, make_settings, serve
from tests.worker.support import deposit

TOKEN = {"authorization": "Bearer t"}


async def test_status_and_replay_through_the_cluster(
    cluster_url: str, client: redis.RedisCluster
) -> None:
    settings = make_settings(cluster_url, redis_cluster=True, api_token="t", console_sample_ms=100)
    tx = deposit("alice", "t1", 100)
    async with serve(settings) as api:
        k = ShardKeys(shard_of("alice", SHARDS))
        doc = {"e": "1-1", "d": tx.encode().decode(), "reason": "test"}
        dlq_id = client.xadd(k.dlq, {"d": orjson.dumps(doc)}).decode()
        status = (await api.http.get("/v1/status", headers=TOKEN)).json()
        assert len({row["node"] for row in status["shards"]}) > 1  # spread over the nodes
        assert [d["id"] for d in status["dead_letters"]] == [dlq_id]
        replayed = await api.http.post(f"/v1/dlq/{dlq_id}/replay", headers=TOKEN)
        assert replayed.status_code == 200, replayed.text
    ((entry_id, fields),) = client.xrange(k.inbox)
    assert entry_id.decode() == replayed.json()["stream_id"] and fields[b"d"] == tx.encode()
