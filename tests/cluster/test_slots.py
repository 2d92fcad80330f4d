"""The guard: every key of one command or script call is in one Redis Cluster slot.

A command whose keys span two slots fails on a cluster (CROSSSLOT). txflow
keeps each shard's keys under its hash tag ``{s}``; these tests prove that the
keys the worker actually builds — for a commit of a batch of many accounts and
for every lease script — share one slot, first without a server, then by
recording every script call of a real worker on the cluster.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st
from redis.cluster import key_slot

from services.worker.batch import Entry, Plan, decode_all
from services.worker.leases import Lease
from services.worker.scripts import Scripts
from services.worker.shard import ShardRunner
from services.worker.shard_store import ShardStore
from services.worker.worker import Worker
from shared.keys import GROUP, ShardKeys, shard_keys
from shared.model import ID_PATTERN, Tx, TxType
from shared.parking import Parked
from shared.settings import Settings
from shared.sharding import shard_of
from shared.store import connect
from tests import config
from tests.cluster.local import LocalCluster
from tests.faults.checker import History, verify
from tests.polling import eventually, holds
from tests.stack import workload
from tests.worker.support import append, init

SHARDS = 16
ids = st.from_regex(ID_PATTERN, fullmatch=True)


def slots(keys: list[str]) -> set[int]:
    return {key_slot(k.encode()) for k in keys}


def used_ports(client: redis.RedisCluster, shards: int) -> set[int]:
    return {client.get_node_from_key(ShardKeys(s).inbox).port for s in range(shards)}


@given(shard=st.integers(0, 16383), account=ids, tx_id=ids)
def test_every_key_of_a_shard_is_in_its_hash_tags_slot(
    shard: int, account: str, tx_id: str
) -> None:
    k = ShardKeys(shard)
    keys = [k.inbox, k.outbox, k.dlq, k.lease, k.epoch, k.ckpt, k.account(account)]
    keys += [k.parked, k.held(account), k.control, k.control_result("1-0")]
    assert slots(keys) == {key_slot(str(shard).encode())}


def accounts_of(shard: int, count: int) -> list[str]:
    found = (f"acct-{n}" for n in range(10**6))
    return [a for a in found if shard_of(a, SHARDS) == shard][:count]


def a_big_plan(runner: ShardRunner, accounts: list[str]) -> Plan:
    """Deposits, withdrawals, disputes, an undecodable entry, an account parked and
    one held: every kind of write."""
    runner.parked = {accounts[0]: Parked("parked before", 0)}
    txs: list[Tx] = []
    for a in accounts:
        txs += [Tx(a, "1", TxType.DEPOSIT, 500), Tx(a, "2", TxType.WITHDRAWAL, 100)]
        txs.append(Tx(a, "3", TxType.DISPUTE, None, "1"))
    entries = [Entry(f"1-{n}", tx.encode().decode()) for n, tx in enumerate(txs)]
    entries.append(Entry(f"1-{len(txs)}", "not json"))
    return runner.plan(entries, decode_all(entries), {entries[3].id: "poison"})


def test_a_commit_of_many_accounts_names_keys_of_one_slot() -> None:
    shard = 3
    client = aioredis.Redis()  # never connected: only the arguments are built
    settings = Settings(shards=SHARDS)
    lease = Lease(shard, 1, time.monotonic() + 60)
    store = ShardStore(client, Scripts.register(client), settings, "w", shard)
    runner = ShardRunner(store, settings, lease)
    accounts = accounts_of(shard, 300)
    plan = a_big_plan(runner, accounts)
    keys, _ = runner.commit_args(plan)
    assert len(keys) > 300  # 300 account hashes (records are their fields), besides the shard's own
    assert plan.dead, "the batch dead-letters an entry: :dlq is written too"
    assert plan.parking and plan.parking.parked, "it parks an account and holds entries"
    held = {ShardKeys(shard).held(a) for a in (accounts[0], accounts[1])}
    assert {k for k in keys if ":park:" in k} == held  # parked before, parked now
    assert slots(keys) == {key_slot(ShardKeys(shard).inbox.encode())}


def test_keys_of_two_shards_in_one_call_are_refused_by_the_cluster(
    client: redis.RedisCluster,
) -> None:
    # What the guard guards against is real: this would never reach production.
    two = [ShardKeys(0).lease, ShardKeys(1).lease]
    assert len(slots(two)) == 2
    with pytest.raises(redis.RedisClusterException, match="must map to the same key slot"):
        client.eval("return 1", 2, *two)


class Recorder:
    """Stands in for a registered script: records the keys of each call, then runs it."""

    def __init__(self, name: str, script: Callable[..., Awaitable[Any]], calls: list[Any]) -> None:
        self.name, self.script, self.calls = name, script, calls

    async def __call__(
        self, keys: list[str], args: list[Any] | None = None, client: Any = None
    ) -> Any:
        self.calls.append((self.name, list(keys)))
        return await self.script(keys=keys, args=args, client=client)


def recording(scripts: Scripts, calls: list[tuple[str, list[str]]]) -> Scripts:
    return Scripts(*(Recorder(f.name, getattr(scripts, f.name), calls) for f in fields(scripts)))


async def test_every_script_call_of_a_worker_on_the_cluster_is_in_one_slot(
    cluster_url: str, client: redis.RedisCluster, cluster: LocalCluster
) -> None:
    for node in cluster:
        with cluster.client(node) as c:
            c.config_resetstat()
    shards = 4
    init(client, shards)
    for k in shard_keys(shards):  # a dead worker's consumer, owning nothing: tidied away
        client.xgroup_createconsumer(k.inbox, GROUP, "gone")
    txs = workload(accounts=400, per_account=6, seed=7)
    append(client, txs, shards)
    settings = config.settings(cluster_url, redis_cluster=True, shards=shards, block_ms=50)
    aclient = connect(settings, decode_responses=True)
    calls: list[tuple[str, list[str]]] = []
    worker = Worker(settings, aclient, "w1")
    worker.scripts = worker.leases.scripts = recording(worker.scripts, calls)
    try:
        await worker.tick()  # heartbeat, acquire every shard; the runners commit
        await eventually(
            lambda: holds(sum(r.processed for r, _ in worker.runners.values()) == len(txs)),
            30,
            "every entry committed",
        )
        await aclient.script_flush()  # every node forgets the scripts (as on a restart)
        await worker.tick()  # renew: NOSCRIPT is answered by loading them again
        assert len(worker.runners) == shards, "a lease was lost"
    finally:
        await worker.shutdown()  # release
        await aclient.aclose()
    verify(client, shards, History(accepted=txs))
    assert {name for name, _ in calls} == {f.name for f in fields(Scripts)}
    assert max(len(keys) for name, keys in calls if name == "commit") > 100
    crossing = [(name, keys) for name, keys in calls if len(slots(keys)) != 1]
    assert not crossing, crossing[:3]
    # Reads found their node without asking one (COMMAND GETKEYS): see shared.store._Cluster.
    for node in cluster:
        with cluster.client(node) as c:
            stats = c.info("commandstats")
            assert "cmdstat_xreadgroup" in stats or node.port not in used_ports(client, shards)
            assert "cmdstat_command|getkeys" not in stats
