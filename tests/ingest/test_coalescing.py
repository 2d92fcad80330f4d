"""Group commit: concurrent requests share Redis pipelines, and each gets its own answer."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from services.ingest.appender import Appender
from services.ingest.xadd import pack
from shared.errors import StoreUnavailable
from shared.sharding import shard_of
from tests.apps import SHARDS, Api, deposit


async def test_concurrent_single_posts_are_coalesced_into_fewer_pipelines(api: Api) -> None:
    bodies = [deposit(f"t{i}", f"acct-{i % 13}") for i in range(200)]
    pipelines_before = api.runtime.appender.pipelines

    responses = await asyncio.gather(*(api.http.post("/v1/transactions", json=b) for b in bodies))

    assert [r.status_code for r in responses] == [202] * 200
    receipts = [r.json() for r in responses]
    # Stream IDs are per stream: distinct within each shard's stream.
    assert len({(r["shard"], r["stream_id"]) for r in receipts}) == 200
    assert await api.total_entries() == 200
    for shard in range(SHARDS):
        landed = {tx.tx_id for _, tx in await api.entries(shard)}
        assert landed == {r["tx_id"] for r in receipts if r["shard"] == shard}
    assert api.runtime.appender.pipelines - pipelines_before < 200
    assert all(r["shard"] == shard_of(r["account_id"], SHARDS) for r in receipts)


async def test_a_failing_entry_fails_only_its_own_request(redis_url: str) -> None:
    async with aioredis.Redis.from_url(redis_url, decode_responses=True) as client:
        await client.set("not-a-stream", "x")
        appender = Appender(client, deadline_s=5, max_inflight=1000)
        appender.start()
        good, bad = await asyncio.gather(
            appender.append([(b"stream-a", b"1"), (b"stream-a", b"2")]),
            appender.append([(b"not-a-stream", b"3")]),
            return_exceptions=True,
        )
        await appender.close()

        assert isinstance(bad, ResponseError)
        assert good == [e[0] for e in await client.xrange("stream-a")]
        assert appender.pipelines == 1


async def test_unreachable_redis_fails_every_waiting_request_and_the_flusher_lives_on(
    redis_url: str,
) -> None:
    async with aioredis.Redis.from_url("redis://127.0.0.1:1/0", decode_responses=True) as dead:
        appender = Appender(dead, deadline_s=5, max_inflight=1000)
        appender.start()
        results = await asyncio.gather(
            *(appender.append([(b"s", b"x")]) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, StoreUnavailable) for r in results)
        again = await asyncio.gather(appender.append([(b"s", b"y")]), return_exceptions=True)
        assert isinstance(again[0], StoreUnavailable)
        await appender.close()


async def test_append_after_close_is_refused(redis_url: str) -> None:
    async with aioredis.Redis.from_url(redis_url, decode_responses=True) as client:
        appender = Appender(client, deadline_s=5, max_inflight=1000)
        appender.start()
        await appender.close()
        with pytest.raises(StoreUnavailable):
            await appender.append([(b"s", b"x")])


def test_packed_pipeline_is_byte_for_byte_what_redis_py_sends() -> None:
    entries = [(b"txflow:{3}:in", b'{"a":"x","t":"1"}'), (b"k", b""), (b"k", "é".encode())]
    connection = aioredis.Connection()
    expected = b"".join(
        connection.pack_commands([("XADD", key, "*", "d", data) for key, data in entries])
    )
    assert pack(entries) == expected
