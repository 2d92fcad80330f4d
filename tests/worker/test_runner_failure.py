"""A shard runner that fails unexpectedly costs its shard a release, never the worker."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aioredis

from services.worker.shard import ShardRunner
from services.worker.worker import Worker
from shared.keys import shard_keys
from tests.worker.support import SHARDS, init, worker_settings


async def test_a_failed_runner_is_logged_and_its_shard_released_and_taken_again(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis.Redis.from_url(redis_url)
    init(client)

    async def fail(self: ShardRunner) -> None:
        raise RuntimeError("an error no runner expects")

    monkeypatch.setattr(ShardRunner, "run", fail)
    settings = worker_settings(redis_url)
    aclient = aioredis.Redis.from_url(redis_url, decode_responses=True)
    worker = Worker(settings, aclient, "w1")
    try:
        await worker.tick()  # takes every shard; every runner fails at once
        await asyncio.wait([task for _, task in worker.runners.values()])
        await worker.tick()  # releases them (logging why), then takes them again
        assert "runner failed" in caplog.text and "an error no runner expects" in caplog.text
        assert [client.get(k.epoch) for k in shard_keys(SHARDS)] == [b"2"] * SHARDS
    finally:
        await worker.shutdown()
        await aclient.aclose()
    client.close()
