"""The checker: what was accepted, what happened to it, and whether that was right.

It posts a workload whose transactions carry a per-account sequence (their
tx ids), retrying 429 / 503 / lost connections with the same ids, and records
every ``202``. While faults are injected it samples the shards' leases and
epochs. At the end it checks, against the ledger core replaying the accepted
log sequentially:

(a) every accepted transaction has exactly one decided outcome (a
    ``duplicate`` only for a transaction the client itself retried), and no
    account is left parked (a ``parked`` outcome is not a decision: the entry
    was held, and is decided when its account is retried);
(b) each account's decided outcomes are in sequence order;
(c) final account states equal the sequential model;
(d) the dead-letter queues are empty (unless the scenario dead-letters on purpose:
    poison parks its account, it does not dead-letter);
(e) no shard was owned by two workers at once: each epoch had one owner, and
    the epochs in each shard's outcome log never go down (a fenced-out owner
    never committed after its successor).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import redis

from services.worker.accounts import Account
from services.worker.ledger import MemoryLedger
from shared import keys, records
from shared.model import Outcome, Tx
from shared.outcomes import unpack
from shared.sharding import shard_of
from shared.store import connect_sync
from tests import config
from tests.polling import wait_for
from tests.stack import Stack, workload


@dataclass
class History:
    """What the client saw: accepted transactions and the ones it had to retry."""

    accepted: list[Tx] = field(default_factory=list)
    retried: set[tuple[str, str]] = field(default_factory=set)
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


Answered = Callable[[float, int | None], None]
"""Told of every attempt: when it was sent (``time.monotonic()``) and its status,
``None`` when no answer came (the client's timeout, a lost connection)."""


def post_batch(
    http: httpx.Client,
    txs: list[Tx],
    history: History,
    deadline: float,
    *,
    single: bool = False,
    on_answer: Answered | None = None,
) -> None:
    """Post until ``202``; a retry re-sends the same ids (safe: the worker dedups).

    ``single``: the one transaction of ``txs`` to ``POST /v1/transactions``.
    """
    if single:
        (tx,) = txs
        path, body = "/v1/transactions", orjson.dumps(tx.to_wire())
    else:
        path, body = "/v1/transactions/batch", orjson.dumps([t.to_wire() for t in txs])
    attempt = 0
    while True:
        assert time.monotonic() < deadline, "posting did not finish in time"
        sent = time.monotonic()
        try:
            r = http.post(path, content=body, headers={"content-type": "application/json"})
        except httpx.TransportError:
            r = None
        if on_answer is not None:
            on_answer(sent, None if r is None else r.status_code)
        if r is not None and r.status_code == 202:
            with history.lock:
                history.accepted.extend(txs)
                if attempt:
                    history.retried.update((t.account_id, t.tx_id) for t in txs)
            return
        assert r is None or r.status_code in (429, 503), r.text
        attempt += 1
        history.retries += 1
        time.sleep(0.05)


def post_all(
    api: str,
    txs: list[Tx],
    history: History | None = None,
    chunk: int = 50,
    deadline_s: float = 180,
) -> History:
    history = history or History()
    deadline = time.monotonic() + deadline_s
    with httpx.Client(base_url=api, timeout=10) as http:
        for i in range(0, len(txs), chunk):
            post_batch(http, txs[i : i + chunk], history, deadline)
    return history


class Loader(threading.Thread):
    """Posts a workload in the background and stops halfway until ``resume()``.

    The pause makes "a fault under load" deterministic: the test injects its
    fault while half the workload is in the streams and the rest still to come.
    """

    def __init__(self, api: str, txs: list[Tx], chunk: int = 50, pause: bool = True) -> None:
        super().__init__(daemon=True)
        self.api, self.txs, self.chunk = api, txs, chunk
        self.history = History()
        self.halfway = threading.Event()
        self._resume = threading.Event()
        if not pause:
            self._resume.set()
        self.error: BaseException | None = None

    def run(self) -> None:
        half = len(self.txs) // 2
        try:
            post_all(self.api, self.txs[:half], self.history, self.chunk)
            self.halfway.set()
            self._resume.wait(180)
            post_all(self.api, self.txs[half:], self.history, self.chunk)
        except BaseException as e:  # surfaced by finish()
            self.error = e
            self.halfway.set()

    def resume(self) -> None:
        self._resume.set()

    def finish(self, timeout: float = 180) -> History:
        self.resume()
        self.join(timeout)
        assert not self.is_alive(), "the loader did not finish"
        if self.error is not None:
            raise self.error
        return self.history


class LeaseSampler(threading.Thread):
    """Samples every shard's (owner, epoch) while a scenario runs."""

    def __init__(
        self, redis_url: str, shards: int, every_s: float = 0.05, *, cluster: bool = False
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.shards, self.every_s = redis_url, shards, every_s
        self.cluster = cluster
        self.owners: dict[tuple[int, int], set[str]] = defaultdict(set)  # (shard, epoch) → owners
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        settings = config.settings(self.url, redis_cluster=self.cluster)
        client = connect_sync(settings, decode_responses=True, socket_timeout=1)
        every = keys.shard_keys(self.shards)
        while not self._done.wait(self.every_s):
            try:
                pipe = client.pipeline(transaction=False)
                for k in every:
                    pipe.get(k.lease)
                    pipe.get(k.epoch)
                replies = pipe.execute()
            except (redis.RedisError, redis.RedisClusterException):
                continue  # Redis itself may be the fault being injected
            for i, k in enumerate(every):
                owner, epoch = replies[2 * i], replies[2 * i + 1]
                if owner is not None and epoch is not None:
                    self.owners[(k.shard, int(epoch))].add(owner)
            self.samples += 1
        client.close()

    def stop(self) -> None:
        self._done.set()
        self.join(5)


def outcomes(client: redis.Redis, shards: int) -> dict[int, list[dict[str, Any]]]:
    """Each shard's outcome log in commit order, each with its committing epoch."""
    found: dict[int, list[dict[str, Any]]] = {}
    for k in keys.shard_keys(shards):
        found[k.shard] = [doc for _, fields in client.xrange(k.outbox) for doc in unpack(fields)]
    return found


UNDECIDED = (Outcome.DUPLICATE, Outcome.PARKED)


def decided(client: redis.Redis, shards: int) -> int:
    return sum(
        1 for rows in outcomes(client, shards).values() for d in rows if d["o"] not in UNDECIDED
    )


def all_pending(client: redis.Redis, shards: int) -> int:
    return sum(
        int(client.xpending(k.inbox, keys.GROUP)["pending"]) for k in keys.shard_keys(shards)
    )


@dataclass
class Report:
    accepted: int
    decided: int
    duplicates_from_retries: int
    lease_samples: int


def verify(
    client: redis.Redis,
    shards: int,
    history: History,
    *,
    poison: bool = False,
    sampler: LeaseSampler | None = None,
) -> Report:
    """Checks (a) to (e) of the module docstring; returns what was counted."""
    by_shard = outcomes(client, shards)
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for shard, rows in by_shard.items():
        epochs = [d["ep"] for d in rows]
        assert epochs == sorted(epochs), f"shard {shard}: a fenced-out owner committed late"
        for d in rows:
            by_account[d["a"]].append(d)
    duplicates = 0
    model = MemoryLedger()
    expected: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for tx in sorted(history.accepted, key=lambda t: (t.account_id, t.tx_id)):
        expected[tx.account_id].append((tx.tx_id, model.process(tx).outcome.value))
    parked = {a for k in keys.shard_keys(shards) for a in client.hkeys(k.parked)}
    assert not parked, f"accounts left parked: {sorted(parked)}"  # (a)
    for account, want in expected.items():
        docs = by_account.get(account, [])
        got = [(d["t"], d["o"]) for d in docs if d["o"] not in UNDECIDED]
        assert got == want, f"{account}: outcomes are lost, doubled or out of order"  # (a), (b)
        for d in docs:
            if d["o"] == Outcome.DUPLICATE:
                assert (account, d["t"]) in history.retried, f"{account}/{d['t']} processed twice"
                duplicates += 1
    for account, state in model:  # (c)
        key = keys.ShardKeys(shard_of(account, shards)).account(account)
        got_state = Account(*records.unpack_state(client.hget(key, records.STATE).decode()))
        assert got_state == state, f"{account}: final state differs from the sequential model"
    if not poison:  # (d)
        assert not any(client.xlen(k.dlq) for k in keys.shard_keys(shards)), "dead letters"
    if sampler is not None:  # (e)
        doubled = {se: owners for se, owners in sampler.owners.items() if len(owners) > 1}
        assert not doubled, f"one epoch, several owners: {doubled}"
    return Report(
        accepted=len(history.accepted),
        decided=sum(len(w) for w in expected.values()),
        duplicates_from_retries=duplicates,
        lease_samples=0 if sampler is None else sampler.samples,
    )


def three_workers_in_order(stack: Stack, client: redis.Redis) -> None:
    """Ingest and workers w0, w1, w2 as processes; a load posted, decided and verified."""
    api = stack.start_ingest()
    for n in range(3):
        stack.start_worker(f"w{n}")
    txs = workload(accounts=60, per_account=40)
    history = post_all(api, txs)
    wait_for(lambda: decided(client, stack.shards) >= len(txs), 60, "every transaction decided")
    verify(client, stack.shards, history)
