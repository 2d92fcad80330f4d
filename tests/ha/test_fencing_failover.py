"""Fencing across a failover: the promoted replica holds an older epoch than the lost primary.

A primary and its replica, which replicates through a proxy (``tests.faults.proxy``;
a replica stopped by SIGSTOP would still find what was sent before in its socket),
workers with ``TXFLOW_MIN_REPLICAS=0`` (their commits are not waited for). Worker
w0 decides a first load; the replica has it all. Then a second load is appended
and replicated, the link to the replica is frozen, and worker w1 takes the shards
on the primary — its epoch is one above the replica's — and decides that load
there alone. The primary and w1 are killed (-9), the link cut; the replica is
promoted (``REPLICAOF NO ONE``). It holds w0's checkpoint and epoch and the
second load undecided. Then:

(a) w1's lease and token do not satisfy the commit script on the new primary,
    not even once worker w2 owns the shard under the *same* epoch number;
(b) w2 resumes from the replica's checkpoint and decides the second load again,
    with the outcomes and account records the lost primary had (decisions are
    deterministic);
(c) the fault checker passes for everything accepted.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from services.cli.redis_process import RedisProcess
from services.worker.scripts import Scripts
from shared import keys
from tests.faults.checker import decided, outcomes, post_all, verify
from tests.faults.proxy import StallingProxy
from tests.polling import wait_for
from tests.stack import Stack, workload

pytestmark = pytest.mark.slow

SHARDS = 2


def in_sync(client: redis.Redis) -> bool:
    """Whether the replica holds every write made on the primary so far (WAIT after one)."""
    client.incr("test:sync")  # WAIT waits for this connection's last write: make one
    return bool(client.wait(1, 200) >= 1)


def snapshot(client: redis.Redis) -> tuple[dict[int, list[dict[str, Any]]], dict[bytes, Any]]:
    """Each shard's outcomes (without the committing epoch) and every account hash."""
    found = {
        shard: [{k: v for k, v in d.items() if k != "ep"} for d in docs]
        for shard, docs in outcomes(client, SHARDS).items()
    }
    accounts = {key: client.hgetall(key) for key in client.scan_iter("txflow:*:acct:*")}
    return found, accounts


def commit_as(client: redis.Redis, shard: int, worker: str, token: int) -> Any:
    """The commit script run with ``worker``'s lease and ``token`` (an empty batch)."""
    k = keys.ShardKeys(shard)
    ks = [k.lease, k.epoch, k.ckpt, k.inbox, k.outbox, k.dlq, k.committed, k.control]
    args = [worker, token, keys.GROUP, "", "", 1000, "", "", "[]", "", "", "", ""]
    return Scripts.register(client).commit(keys=ks, args=args)  # a sync client's Script


@pytest.fixture
def link(
    redis_factory: Callable[..., RedisProcess],
) -> Iterator[tuple[RedisProcess, StallingProxy, RedisProcess]]:
    """A primary, the proxy in front of it, and a replica replicating through the proxy."""
    primary = redis_factory(name="primary", extra=["--repl-diskless-sync-delay", "0"])
    proxy = StallingProxy(primary.port).start()
    try:
        follow = ["--replicaof", "127.0.0.1", str(proxy.port)]
        yield primary, proxy, redis_factory(name="replica", extra=follow)
    finally:
        proxy.stop()


def test_an_old_owner_is_fenced_and_the_new_one_decides_the_same(
    link: tuple[RedisProcess, StallingProxy, RedisProcess], tmp_path: Path
) -> None:
    primary, proxy, replica = link
    old = redis.Redis(port=primary.port, decode_responses=True)
    new = redis.Redis(port=replica.port, decode_responses=True)
    # A long lease: each worker takes each shard once (a worker held up past a short
    # lease on a loaded machine takes it again, and the epochs would not line up).
    stack = Stack(primary.url, tmp_path / "logs", shards=SHARDS, lease_ttl_ms=10_000)
    stack.settings["TXFLOW_BATCH"] = "20"  # several commits per shard
    try:
        wait_for(lambda: in_sync(old), 30, "the replica in sync")
        api = stack.start_ingest()
        txs = workload(accounts=12, per_account=20)
        first, second = txs[:120], txs[120:]
        history = post_all(api, first, chunk=20)
        stack.start_worker("w0")
        wait_for(lambda: decided(old, SHARDS) >= len(first), 60, "the first load decided")
        stack.signal("w0", signal.SIGTERM)  # gives its leases up
        assert stack.procs["w0"].wait(30) == 0
        post_all(api, second, history, chunk=20)
        wait_for(lambda: in_sync(old), 30, "the replica holding both loads")
        epochs = {k.shard: int(old.get(k.epoch)) for k in keys.shard_keys(SHARDS)}

        proxy.freeze()
        stack.start_worker("w1")
        wait_for(lambda: decided(old, SHARDS) >= len(txs), 60, "the second load decided")
        lost = snapshot(old)  # what the lost primary had decided
        tokens = {k.shard: int(old.get(k.epoch)) for k in keys.shard_keys(SHARDS)}
        assert all(old.get(k.lease) == "w1" for k in keys.shard_keys(SHARDS))
        assert all(tokens[s] > epochs[s] for s in tokens)
        primary.kill()
        stack.procs["w1"].kill()
        proxy.cut()  # what it held never arrives
        new.execute_command("REPLICAOF", "NO", "ONE")
        wait_for(lambda: new.info("replication")["role"] == "master", 30, "the promotion")
        # The replica holds the older epochs and only the first load's decisions.
        assert {k.shard: int(new.get(k.epoch)) for k in keys.shard_keys(SHARDS)} == epochs
        assert decided(new, SHARDS) == len(first)

        stack.redis_url = replica.url
        stack.start_worker("w2")
        wait_for(lambda: decided(new, SHARDS) >= len(txs), 60, "the second load decided again")
        for k in keys.shard_keys(SHARDS):  # (a): w2 owns it under w1's epoch number
            assert new.get(k.lease) == "w2"
            assert int(new.get(k.epoch)) == tokens[k.shard]
            assert commit_as(new, k.shard, "w1", tokens[k.shard]) == ["fenced"]
            assert commit_as(new, k.shard, "w2", tokens[k.shard]) == ["ok"]  # (it writes nothing)
        assert snapshot(new) == lost  # (b)
        raw = redis.Redis(port=replica.port)  # the checker reads bytes
        try:
            report = verify(raw, SHARDS, history)  # (c)
        finally:
            raw.close()
        assert report.accepted == len(txs)
    finally:
        stack.stop_all()
        old.close()
        new.close()
