"""A shard runner that fails unexpectedly costs its shard a release, never the worker; an
entry whose planning raises is named, and no plan is made of its batch."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
import redis.asyncio as aioredis

from services.worker.batch import Entry, Planner, decode_all
from services.worker.leases import Lease
from services.worker.scripts import Scripts
from services.worker.shard import ShardRunner
from services.worker.shard_store import ShardStore
from services.worker.worker import Worker
from shared.errors import ProcessingFailed
from shared.keys import shard_keys
from shared.model import Outcome, Tx, TxType
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


def test_planning_an_entry_that_raises_names_it_and_makes_no_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = aioredis.Redis()  # never connected: planning reads nothing
    settings = worker_settings("redis://127.0.0.1:1/0")
    store = ShardStore(client, Scripts.register(client), settings, "w", 0)
    runner = ShardRunner(store, settings, Lease(0, 1, time.monotonic() + 60))
    txs = [Tx("a", str(n), TxType.DEPOSIT, 100) for n in range(3)]
    entries = [Entry(f"1-{n}", tx.encode().decode()) for n, tx in enumerate(txs)]
    add = Planner.add

    def poisoned(self: Planner, entry: Entry, tx: Tx) -> Outcome:
        if tx.tx_id == "1":
            raise RuntimeError("poison")
        return add(self, entry, tx)

    monkeypatch.setattr(Planner, "add", poisoned)
    with pytest.raises(ProcessingFailed) as caught:
        runner.plan(entries, decode_all(entries), {})
    assert caught.value.index == 1
    assert repr(caught.value.error) == repr(RuntimeError("poison"))
