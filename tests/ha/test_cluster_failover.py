"""Redis Cluster, 3 primaries + 3 replicas: kill -9 a primary under load, its replica promoted.

Ingest and two workers run as processes. Halfway through a load the replica
of the primary holding the most shards is paused (SIGSTOP) and its link cut,
so that it lags as a slow replica would; appends go on, then the primary is
killed and the replica resumed: it is promoted holding only what it had.

With ``TXFLOW_MIN_REPLICAS=1`` nothing it lacks was answered 202 (the appends
on that primary got 503 while its replica was away), and the fault checker
proves (a)-(e): every 202 applied exactly once, in order, final states equal
to the sequential model. The promoted replica has no replica of its own until
the killed node is back (restarted in place, it rejoins as its replica): 503s
until then. With ``TXFLOW_MIN_REPLICAS=0`` the same run loses 202s: how many
is printed, not asserted (RELIABILITY.md quotes it).
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.cli.redis_process import RedisProcess
from shared import keys
from tests.cluster.local import LocalCluster
from tests.faults.checker import (
    UNDECIDED,
    History,
    Loader,
    decided,
    outcomes,
    verify,
)
from tests.polling import wait_for
from tests.stack import Stack, workload

pytestmark = pytest.mark.slow

SHARDS = 8


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path / "cluster", replicas=1, node_timeout_ms=1000)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def appended_on(node: RedisProcess, cluster: LocalCluster) -> int:
    """Entries ever appended to the ``:in`` streams ``node`` holds (workers trim them)."""
    with cluster.client(node) as c:
        keys_here = list(c.scan_iter(match="txflow:{*}:in"))
        return sum(int(c.xinfo_stream(key)["entries-added"]) for key in keys_here)


def consumed(client: redis.RedisCluster) -> bool:
    """Every inbox entry delivered to a worker, none pending: nothing more will be decided."""
    for k in keys.shard_keys(SHARDS):
        last = client.xinfo_stream(k.inbox)["last-generated-id"]
        (group,) = client.xinfo_groups(k.inbox)
        if group["last-delivered-id"] != last or group["pending"]:
            return False
    return True


def fail_over_under_load(cluster: LocalCluster, logs: Path, min_replicas: int) -> History:
    """The run of the module docstring; the client's history, once all is consumed."""
    settings = {"TXFLOW_MIN_REPLICAS": str(min_replicas), "TXFLOW_REPLICA_TIMEOUT_MS": "300"}
    stack = Stack(cluster.url, logs, shards=SHARDS, cluster=True, settings=settings)
    try:
        api = stack.start_ingest()
        stack.start_worker("w0")
        stack.start_worker("w1")
        wait_for(lambda: all(stack.owners().values()), 30, "every shard owned")
        client = redis.RedisCluster.from_url(cluster.url)
        try:
            held = Counter(client.get_node_from_key(k.inbox).port for k in keys.shard_keys(SHARDS))
        finally:
            client.close()
        victim = cluster.node_of_port(held.most_common(1)[0][0])
        (replica,) = cluster.replicas_of(victim)
        load = Loader(api, workload(accounts=30, per_account=40), chunk=20)
        load.start()
        assert load.halfway.wait(60)
        assert replica.proc is not None
        replica.proc.send_signal(signal.SIGSTOP)
        try:
            with cluster.client(victim) as c:  # what it has not read yet, it never will
                c.client_kill_filter(_type="replica")
            before = appended_on(victim, cluster)
            load.resume()
            wait_for(lambda: appended_on(victim, cluster) >= before + 40, 30, "appends it lacks")
            victim.kill()
        finally:
            replica.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: replica in cluster.primaries(), 30, "the replica promoted")
        victim.start()  # in place: it rejoins as the promoted node's replica
        wait_for(lambda: cluster.in_sync(victim), 30, "a replica again, in sync")
        cluster.wait_ok()
        history = load.finish(timeout=120)
        assert history.retries > 0, "the failover was not felt: the test proved nothing"
        client = redis.RedisCluster.from_url(replica.url)
        try:
            wait_for(lambda: consumed(client), 60, "every entry consumed")
        finally:
            client.close()
        return history
    finally:
        stack.stop_all()


def test_with_min_replicas_a_failover_loses_no_202(
    replicated: LocalCluster, tmp_path: Path
) -> None:
    history = fail_over_under_load(replicated, tmp_path / "logs", 1)
    client = redis.RedisCluster.from_url(replicated.url)
    try:
        assert decided(client, SHARDS) >= len(history.accepted)
        # (e): the epochs in each shard's outcome log never go down. Not sampled: the
        # leases the lost primary granted are lost with it, the promoted replica
        # grants their epochs again (harmless: a commit a replica acknowledged
        # carries its epoch there, so no two owners commit in one epoch).
        report = verify(client, SHARDS, history)
    finally:
        client.close()
    assert report.accepted == 1200
    print(f"cluster failover, MIN_REPLICAS=1: {history.retries} retries, 0 of 1200 202s lost")


def test_without_min_replicas_a_failover_loses_202s_reported(
    replicated: LocalCluster, tmp_path: Path
) -> None:
    history = fail_over_under_load(replicated, tmp_path / "logs", 0)
    client = redis.RedisCluster.from_url(replicated.url)
    try:
        found = {
            (d["a"], d["t"])
            for rows in outcomes(client, SHARDS).values()
            for d in rows
            if d["o"] not in UNDECIDED
        }
    finally:
        client.close()
    lost = [t for t in history.accepted if (t.account_id, t.tx_id) not in found]
    print(
        f"cluster failover, MIN_REPLICAS=0: {len(lost)} of {len(history.accepted)} 202s lost "
        f"({history.retries} retries)"
    )
