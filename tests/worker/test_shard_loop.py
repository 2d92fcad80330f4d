"""The shard runner's loop and policy against an in-memory ``ShardStore``: no Redis.

What a failure makes the runner do next (sync, claim again or not, wait for
replicas, stop, give up on an entry). Order, leases and crashes are proven
against a real Redis (``test_protocol``, ``test_processes``), not here.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from services.worker.batch import Entry, Plan
from services.worker.leases import Lease
from services.worker.shard import ShardRunner
from services.worker.shard_store import ShardStore
from shared.errors import Fenced, Gap, StoreUnavailable
from shared.keys import ShardKeys
from shared.model import Tx, TxType
from shared.parking import Parked
from shared.replicas import ReplicasUnavailable
from tests import config, poison

WORKER = "w"


class FakeStore(ShardStore):
    """One shard in memory: its inbox and consumer group, ``ckpt`` and the commits made.
    ``fail[method]``: what its next calls raise, in turn (ours, as the adapter's are;
    ``None``: that call succeeds)."""

    def __init__(self, txs: list[Tx], batch: int) -> None:  # no client: nothing of the real one
        self.worker_id, self.keys, self.batch = WORKER, ShardKeys(0), batch
        self.inbox = [(f"{n}-0", tx.encode().decode()) for n, tx in enumerate(txs, 1)]
        self.delivered = 0  # entries of the inbox delivered to the group
        self.pending: dict[str, int] = {}  # entry id → deliveries, until committed
        self.committed: str | None = None
        self.commits: list[Plan] = []
        self.events: list[tuple[str, Any]] = []
        self.calls: Counter[str] = Counter()
        self.fail: dict[str, list[Exception | None]] = {}
        self.behind: list[int | None] = []  # what replicas_behind answers, in turn

    def called(self, method: str) -> None:
        self.calls[method] += 1
        error = self.fail[method].pop(0) if self.fail.get(method) else None
        if error is not None:
            raise error

    def deliver(self, consumer: str = WORKER) -> list[tuple[str, str]]:
        """Deliver the next batch (as XREADGROUP does), pending to ``consumer``."""
        rows = self.inbox[self.delivered : self.delivered + self.batch]
        self.delivered += len(rows)
        self.pending |= {entry_id: 1 for entry_id, _ in rows}
        return rows

    async def read(self) -> Any:
        self.called("read")
        rows = self.deliver()
        return [[self.keys.inbox, [[i, ["d", data]] for i, data in rows]]] if rows else None

    async def claim_pending(self) -> None:
        self.called("claim_pending")
        self.pending = {entry_id: n + 1 for entry_id, n in self.pending.items()}

    async def forget_idle_consumers(self, lease: Lease) -> None:
        self.called("forget_idle_consumers")

    async def last_delivered(self) -> str | None:
        self.called("last_delivered")
        return self.inbox[self.delivered - 1][0] if self.delivered else None

    async def ckpt(self) -> str | None:
        self.called("ckpt")
        return self.committed

    def position(self, entry_id: str | None) -> int:
        return 0 if entry_id is None else [i for i, _ in self.inbox].index(entry_id) + 1

    async def delivered_after(self, ckpt: str | None, last: str) -> list[Entry]:
        self.called("delivered_after")
        rows = self.inbox[self.position(ckpt) : self.position(last)][: self.batch]
        return [Entry(i, data) for i, data in rows]

    async def deliveries(self, first: str, last: str, count: int) -> dict[str, int]:
        self.called("deliveries")
        ids = [i for i, _ in self.inbox[self.position(first) - 1 : self.position(last)]]
        return {i: self.pending[i] for i in ids[:count] if i in self.pending}

    async def load(self, keys: list[str], fields: list[str]) -> Any:
        self.called("load")
        self.events.append(("load", keys))
        return [[None] * len(f.split(",")) for f in fields]  # no account is stored yet

    async def parked(self) -> dict[str, Parked]:
        self.called("parked")
        return {}

    async def seed_committed(self, lease: Lease) -> None:
        self.called("seed_committed")

    async def commit(self, plan: Plan, keys: list[str], args: list[Any]) -> None:
        self.called("commit")
        if plan.from_inbox and self.position(plan.ids[0]) != self.position(self.committed) + 1:
            raise Gap(f"batch starts at {plan.ids[0]}")
        self.commits.append(plan)
        self.events.append(("commit", plan.ids))
        self.committed = plan.ids[-1]
        for entry_id in plan.ids:
            self.pending.pop(entry_id, None)
        self.called("after commit")  # the writes stand; the replicas may fall short

    async def replicas_behind(self, target: int | None) -> int | None:
        self.called("replicas_behind")
        self.events.append(("replicas_behind", target))
        return self.behind.pop(0) if self.behind else None

    async def requests(self, count: int) -> list[tuple[str, dict[str, str]]]:
        self.called("requests")
        return []


def runner_of(store: FakeStore, **settings: Any) -> ShardRunner:
    values = {"batch": store.batch, "backoff_max_s": 0.001, **settings}
    lease = Lease(0, 1, time.monotonic() + 60)
    return ShardRunner(store, config.settings(**values), lease, burst=True)


def deposits(count: int, account: str = "a") -> list[Tx]:
    return [Tx(account, str(n), TxType.DEPOSIT, 100) for n in range(1, count + 1)]


def committed_ids(store: FakeStore) -> list[str]:
    return [i for plan in store.commits for i in plan.ids]


async def test_batches_are_read_decided_and_committed_in_order() -> None:
    store = FakeStore(deposits(5), batch=2)
    runner = runner_of(store)
    await runner.run()
    assert [plan.ids for plan in store.commits] == [["1-0", "2-0"], ["3-0", "4-0"], ["5-0"]]
    assert runner.ckpt == "5-0" and runner.processed == 5
    assert store.calls["claim_pending"] == 1  # once, before the first read


async def test_an_outage_after_the_claim_resyncs_without_claiming_again() -> None:
    store = FakeStore(deposits(3), batch=10)
    store.deliver("dead")  # a worker died with them in hand
    store.fail["last_delivered"] = [StoreUnavailable("down")] * 3
    runner = runner_of(store, max_deliveries=2)
    await runner.run()
    assert store.calls["claim_pending"] == 1  # a claim again would count a delivery more
    assert committed_ids(store) == ["1-0", "2-0", "3-0"]
    assert [plan.parking for plan in store.commits] == [None], "nothing given up on"


async def test_an_outage_before_the_claim_completed_claims_again() -> None:
    store = FakeStore(deposits(1), batch=10)
    store.deliver("dead")
    store.fail["claim_pending"] = [StoreUnavailable("down")]
    await runner_of(store).run()
    assert store.calls["claim_pending"] == 2
    assert committed_ids(store) == ["1-0"]


async def test_a_commit_answered_gap_resyncs_from_ckpt_with_the_cache_forgotten() -> None:
    # The second commit ran, its reply was lost, and the re-sent one found ckpt moved
    # on: the cache lacks that batch, so account a is read again for the third.
    store = FakeStore(deposits(3), batch=1)
    store.fail["after commit"] = [None, Gap("ckpt moved on")]
    await runner_of(store).run()
    assert committed_ids(store) == ["1-0", "2-0", "3-0"]
    loads = [e for e in store.events if e[0] == "load"]
    assert len(loads) == 2, "account a was read again after the gap"


async def test_a_fenced_commit_stops_the_runner() -> None:
    store = FakeStore(deposits(3), batch=1)
    store.fail["commit"] = [Fenced("epoch moved on")]
    await runner_of(store).run()
    assert store.commits == [] and store.calls["read"] == 1


async def test_replicas_short_of_a_commit_hold_the_next_one_back() -> None:
    store = FakeStore(deposits(2), batch=1)
    store.fail["after commit"] = [ReplicasUnavailable("0 of 1 replicas")]
    store.behind = [7, None]  # the primary's offset asked first, then that offset again
    await runner_of(store).run()
    assert [e for e in store.events if e[0] != "load"] == [
        ("commit", ["1-0"]),
        ("replicas_behind", None),
        ("replicas_behind", 7),
        ("commit", ["2-0"]),
    ]


async def test_an_entry_whose_planning_raises_is_redelivered_then_its_account_parked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = FakeStore(deposits(2), batch=10)
    poison.install(poison.Poison(txs=["a 2"]), monkeypatch)
    await runner_of(store, max_deliveries=2).run()
    # what precedes it is committed; claimed again (delivery 2), it raises again: parked
    assert [plan.ids for plan in store.commits] == [["1-0"], ["2-0"]]
    parking = store.commits[1].parking
    assert parking is not None and parking.parked["a"] is not None
    assert "raised 2 times" in parking.parked["a"].reason
    assert store.calls["claim_pending"] == 2


async def test_an_entry_no_pending_list_holds_still_parks_after_max_deliveries_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A consumer deleted with entries pending to it (XGROUP DELCONSUMER drops them)
    # leaves an entry delivered but in no pending list: XPENDING counts nothing, and
    # the runner's own count of raises must end the loop on it.
    store = FakeStore(deposits(2), batch=10)
    store.deliver("gone")
    store.pending.clear()
    poison.install(poison.Poison(txs=["a 2"]), monkeypatch)
    await runner_of(store, max_deliveries=3).run()
    assert committed_ids(store) == ["1-0", "2-0"]
    parking = store.commits[-1].parking
    assert parking is not None and parking.parked["a"] is not None
    assert "raised 3 times" in parking.parked["a"].reason


async def test_a_runner_past_its_lease_claims_nothing() -> None:
    store = FakeStore(deposits(1), batch=10)
    store.deliver("dead")
    runner = runner_of(store)
    runner.lease = Lease(0, 1, time.monotonic() - 1)  # paused past it
    await runner.run()
    assert store.calls["claim_pending"] == 0 and store.commits == []


async def test_a_sync_that_commits_ends_the_outage_before_the_next_read() -> None:
    # After an outage the sync commits what was pending; the next read may wait up to
    # block_ms for more. The log must say Redis is back by then, not after that wait.
    store = FakeStore(deposits(3), batch=10)
    store.fail["commit"] = [StoreUnavailable("down")]
    runner = runner_of(store)
    failing_at_read: list[bool] = []
    read = store.read

    async def watched_read() -> Any:
        failing_at_read.append(runner.outage.failing)
        return await read()

    store.read = watched_read  # type: ignore[method-assign]
    await runner.run()
    assert committed_ids(store) == ["1-0", "2-0", "3-0"]
    assert store.calls["commit"] == 2
    assert failing_at_read == [False, False]  # before the failed commit; after the sync's
