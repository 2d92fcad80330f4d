"""The commit protocol against a real Redis: fencing, contiguity, dead letters."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
import redis
import redis.asyncio as aioredis

from services.worker import shard_store, validation
from services.worker.accounts import Account
from services.worker.leases import Lease
from services.worker.scripts import Scripts
from services.worker.shard import ShardRunner
from services.worker.shard_store import ShardStore
from shared.errors import Fenced
from shared.keys import GROUP, ShardKeys
from shared.model import Tx, TxType
from shared.sharding import shard_of
from tests.polling import eventually
from tests.worker.support import (
    SHARDS,
    account,
    append,
    deposit,
    drain,
    one_shard,
    outcomes,
    stored,
    worker_settings,
)


async def runner_for(
    redis_url: str, shard: int, worker_id: str, **overrides: object
) -> tuple[ShardRunner, aioredis.Redis]:
    """A runner that owns ``shard`` through the real acquire script."""
    aclient = aioredis.Redis.from_url(redis_url, decode_responses=True)
    scripts = Scripts.register(aclient)
    k = ShardKeys(shard)
    token = await scripts.acquire(keys=[k.lease, k.epoch], args=[worker_id, 10_000])
    assert token is not None
    lease = Lease(shard, int(token), time.monotonic() + 10)
    settings = worker_settings(redis_url, **overrides)
    store = ShardStore(aclient, scripts, settings, worker_id, shard)
    runner = ShardRunner(store, settings, lease, burst=True)
    return runner, aclient


async def test_a_fenced_runner_writes_nothing(client: redis.Redis, redis_url: str) -> None:
    shard = shard_of("a", SHARDS)
    zombie, aclient = await runner_for(redis_url, shard, "zombie")
    append(client, [deposit("a", "1", 100)])
    # the lease expires and another worker takes the shard: the epoch moves on
    client.delete(ShardKeys(shard).lease)
    successor, aclient2 = await runner_for(redis_url, shard, "successor")
    with pytest.raises(Fenced):
        await zombie.step()
    assert account(client, "a") is None
    assert client.get(ShardKeys(shard).ckpt) is None
    await successor.run()  # claims what the zombie read, and applies it once
    assert account(client, "a") == Account(100, 0, False)
    assert [o["t"] for o in outcomes(client)] == ["1"]
    await aclient.aclose()
    await aclient2.aclose()


async def test_a_commit_resent_after_a_lost_reply_leaves_no_stale_cache(
    client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client that re-sends a command whose connection broke (redis-py's retry
    # policy does): a commit that ran, but whose reply was lost, runs again and
    # answers 'gap' (ckpt moved on). The batch is committed although the runner
    # was told otherwise, so its cache, which lacks the batch, must not be trusted.
    shard = shard_of("a", SHARDS)
    runner, aclient = await runner_for(redis_url, shard, "owner")
    once = shard_store.evalsha

    async def sent_twice(c: Any, script: Any, keys: Any, args: Any, **options: Any) -> Any:
        if script is runner.store.scripts.commit:
            await once(c, script, keys, args, **options)  # this reply is "lost"
        return await once(c, script, keys, args, **options)

    monkeypatch.setattr(shard_store, "evalsha", sent_twice)
    append(client, [deposit("a", "1", 100)])
    await runner.run()
    monkeypatch.setattr(shard_store, "evalsha", once)
    append(client, [deposit("a", "2", 50)])
    await runner.run()
    assert [(o["t"], o["o"]) for o in outcomes(client)] == [("1", "applied"), ("2", "applied")]
    assert account(client, "a") == Account(150, 0, False)
    await aclient.aclose()


async def test_losing_redis_mid_sync_does_not_count_deliveries_again(
    client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An entry read by a worker that died: the next owner claims it once (2
    # deliveries). Its syncs then fail three times after the claim; claiming
    # again each time would count 5 deliveries and dead-letter a healthy entry.
    shard = shard_of("a", SHARDS)
    append(client, [deposit("a", "1", 10)])
    client.xreadgroup(GROUP, "dead", {ShardKeys(shard).inbox: ">"}, count=1)
    runner, aclient = await runner_for(redis_url, shard, "owner", max_deliveries=2)
    # redis-py's error, raised under the adapter: the runner sees it as ours
    real, failures = aclient.xinfo_groups, [redis.ConnectionError("lost")] * 3

    async def flaky(name: str) -> Any:
        if failures:
            raise failures.pop()
        return await real(name)

    monkeypatch.setattr(aclient, "xinfo_groups", flaky)
    await runner.run()
    assert not failures, "the syncs did fail"
    assert [(o["t"], o["o"]) for o in outcomes(client)] == [("1", "applied")]
    assert account(client, "a") == Account(10, 0, False)
    await aclient.aclose()


async def test_a_claimed_entry_that_failed_max_deliveries_times_parks_before_processing(
    client: redis.Redis, redis_url: str
) -> None:
    # Two workers died with the entry in hand (2 deliveries, no commit): with
    # max_deliveries=2 the next owner's claim (the 3rd delivery) gives up on it.
    # One death less (see the test above) and it is processed as usual.
    a, b = one_shard(2)
    shard = shard_of(a, SHARDS)
    k = ShardKeys(shard)
    append(client, [deposit(a, "1", 10), deposit(b, "1", 10)])
    client.xreadgroup(GROUP, "dead", {k.inbox: ">"}, count=1)
    (entry_id,) = [i for i, _ in client.xrange(k.inbox, count=1)]
    client.xclaim(k.inbox, GROUP, "dead-too", 0, [entry_id])
    runner, aclient = await runner_for(redis_url, shard, "owner", max_deliveries=2)
    await runner.run()
    reason = orjson.loads(client.hget(k.parked, a))["reason"]  # type: ignore[arg-type]
    assert reason == "delivered 3 times without a commit"
    assert account(client, a) is None
    assert account(client, b) == Account(10, 0, False)
    await aclient.aclose()


async def test_entries_stolen_by_another_consumer_are_claimed_not_skipped(
    client: redis.Redis, redis_url: str
) -> None:
    shard = shard_of("a", SHARDS)
    k = ShardKeys(shard)
    owner, aclient = await runner_for(redis_url, shard, "owner")
    append(client, [deposit("a", str(n), 10) for n in range(1, 4)])
    # a zombie's late read pulls entries 1..3 into its own pending list
    client.xreadgroup(GROUP, "thief", {k.inbox: ">"}, count=3)
    append(client, [deposit("a", str(n), 10) for n in range(4, 7)])
    await owner.run()
    assert [o["t"] for o in outcomes(client)] == ["1", "2", "3", "4", "5", "6"]
    assert account(client, "a") == Account(60, 0, False)
    assert client.xpending(k.inbox, GROUP)["pending"] == 0
    await aclient.aclose()


async def test_tidying_deletes_only_consumers_that_still_hold_nothing_and_only_for_the_owner(
    client: redis.Redis, redis_url: str
) -> None:
    shard = shard_of("a", SHARDS)
    k = ShardKeys(shard)
    owner, aclient = await runner_for(redis_url, shard, "owner")
    append(client, [deposit("a", "1", 10)])
    client.xgroup_createconsumer(k.inbox, GROUP, "dead")
    client.xgroup_createconsumer(k.inbox, GROUP, "claimer")
    # "claimer" takes the entry after the owner listed it as idle: it keeps it
    original = aclient.xinfo_consumers

    async def listed_then_claimed(*args: Any) -> Any:
        found = await original(*args)
        client.xreadgroup(GROUP, "claimer", {k.inbox: ">"}, count=1)
        return found

    aclient.xinfo_consumers = listed_then_claimed  # type: ignore[method-assign]
    await owner.store.forget_idle_consumers(owner.lease)
    names = {c["name"].decode(): c["pending"] for c in client.xinfo_consumers(k.inbox, GROUP)}
    assert names == {"claimer": 1}, "dead deleted; claimer kept with its entry"
    client.delete(k.lease)  # the lease lost: a zombie tidies nothing
    client.xgroup_createconsumer(k.inbox, GROUP, "dead")
    aclient.xinfo_consumers = original  # type: ignore[method-assign]
    with pytest.raises(Fenced):
        await owner.store.forget_idle_consumers(owner.lease)
    assert "dead" in {c["name"].decode() for c in client.xinfo_consumers(k.inbox, GROUP)}
    await aclient.aclose()


async def test_a_stolen_tail_is_noticed_when_the_owner_is_idle(
    client: redis.Redis, redis_url: str
) -> None:
    shard = shard_of("a", SHARDS)
    k = ShardKeys(shard)
    owner, aclient = await runner_for(redis_url, shard, "owner")
    append(client, [deposit("a", "1", 10), deposit("a", "2", 10)])
    client.xreadgroup(GROUP, "thief", {k.inbox: ">"}, count=2)  # nothing new is left to read
    await owner.run()
    assert [o["t"] for o in outcomes(client)] == ["1", "2"]
    await aclient.aclose()


async def test_undecodable_entries_go_to_the_dlq_and_the_shard_keeps_going(
    client: redis.Redis, redis_url: str
) -> None:
    k = ShardKeys(shard_of("a", SHARDS))
    append(client, [deposit("a", "1", 10)])
    client.xadd(k.inbox, {"d": b"{not json"})
    client.xadd(k.inbox, {"other": b"field"})
    append(client, [deposit("a", "2", 10)])
    await drain(redis_url)
    assert account(client, "a") == Account(20, 0, False)
    dead = [orjson.loads(f[b"d"]) for _, f in client.xrange(k.dlq)]
    assert [d["d"] for d in dead] == ["{not json", None]
    # said once, then what is wrong: not "undecodable: undecodable entry: ..."
    assert [d["reason"].count("undecodable") for d in dead] == [1, 1]
    assert dead[0]["reason"].startswith("undecodable: JSONDecodeError: ")
    assert dead[1]["reason"] == "undecodable: entry has no field 'd'"


async def test_an_entry_whose_processing_raised_max_deliveries_times_parks_its_account(
    client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_check = validation.check
    calls: list[str] = []

    def poisoned(account: Account, tx: Tx, ref: object) -> object:
        if tx.tx_id == "poison":
            calls.append(tx.tx_id)
            raise RuntimeError("boom")
        return real_check(account, tx, ref)  # type: ignore[arg-type]

    monkeypatch.setattr(validation, "check", poisoned)
    append(client, [deposit("a", "1", 10), deposit("a", "poison", 10), deposit("a", "2", 10)])
    await drain(redis_url, max_deliveries=3)
    assert len(calls) == 3  # raised on each of its 3 deliveries, then given up on
    assert account(client, "a") == Account(10, 0, False)  # "2" waits behind it, in order
    k = ShardKeys(shard_of("a", SHARDS))
    assert client.xlen(k.dlq) == 0
    reason = orjson.loads(client.hget(k.parked, "a"))["reason"]  # type: ignore[arg-type]
    assert "raised 3 times" in reason and "boom" in reason
    assert stored(client, "a", "poison").outcome == "parked"
    assert [o["o"] for o in outcomes(client)] == ["applied", "parked", "parked"]


async def test_a_cold_cache_finds_the_deposit_a_dispute_refers_to(
    client: redis.Redis, redis_url: str
) -> None:
    append(client, [deposit("a", "1", 100), deposit("a", "2", 5)])
    await drain(redis_url)
    append(
        client,
        [Tx("a", "d1", TxType.DISPUTE, None, "1"), Tx("a", "c1", TxType.CHARGEBACK, None, "1")],
    )
    await drain(redis_url)
    assert account(client, "a") == Account(5, 0, True)
    assert stored(client, "a", "1").state == "charged_back"
    assert stored(client, "a", "1").amount == 100


async def test_a_warm_cache_restates_the_deposit_a_later_batch_disputes(
    client: redis.Redis, redis_url: str
) -> None:
    # One transaction per batch, one worker: the deposit's record comes from the
    # cache, and each batch writes it whole with its new state.
    disputed = [Tx("a", "d1", TxType.DISPUTE, None, "1"), Tx("a", "r1", TxType.RESOLVE, None, "1")]
    append(client, [deposit("a", "1", 100), *disputed, Tx("a", "d2", TxType.DISPUTE, None, "1")])
    await drain(redis_url, batch=1)
    assert account(client, "a") == Account(0, 100, False)
    assert stored(client, "a", "1").state == "disputed"
    assert stored(client, "a", "1").amount == 100
    assert [o["o"] for o in outcomes(client)] == ["applied"] * 4


@pytest.mark.parametrize("earlier", [True, False], ids=["account-with-state", "no-state"])
async def test_a_replayed_dead_letter_is_decided_once_with_its_new_outcome_and_reason(
    client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch, earlier: bool
) -> None:
    from services.cli import dlq, parked

    real_check = validation.check

    def poisoned(account: Account, tx: Tx, ref: object) -> object:
        if tx.tx_id == "later":
            raise RuntimeError("a bug, fixed below")
        return real_check(account, tx, ref)  # type: ignore[arg-type]

    monkeypatch.setattr(validation, "check", poisoned)
    append(client, [deposit("a", "1", 10)] if earlier else [])
    append(client, [deposit("a", "later", 5)])
    await drain(redis_url, max_deliveries=1)
    text = redis.Redis.from_url(redis_url, decode_responses=True)
    k, request_id = parked.send(text, "skip", "a", "set aside by the operator")
    await drain(redis_url)
    assert parked.result(text, k, request_id)["status"] == "released"  # type: ignore[index]
    monkeypatch.setattr(validation, "check", real_check)  # the fix is deployed

    (letter,) = dlq.letters(text)
    dlq.replay(text, letter["id"])
    await drain(redis_url)
    before = 10 if earlier else 0
    assert account(client, "a") == Account(before + 5, 0, False)
    assert dlq.letters(text) == []
    record = stored(client, "a", "later")
    assert (record.outcome, record.reason) == ("applied", None)
    # the same entry appended again can never apply twice
    append(client, [deposit("a", "later", 5)])
    await drain(redis_url)
    assert account(client, "a") == Account(before + 5, 0, False)
    assert [o["o"] for o in outcomes(client)][-2:] == ["applied", "duplicate"]
    text.close()


async def test_a_redis_refusing_writes_is_waited_out_then_the_batch_commits(
    client: redis.Redis, redis_url: str
) -> None:
    # Out of memory: every read and commit is refused (a replica after a failover
    # answers READONLY the same way). The runner backs off and retries, never crashes.
    shard = shard_of("a", SHARDS)
    append(client, [deposit("a", "1", 100)])
    runner, aclient = await runner_for(redis_url, shard, "owner")
    client.config_set("maxmemory", 1)
    try:
        task = asyncio.create_task(runner.run())

        async def refused() -> bool | None:
            assert not task.done(), "the runner stopped"
            stats = client.info("errorstats").get("errorstat_OOM", {})
            return True if int(stats.get("count", 0)) > 0 else None

        await eventually(refused, 10, "a refused command", every=0.01)
    finally:
        client.config_set("maxmemory", 0)
    await asyncio.wait_for(task, 30)
    assert account(client, "a") == Account(100, 0, False)
    await aclient.aclose()
