"""Ingest and workers as real processes on the three-node cluster, under load and crashes.

The checks of ``tests.faults.checker`` (every accepted transaction decided
exactly once, each account in order, states equal to the sequential model,
no dead letters, one owner per epoch); any command whose keys crossed slots
would have failed the run.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.keys import shard_keys
from tests.cluster.local import LocalCluster
from tests.faults.checker import (
    LeaseSampler,
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
def stack(cluster_url: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(cluster_url, tmp_path / "logs", cluster=True)
    yield s
    s.stop_all()


def inboxes_per_node(cluster: LocalCluster) -> dict[int, set[str]]:
    """Each node's port and the ``:in`` streams it holds (a node lists only its own keys)."""
    found = {}
    for node in cluster:
        with cluster.client(node) as c:
            found[node.port] = set(c.scan_iter(match="txflow:{*}:in"))
    return found


def two_workers_half_loaded(
    stack: Stack, accounts: int, per_account: int, seed: int
) -> tuple[LeaseSampler, Loader]:
    """Ingest and workers a and b (each owning shards), leases sampled, half a load posted."""
    api = stack.start_ingest()
    stack.start_worker("a")
    stack.start_worker("b")
    wait_for(lambda: stack.owned_by("a") and stack.owned_by("b"), 15, "both workers own shards")
    sampler = LeaseSampler(stack.redis_url, stack.shards, cluster=True)
    sampler.start()
    loader = Loader(api, workload(accounts=accounts, per_account=per_account, seed=seed))
    loader.start()
    assert loader.halfway.wait(60), "the first half of the load was not posted"
    return sampler, loader


def test_three_workers_apply_in_order_and_the_shards_spread_over_every_node(
    stack: Stack, client: redis.RedisCluster, cluster: LocalCluster
) -> None:
    three_workers_in_order(stack, client)
    placed = inboxes_per_node(cluster)
    assert all(placed.values()), f"a node holds no shard: {placed}"
    assert set().union(*placed.values()) == {k.inbox for k in shard_keys(stack.shards)}


def test_a_killed_workers_shards_move_and_nothing_is_lost_or_doubled(
    stack: Stack, client: redis.RedisCluster
) -> None:
    sampler, loader = two_workers_half_loaded(stack, accounts=80, per_account=50, seed=2)
    loader.resume()  # the rest arrives while the shards move
    stack.signal("a", signal.SIGKILL)
    wait_for(
        lambda: stack.owned_by("b") == set(range(stack.shards)),
        4 * TTL_S + 5,
        "b owning every shard",
    )
    history = loader.finish()
    wait_for(lambda: decided(client, stack.shards) >= len(history.accepted), 60, "all decided")
    sampler.stop()
    report = verify(client, stack.shards, history, sampler=sampler)
    assert report.lease_samples > 0
    assert all_pending(client, stack.shards) == 0


def test_a_node_killed_and_restarted_mid_load_loses_nothing(
    stack: Stack, client: redis.RedisCluster, cluster: LocalCluster
) -> None:
    # The node holding txflow:meta and txflow:workers, and shards of its own.
    victim = cluster.node_of_port(client.get_node_from_key("txflow:workers").port)
    sampler, loader = two_workers_half_loaded(stack, accounts=50, per_account=40, seed=6)
    wait_for(lambda: decided(client, stack.shards) > 0, 30, "work being committed")
    loader.resume()  # posts meet a dead node: 503s, retried with the same ids
    victim.kill()
    victim.start()  # in place: its nodes.conf and AOF (fsync always) bring everything back
    cluster.wait_ok()
    history = loader.finish()
    wait_for(lambda: decided(client, stack.shards) >= len(history.accepted), 60, "all decided")
    sampler.stop()
    verify(client, stack.shards, history, sampler=sampler)
    assert history.retries > 0, "the outage was not felt: the test proved nothing"
    assert all(proc.poll() is None for proc in stack.procs.values()), "a service died"
