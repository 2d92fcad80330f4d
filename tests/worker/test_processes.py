"""Workers and ingest as real OS processes, under load, with crashes and pauses.

Each test posts a workload whose transactions carry a per-account sequence
(their tx ids), then checks: every transaction has exactly one outcome, each
account's outcomes are in sequence order, and final states equal the ledger
core replaying the workload sequentially (``tests.stack.verify``).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from services.cli.redis_process import RedisProcess
from shared.model import Tx
from tests.faults.checker import Loader, all_pending, decided, post_all, verify
from tests.stack import Stack, wait_for, workload

pytestmark = pytest.mark.slow
TTL_S = 1.5


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(redis_url, tmp_path / "logs")
    yield s
    s.stop_all()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def start_load(api: str, txs: list[Tx]) -> Loader:
    loader = Loader(api, txs)
    loader.start()
    assert loader.halfway.wait(60), "the first half of the load was not posted"
    return loader


def owned_by(stack: Stack, worker: str) -> set[int]:
    return {s for s, owner in stack.owners().items() if owner == worker}


def test_three_workers_apply_each_accounts_transactions_in_order(
    stack: Stack, client: redis.Redis
) -> None:
    api = stack.start_ingest()
    for n in range(3):
        stack.start_worker(f"w{n}")
    txs = workload(accounts=60, per_account=40)
    history = post_all(api, txs)
    wait_for(lambda: decided(client, stack.shards) >= len(txs), 60, "every transaction decided")
    verify(client, stack.shards, history)
    owners = wait_for(lambda: set(stack.owners().values()) == {"w0", "w1", "w2"} and stack.owners(),
                      10, "all three workers owning shards")  # fmt: skip
    assert sorted(list(owners.values()).count(w) for w in ("w0", "w1", "w2")) == [2, 3, 3]


def test_a_killed_workers_shards_move_and_nothing_is_lost_or_doubled(
    stack: Stack, client: redis.Redis
) -> None:
    api = stack.start_ingest()
    stack.start_worker("a")
    stack.start_worker("b")
    wait_for(lambda: owned_by(stack, "a") and owned_by(stack, "b"), 15, "both workers own shards")
    txs = workload(accounts=80, per_account=50, seed=2)
    loader = start_load(api, txs)
    loader.resume()  # the rest arrives while the shards move
    stack.signal("a", signal.SIGKILL)
    wait_for(lambda: owned_by(stack, "b") == set(range(stack.shards)), 4 * TTL_S + 5,
             "b owning every shard")  # fmt: skip
    history = loader.finish()
    wait_for(lambda: decided(client, stack.shards) >= len(txs), 60, "every transaction decided")
    verify(client, stack.shards, history)
    assert all_pending(client, stack.shards) == 0


def test_a_paused_worker_is_fenced_after_takeover_and_gives_up(
    stack: Stack, client: redis.Redis
) -> None:
    api = stack.start_ingest()
    stack.start_worker("zombie")
    wait_for(lambda: len(owned_by(stack, "zombie")) == stack.shards, 15, "zombie owning all")
    txs = workload(accounts=50, per_account=40, seed=3)
    loader = start_load(api, txs)
    stack.signal("zombie", signal.SIGSTOP)
    stack.start_worker("heir")
    wait_for(lambda: len(owned_by(stack, "heir")) == stack.shards, 4 * TTL_S + 10, "takeover")
    stack.signal("zombie", signal.SIGCONT)
    history = loader.finish()
    wait_for(lambda: decided(client, stack.shards) >= len(txs), 60, "every transaction decided")
    verify(client, stack.shards, history)
    # the zombie noticed: it stopped touching the shards it had lost
    wait_for(lambda: "lost shard" in stack.log("zombie") or "fenced" in stack.log("zombie"),
             10, "the zombie to notice")  # fmt: skip


def test_scaling_one_to_four_to_one_converges_and_loses_nothing(
    stack: Stack, client: redis.Redis
) -> None:
    api = stack.start_ingest()
    stack.start_worker("w0")
    wait_for(lambda: len(owned_by(stack, "w0")) == stack.shards, 15, "w0 owning all")
    txs = workload(accounts=150, per_account=80, seed=4)
    loader = start_load(api, txs)
    loader.resume()
    for n in (1, 2, 3):
        stack.start_worker(f"w{n}")
    wait_for(lambda: all(len(owned_by(stack, f"w{n}")) == 2 for n in range(4)), 20,
             "four workers owning two shards each")  # fmt: skip
    for n in (1, 2, 3):
        stack.signal(f"w{n}", signal.SIGTERM)
    wait_for(lambda: len(owned_by(stack, "w0")) == stack.shards, 20, "w0 owning all again")
    history = loader.finish()
    wait_for(lambda: decided(client, stack.shards) >= len(txs), 60, "every transaction decided")
    verify(client, stack.shards, history)
    assert all(stack.procs[f"w{n}"].wait(10) == 0 for n in (1, 2, 3))


def test_sigterm_commits_and_releases_leases_at_once(stack: Stack, client: redis.Redis) -> None:
    api = stack.start_ingest()
    stack.start_worker("leaving")
    wait_for(lambda: len(owned_by(stack, "leaving")) == stack.shards, 15, "owning all")
    txs = workload(accounts=40, per_account=40, seed=5)
    loader = start_load(api, txs)
    stack.signal("leaving", signal.SIGTERM)
    assert stack.procs["leaving"].wait(15) == 0
    # released, not left to expire: no lease still names it, and nothing is pending
    assert owned_by(stack, "leaving") == set()
    assert all_pending(client, stack.shards) == 0
    assert client.zscore("txflow:workers", "leaving") is None
    stack.start_worker("next")
    history = loader.finish()
    wait_for(lambda: decided(client, stack.shards) >= len(txs), 60, "every transaction decided")
    verify(client, stack.shards, history)


def test_workers_survive_a_redis_crash_with_aof_always(
    redis_factory: Callable[..., RedisProcess], tmp_path: Path
) -> None:
    server = redis_factory("always")
    stack = Stack(server.url, tmp_path / "logs")
    try:
        api = stack.start_ingest()
        stack.start_worker("a")
        stack.start_worker("b")
        txs = workload(accounts=50, per_account=40, seed=6)
        loader = start_load(api, txs)
        client = redis.Redis.from_url(server.url)
        wait_for(lambda: client.xlen("txflow:{0}:out") > 0 or not loader.is_alive(), 30, "work")
        loader.resume()  # posts meet a dead Redis: 503s, retried with the same ids
        server.kill()
        server.start()
        history = loader.finish()
        client = redis.Redis.from_url(server.url)
        wait_for(lambda: decided(client, stack.shards) >= len(txs), 60, "all decided")
        verify(client, stack.shards, history)
        client.close()
    finally:
        stack.stop_all()
