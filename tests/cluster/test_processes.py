"""Ingest and workers as real processes on the three-node cluster, under load and crashes.

The same workloads and checks as ``tests/worker/test_processes.py`` (every
transaction decided exactly once, in each account's order, states equal to
the sequential model); any command whose keys crossed slots would have
failed the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.keys import shard_keys
from tests.cluster.local import LocalCluster
from tests.stack import Loader, Stack, all_pending, drained, post_all, verify, wait_for, workload

pytestmark = pytest.mark.slow
TTL_S = 1.5


@pytest.fixture
def stack(cluster_url: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(cluster_url, tmp_path / "logs", cluster=True)
    yield s
    s.stop_all()


def owned_by(stack: Stack, worker: str) -> set[int]:
    return {s for s, owner in stack.owners().items() if owner == worker}


def inboxes_per_node(cluster: LocalCluster) -> dict[int, set[str]]:
    """Each node's port and the ``:in`` streams it holds (a node lists only its own keys)."""
    found = {}
    for node in cluster:
        with cluster.client(node) as c:
            found[node.port] = set(c.scan_iter(match="txflow:{*}:in"))
    return found


def test_three_workers_apply_in_order_and_the_shards_spread_over_every_node(
    stack: Stack, client: redis.RedisCluster, cluster: LocalCluster
) -> None:
    api = stack.start_ingest()
    for n in range(3):
        stack.start_worker(f"w{n}")
    txs = workload(accounts=60, per_account=40)
    retries = post_all(api, txs)
    wait_for(lambda: drained(client, stack.shards, txs), 60, "every transaction decided")
    verify(client, stack.shards, txs, retried=retries > 0)
    placed = inboxes_per_node(cluster)
    assert all(placed.values()), f"a node holds no shard: {placed}"
    assert set().union(*placed.values()) == {k.inbox for k in shard_keys(stack.shards)}


def test_status_names_the_node_of_every_shard(
    stack: Stack, client: redis.RedisCluster, cluster: LocalCluster
) -> None:
    stack.start_ingest()  # creates the deployment: meta and every shard's stream
    env = {**os.environ, "REDIS_URL": stack.redis_url, "TXFLOW_REDIS_CLUSTER": "1"}
    done = subprocess.run([sys.executable, "-m", "services.cli", "status", "--json"],
                          capture_output=True, text=True, env=env, timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = {r["shard"]: r["node"] for r in json.loads(done.stdout)["shards"]}
    holder = {inbox: port for port, held in inboxes_per_node(cluster).items() for inbox in held}
    assert shown == {k.shard: f"127.0.0.1:{holder[k.inbox]}" for k in shard_keys(stack.shards)}
    assert len(set(shown.values())) == 3


def test_a_killed_workers_shards_move_and_nothing_is_lost_or_doubled(
    stack: Stack, client: redis.RedisCluster
) -> None:
    api = stack.start_ingest()
    stack.start_worker("a")
    stack.start_worker("b")
    wait_for(lambda: owned_by(stack, "a") and owned_by(stack, "b"), 15, "both workers own shards")
    txs = workload(accounts=80, per_account=50, seed=2)
    loader = Loader(api, txs)
    loader.start()
    assert loader.halfway.wait(60), "the first half of the load was not posted"
    loader.resume()  # the rest arrives while the shards move
    stack.signal("a", signal.SIGKILL)
    wait_for(lambda: owned_by(stack, "b") == set(range(stack.shards)), 4 * TTL_S + 5,
             "b owning every shard")  # fmt: skip
    loader.finish()
    wait_for(lambda: drained(client, stack.shards, txs), 60, "every transaction decided")
    verify(client, stack.shards, txs, retried=True)
    assert all_pending(client, stack.shards) == 0


def test_a_node_killed_and_restarted_mid_load_loses_nothing(
    stack: Stack, client: redis.RedisCluster, cluster: LocalCluster
) -> None:
    # The node holding txflow:meta and txflow:workers, and shards of its own.
    port = client.get_node_from_key("txflow:workers").port
    victim = cluster.node_of_port(port)
    api = stack.start_ingest()
    stack.start_worker("a")
    stack.start_worker("b")
    txs = workload(accounts=50, per_account=40, seed=6)
    loader = Loader(api, txs)
    loader.start()
    assert loader.halfway.wait(60), "the first half of the load was not posted"
    wait_for(lambda: client.xlen("txflow:{0}:out") > 0, 30, "work being committed")
    loader.resume()  # posts meet a dead node: 503s, retried with the same ids
    victim.kill()
    victim.start()  # in place: its nodes.conf and AOF (fsync always) bring everything back
    cluster.wait_ok()
    loader.finish()
    wait_for(lambda: drained(client, stack.shards, txs), 60, "every transaction decided")
    verify(client, stack.shards, txs, retried=True)
    assert all(proc.poll() is None for proc in stack.procs.values()), "a service died"
