"""Workers and ingest as real OS processes, under load, with crashes and pauses.

Each test posts a workload whose transactions carry a per-account sequence
(their tx ids), then checks: every transaction has exactly one outcome, each
account's outcomes are in sequence order, and final states equal the ledger
core replaying the workload sequentially (``tests.faults.checker.verify``).

Crashes (kill -9), zombies (SIGSTOP past the lease), scaling 1 → 4 → 1, Redis
kill -9 and network stalls run in ``tests/faults/test_scenarios.py``, with the
full checker (lease sampling and epochs included).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.model import Tx
from tests.faults.checker import (
    Loader,
    all_pending,
    decided,
    three_workers_in_order,
    verify,
)
from tests.polling import wait_for
from tests.stack import Stack, workload

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
    three_workers_in_order(stack, client)

    def shares() -> list[int]:
        owners = list(stack.owners().values())
        return sorted(owners.count(w) for w in ("w0", "w1", "w2"))

    # 8 shards over 3 workers converge to ceil(8/3) = 3 at most each
    wait_for(lambda: shares() == [2, 3, 3], 20, "shares of 2, 3 and 3 shards")


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
