"""The outcome readers (``Prefer: wait``, ``GET /v1/outcomes``) on a Redis Cluster, whose
``:out`` logs live in different slots: one non-blocking read per shard."""

from __future__ import annotations

from services.ingest.outbox import Outboxes
from shared.store import connect
from tests import config


async def test_the_logs_of_every_shard_are_read_from_their_positions(cluster_url: str) -> None:
    settings = config.settings(cluster_url, redis_cluster=True)
    client = connect(settings, decode_responses=True)
    try:
        outboxes = Outboxes(client, 4)
        await client.xadd(outboxes.keys[0], {"ep": 1, "d": "[]"})  # before: not read
        positions = await outboxes.ends()
        assert positions[1:] == ["0-0"] * 3
        doc = '[{"e":"1-0","a":"x","t":"1","y":"deposit","o":"applied","at":1}]'
        added = [await client.xadd(outboxes.keys[s], {"ep": 1, "d": doc}) for s in (3, 0)]
        found = []
        for _ in range(50):  # a read that finds nothing sleeps 20 ms
            found += await outboxes.read(positions, block_ms=10, count=10)
            if len(found) == 2:
                break
        assert sorted((s, e) for s, e, _ in found) == [(0, added[1]), (3, added[0])]
        assert found[0][2][0]["t"] == "1" and positions[0] == added[1]
        assert await outboxes.trimmed(positions) == []
    finally:
        await client.aclose()
