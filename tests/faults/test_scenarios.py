"""Fault injection under load: nothing lost, nothing applied twice, order kept.

Every scenario posts a workload through ingest, injects its fault while half
of it is in the streams and the rest is arriving, then lets the checker prove
(a) to (e) of ``tests.faults.checker``.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from services.cli.redis_process import Persistence, RedisProcess
from services.cli.status import snapshot
from shared.keys import ShardKeys
from shared.parking import held_from
from shared.sharding import shard_of
from tests import poison
from tests.faults.checker import LeaseSampler, Loader, Report, all_pending, decided, verify
from tests.faults.scenarios import Faults
from tests.polling import wait_for
from tests.stack import Stack, workload

pytestmark = pytest.mark.slow


@pytest.fixture
def make_faults(
    redis_factory: Callable[..., RedisProcess], tmp_path: Path
) -> Iterator[Callable[..., Faults]]:
    stacks: list[Stack] = []

    def make(
        persistence: Persistence = "always",
        workers: int = 2,
        poison: Path | None = None,
        **settings: str,
    ) -> Faults:
        server = redis_factory(persistence)
        stack = Stack(server.url, tmp_path / "logs", settings=settings, poison=poison)
        stacks.append(stack)
        stack.start_ingest()
        faults = Faults(stack, server)
        for _ in range(workers):
            faults.start_worker()
        faults.wait_all_owned()
        return faults

    yield make
    for stack in stacks:
        stack.stop_all()


def under_load(faults: Faults, inject: Callable[[Loader], None], seed: int) -> Report:
    stack = faults.stack
    sampler = LeaseSampler(stack.redis_url, stack.shards)
    sampler.start()
    loader = Loader(stack.api, workload(accounts=60, per_account=50, seed=seed))
    loader.start()
    assert loader.halfway.wait(60), "the first half of the load was not posted"
    inject(loader)
    history = loader.finish()
    client = redis.Redis.from_url(stack.redis_url)
    wait_for(lambda: decided(client, stack.shards) >= len(history.accepted), 90, "all decided")
    sampler.stop()
    report = verify(client, stack.shards, history, sampler=sampler)
    assert report.accepted == 3000 and report.lease_samples > 0
    client.close()
    return report


def test_kill_9_of_random_workers_while_load_runs(make_faults: Callable[..., Faults]) -> None:
    faults = make_faults(workers=3)
    rng = random.Random(1)

    def inject(loader: Loader) -> None:
        loader.resume()
        for _ in range(3):
            faults.kill_worker(rng)

    under_load(faults, inject, seed=1)
    assert faults.injected == {"worker kill -9": 3}


def test_a_worker_paused_past_its_lease_is_fenced(make_faults: Callable[..., Faults]) -> None:
    faults = make_faults(workers=2)
    under_load(faults, lambda loader: (loader.resume(), faults.pause_worker(random.Random(2))), 2)
    assert faults.injected == {"worker SIGSTOP past its lease": 1}


@pytest.mark.parametrize("persistence", ["always", "everysec"])
def test_every_202_survives_a_redis_kill_9(
    make_faults: Callable[..., Faults], persistence: Persistence
) -> None:
    # With everysec too: a crash of the Redis *process* keeps what it wrote to
    # the OS; only a machine crash may lose the last second (RELIABILITY.md).
    faults = make_faults(persistence)
    under_load(faults, lambda loader: (loader.resume(), faults.crash_redis(random.Random(3))), 3)


def test_lag_reads_0_when_drained_after_three_redis_restarts(
    make_faults: Callable[..., Faults],
) -> None:
    # A low limit: a backlog left over by a wrong count would refuse every POST.
    faults = make_faults("always", TXFLOW_MAX_LAG="40")

    def inject(loader: Loader) -> None:
        loader.resume()
        for _ in range(3):
            faults.crash_redis(random.Random(7))
            faults.wait_all_owned()

    under_load(faults, inject, 7)
    stack = faults.stack
    client = stack.client(decode_responses=True)
    try:
        wait_for(lambda: all_pending(client, stack.shards) == 0, 30, "nothing pending")

        def lags() -> list[int]:  # what txflow status shows
            return [row["lag"] for row in snapshot(client)["shards"]]

        # A chunk appended twice (its reply lost in a crash, retried) may leave a last
        # copy that no worker has read yet: not pending, but not committed either.
        wait_for(lambda: lags() == [0] * stack.shards, 30, "every lag 0")
    finally:
        client.close()

    def ingest_sees_0() -> bool:  # its monitor reads the lags every 100 ms
        metrics = httpx.get(f"{stack.api}/metrics").text
        return all(f'txflow_shard_lag{{shard="{s}"}} 0.0' in metrics for s in range(stack.shards))

    wait_for(ingest_sees_0, 10, "ingest's lags to read 0")
    body = {"tx_id": "after", "account_id": "a1", "type": "deposit", "amount": "1"}
    assert httpx.post(f"{stack.api}/v1/transactions", json=body).status_code == 202


def test_a_network_stall_longer_than_the_lease(make_faults: Callable[..., Faults]) -> None:
    faults = make_faults(workers=1)
    under_load(faults, lambda loader: (loader.resume(), faults.stall_network(random.Random(4))), 4)
    assert faults.injected == {"network stall past the lease": 1}


def test_scale_one_to_four_to_one(make_faults: Callable[..., Faults]) -> None:
    faults = make_faults(workers=1)
    under_load(faults, lambda loader: (loader.resume(), faults.scale(random.Random(5))), 5)


def test_sigterm_of_every_worker_leaves_nothing_pending(make_faults: Callable[..., Faults]) -> None:
    faults = make_faults(workers=2)
    stack = faults.stack
    client = redis.Redis.from_url(stack.redis_url)

    def inject(loader: Loader) -> None:
        faults.wait_heartbeating(faults.workers)  # one may own every shard before the other runs
        for name in list(faults.workers):
            stack.signal(name, signal.SIGTERM)
        for name in faults.workers:
            assert stack.procs[name].wait(30) == 0
        assert all_pending(client, stack.shards) == 0
        assert set(stack.owners().values()) == {None}
        faults.workers.clear()
        faults.start_worker()
        faults.start_worker()
        loader.resume()

    under_load(faults, inject, 6)
    client.close()


def test_a_parked_account_survives_a_kill_9_and_a_takeover(
    make_faults: Callable[..., Faults], tmp_path: Path
) -> None:
    # Every entry of the victim raises in the workers (the test hook) until the
    # fault is removed: it parks, its entries are held in order. Its shard's
    # owner is killed -9 and replaced; the next owner, without the fault, keeps
    # it parked and holds its new entries behind the others. Then an operator
    # runs `txflow parked retry` and the checker proves (a) to (e).
    victim, hook = "acct-7", tmp_path / "poison"
    poison.write(hook, "accounts", [victim])
    faults = make_faults(workers=2, poison=hook)
    stack = faults.stack
    k = ShardKeys(shard_of(victim, stack.shards))
    client = redis.Redis.from_url(stack.redis_url)

    def held_ids() -> list[str]:
        """The victim's held tx ids, in order (a copy a client retry appended, once)."""
        rows = client.lrange(k.held(victim), 0, -1)
        return list(dict.fromkeys(orjson.loads(held_from(row)[1] or "")["t"] for row in rows))

    def inject(loader: Loader) -> None:
        def accepted() -> list[str]:
            mine = (t.tx_id for t in loader.history.accepted if t.account_id == victim)
            return list(dict.fromkeys(mine))

        wait_for(lambda: accepted() and held_ids() == accepted(), 60, "the victim held")
        owner = stack.owners()[k.shard]
        assert owner is not None
        stack.signal(owner, signal.SIGKILL)
        stack.procs[owner].wait(10)
        faults.workers.remove(owner)
        poison.write(hook, "accounts", [])  # the fault is gone: the next owner has none
        faults.start_worker()
        faults.wait_all_owned()
        history = loader.finish()
        others = sum(1 for t in history.accepted if t.account_id != victim)
        wait_for(lambda: decided(client, stack.shards) >= others, 90, "the others decided")
        wait_for(lambda: held_ids() == accepted(), 30, "the victim's new entries held")
        assert held_ids() == sorted(held_ids()) and len(held_ids()) > 30  # its whole sequence
        record = httpx.get(f"{stack.api}/v1/accounts/{victim}/transactions/{held_ids()[-1]}")
        assert record.json()["status"] == "parked"
        retry = subprocess.run(
            [sys.executable, "-m", "services.cli", "parked", "retry", victim],
            env=stack.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert retry.returncode == 0 and "released" in retry.stdout, retry.stdout + retry.stderr

    under_load(faults, inject, seed=7)
    assert client.hlen(k.parked) == 0 and not client.exists(k.held(victim))
    client.close()
