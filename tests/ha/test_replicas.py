"""TXFLOW_MIN_REPLICAS against a real primary and replica (two servers, ``--replicaof``).

A 202 means the replica holds the entries; with the replica stopped (SIGSTOP),
ingest answers 503 + Retry-After within the replica timeout and the workers
emit nothing new; once it is back, everything accepted is applied exactly once
(the fault checker).
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from services.cli.redis_process import RedisProcess
from shared import keys
from shared.model import Tx
from tests.faults.checker import History, decided, post_all, verify
from tests.polling import wait_for
from tests.stack import Stack, workload

pytestmark = pytest.mark.slow

TIMEOUT_MS = 300


def inbox_ids(server: RedisProcess, shards: int) -> Counter[tuple[str, str]]:
    """How many times each (account, tx id) is in the inboxes of ``server``."""
    client = redis.Redis(port=server.port)
    try:
        return Counter(
            (tx.account_id, tx.tx_id)
            for k in keys.shard_keys(shards)
            for _, fields in client.xrange(k.inbox)
            for tx in [Tx.decode(fields[b"d"])]
        )
    finally:
        client.close()


def holds_what_was_accepted(server: RedisProcess, shards: int, history: History) -> None:
    """Every 202's transactions are on ``server``. A 503 that came after its append (a
    replica's ack late under load) is retried and appends its chunk again: only
    retried ids may be there twice."""
    found = inbox_ids(server, shards)
    assert {(tx.account_id, tx.tx_id) for tx in history.accepted} == set(found)
    assert all(n == 1 or ids in history.retried for ids, n in found.items()), found


def in_sync(primary: RedisProcess) -> None:
    client = redis.Redis(port=primary.port)
    try:
        wait_for(lambda: client.wait(1, 100) >= 1, 30, "the replica in sync")
    finally:
        client.close()


@pytest.fixture
def pair(redis_factory: Callable[..., RedisProcess]) -> tuple[RedisProcess, RedisProcess]:
    """A primary and its replica, the replica in sync."""
    primary = redis_factory(name="primary")
    replica = redis_factory(name="replica", extra=["--replicaof", "127.0.0.1", str(primary.port)])
    in_sync(primary)
    return primary, replica


@pytest.fixture
def stack(pair: tuple[RedisProcess, RedisProcess], tmp_path: Path) -> Iterator[Stack]:
    primary, _ = pair
    settings = {"TXFLOW_MIN_REPLICAS": "1", "TXFLOW_REPLICA_TIMEOUT_MS": str(TIMEOUT_MS)}
    stack = Stack(primary.url, tmp_path / "logs", shards=4, settings=settings)
    yield stack
    stack.stop_all()


def test_a_202_waits_for_the_replica_and_a_stopped_replica_gets_503(
    pair: tuple[RedisProcess, RedisProcess], stack: Stack
) -> None:
    primary, replica = pair
    api = stack.start_ingest()
    txs = workload(accounts=20, per_account=12)
    first, during, after = txs[:80], txs[80:160], txs[160:]
    history = post_all(api, first, chunk=20)
    # WAIT answered: the replica holds every accepted entry, no polling needed.
    holds_what_was_accepted(replica, stack.shards, history)

    assert replica.proc is not None
    replica.proc.send_signal(signal.SIGSTOP)
    try:
        body = orjson.dumps([t.to_wire() for t in during[:20]])
        headers = {"content-type": "application/json"}
        with httpx.Client(base_url=api, timeout=10) as http:
            r = http.post("/v1/transactions/batch", content=body, headers=headers)
        assert r.status_code == 503, r.text
        assert "retry-after" in r.headers
        wait_for(lambda: "replicas acknowledged" in stack.log("ingest"), 10, "the reason logged")
    finally:
        replica.proc.send_signal(signal.SIGCONT)
    in_sync(primary)
    # The refused batch stands on the primary: retried with the same ids, applied once.
    history.retried.update((t.account_id, t.tx_id) for t in during[:20])
    post_all(api, during + after, history, chunk=20)
    holds_what_was_accepted(replica, stack.shards, history)
    on_primary = inbox_ids(primary, stack.shards)
    assert all(on_primary[(t.account_id, t.tx_id)] >= 2 for t in during[:20])  # refused, retried
    wait_for(lambda: inbox_ids(replica, stack.shards) == on_primary, 30, "replicated")

    stack.start_worker("w0")
    client = redis.Redis(port=primary.port)
    try:
        wait_for(lambda: decided(client, stack.shards) >= len(txs), 60, "everything decided")
        report = verify(client, stack.shards, history)
    finally:
        client.close()
    assert report.accepted == len(txs)
    assert report.duplicates_from_retries >= 20  # the refused batch's, and any chunk retried


def test_a_worker_emits_no_outcome_while_its_commits_reach_no_replica(
    pair: tuple[RedisProcess, RedisProcess], stack: Stack
) -> None:
    primary, replica = pair
    stack.settings["TXFLOW_BATCH"] = "10"  # several commits per shard
    api = stack.start_ingest()
    txs = workload(accounts=20, per_account=10)
    history: History = post_all(api, txs, chunk=20)
    assert replica.proc is not None
    replica.proc.send_signal(signal.SIGSTOP)
    client = redis.Redis(port=primary.port)
    try:
        stack.start_worker("w0")
        wait_for(lambda: "have not caught up" in stack.log("w0"), 30, "the worker waiting")
        # A runner's first commit stands on the primary, unacknowledged (one :out entry
        # per commit); then it backs off and commits nothing until the replica is back.
        commits = sum(client.xlen(k.outbox) for k in keys.shard_keys(stack.shards))
        assert 0 < commits <= stack.shards
        assert decided(client, stack.shards) < len(txs)
        assert stack.log("w0").count("replicas acknowledged") == 1  # once per outage
        replica.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: decided(client, stack.shards) >= len(txs), 60, "everything decided")
        report = verify(client, stack.shards, history)
    finally:
        replica.proc.send_signal(signal.SIGCONT)
        client.close()
    assert report.accepted == len(txs)
    wait_for(lambda: "recovered after" in stack.log("w0"), 10, "the recovery logged")
