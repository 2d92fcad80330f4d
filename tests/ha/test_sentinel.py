"""Sentinel: kill -9 the primary under load; every 202 is applied exactly once.

One primary, one replica, three sentinels; ingest and two workers find the
primary through the sentinels (``TXFLOW_SENTINELS``) with
``TXFLOW_MIN_REPLICAS=1``: every 202 and every commit is on the replica, which
is promoted. It then has no replica of its own, so nothing is accepted (503)
until the old primary is back, as a replica of the new one, as an operator
(or Sentinel, later) would bring it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from services.cli.redis_process import RedisProcess
from shared.store import close_sync, connect_sync, node_of
from tests import config
from tests.faults.checker import Loader, decided, verify
from tests.ha.sentinel import SERVICE, SentinelProcess, primary_port, ready
from tests.polling import wait_for
from tests.stack import Stack, workload

pytestmark = pytest.mark.slow


@pytest.fixture
def sentinels(
    redis_factory: Callable[..., RedisProcess], tmp_path: Path
) -> Iterator[tuple[RedisProcess, list[RedisProcess], list[SentinelProcess]]]:
    primary = redis_factory(name="primary", extra=["--repl-diskless-sync-delay", "0"])
    follow = ["--replicaof", "127.0.0.1", str(primary.port)]
    replicas = [redis_factory(name="replica", extra=follow)]
    client = redis.Redis(port=primary.port)
    try:  # in sync before anything is written: else a failover promotes an empty replica
        wait_for(lambda: client.wait(1, 100) >= 1, 30, "the replica in sync")
    finally:
        client.close()
    watching = [SentinelProcess(tmp_path / f"sentinel{n}", monitor=primary.port) for n in range(3)]
    try:
        for sentinel in watching:
            sentinel.start()
        for sentinel in watching:
            wait_for(lambda s=sentinel: ready(s, 1, 2), 30, "the sentinels ready")
        yield primary, replicas, watching
    finally:
        for sentinel in watching:
            sentinel.stop()


def test_a_failover_under_load_loses_no_202(
    sentinels: tuple[RedisProcess, list[RedisProcess], list[SentinelProcess]], tmp_path: Path
) -> None:
    primary, replicas, watching = sentinels
    addresses = ",".join(f"127.0.0.1:{s.port}" for s in watching)
    settings = {
        "TXFLOW_SENTINELS": addresses,
        "TXFLOW_SENTINEL_SERVICE": SERVICE,
        "TXFLOW_MIN_REPLICAS": "1",
        "TXFLOW_REPLICA_TIMEOUT_MS": "500",
    }
    stack = Stack(primary.url, tmp_path / "logs", shards=4, settings=settings)
    try:
        api = stack.start_ingest()
        stack.start_worker("w0")
        stack.start_worker("w1")
        # Started: a worker that cannot reach Redis at start exits (its supervisor restarts it).
        wait_for(lambda: all(stack.owners().values()), 30, "every shard owned")
        load = Loader(api, workload(accounts=30, per_account=20), chunk=20)
        load.start()
        assert load.halfway.wait(60)
        load.resume()  # the kill lands among appends in flight, not in a pause
        primary.kill()
        promoted = wait_for(
            lambda: (p := primary_port(watching[0])) != primary.port and p, 30, "a promotion"
        )
        assert promoted in {r.port for r in replicas}
        primary.extra = ["--replicaof", "127.0.0.1", str(promoted)]
        primary.start()  # back, empty, as the new primary's replica
        history = load.finish(timeout=120)
        client = redis.Redis(port=promoted)
        try:
            wait_for(lambda: decided(client, stack.shards) >= len(history.accepted), 60, "decided")
            report = verify(client, stack.shards, history)
        finally:
            client.close()
        assert report.accepted == 600
        # The CLI's client (connect_sync) finds the new primary through the sentinels too.
        chosen = config.settings(sentinels=addresses, sentinel_service=SERVICE)
        cli = connect_sync(chosen, decode_responses=True)
        try:
            now = primary_port(watching[0])  # promoted, unless a second failover followed
            assert int(cli.info("server")["tcp_port"]) == now
            assert node_of(cli, "txflow:{0}:in") == f"127.0.0.1:{now}"  # txflow status
        finally:
            close_sync(cli)
        print(f"failover: {history.retries} retries, {report.duplicates_from_retries} duplicates")
    finally:
        stack.stop_all()
