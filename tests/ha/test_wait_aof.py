"""TXFLOW_WAIT_AOF and the settings of TXFLOW_MIN_REPLICAS: feature-detected, refused clearly."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from pydantic import ValidationError

from services.cli.redis_process import RedisProcess
from shared import keys, replicas
from shared.model import Tx
from shared.store import connect
from tests import config
from tests.faults.checker import post_all
from tests.polling import wait_for
from tests.stack import Stack, workload


def problem(server: RedisProcess, **settings: object) -> str | None:
    async def ask() -> str | None:
        chosen = config.settings(server.url, **settings)
        client = connect(chosen)
        try:
            return await replicas.problem(chosen, client)
        finally:
            await client.aclose()

    return asyncio.run(ask())


def has_waitaof(server: RedisProcess) -> bool:
    client = redis.Redis(port=server.port)
    try:
        version = str(client.info("server")["redis_version"])  # Valkey 8 says 7.2.4
        return tuple(map(int, version.split(".")[:2])) >= (7, 2)
    finally:
        client.close()


def test_wait_aof_is_detected_never_assumed(redis_factory: Callable[..., RedisProcess]) -> None:
    plain = redis_factory(name="plain")
    why = problem(plain, wait_aof=True)
    if has_waitaof(plain):  # Valkey 8, Redis 7.2+: it needs the AOF on
        assert why is not None and "appendonly is disabled" in why
        assert problem(redis_factory("always", name="aof"), wait_aof=True) is None
    else:  # Redis 7.0
        assert why is not None and "has no WAITAOF" in why
    assert problem(plain) is None


def test_ingest_refuses_to_start_when_wait_aof_is_unavailable(
    redis_factory: Callable[..., RedisProcess],
) -> None:
    server = redis_factory(name="plain")
    env = {"REDIS_URL": server.url, "TXFLOW_WAIT_AOF": "1", "TXFLOW_MIN_REPLICAS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "services.ingest", "--redis-wait", "5"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "TXFLOW_WAIT_AOF=1" in done.stderr


def test_min_replicas_is_taken_on_a_cluster_and_must_wait_less_than_the_deadline() -> None:
    with pytest.raises(ValidationError, match="TXFLOW_REPLICA_TIMEOUT_MS"):
        config.settings(min_replicas=1, replica_timeout_ms=2000, redis_timeout_ms=2000)
    settings = config.settings(min_replicas=1, redis_cluster=True)
    assert asyncio.run(replicas.problem(settings, None)) is None  # type: ignore[arg-type]


def test_a_wait_reply_short_of_the_minimum_is_an_outage() -> None:
    needed = replicas.Replicas(config.settings(min_replicas=2))
    needed.check(2)
    with pytest.raises(replicas.ReplicasUnavailable, match="1 of TXFLOW_MIN_REPLICAS=2"):
        needed.check(1)
    aof = replicas.Replicas(config.settings(min_replicas=1, wait_aof=True))
    assert aof.command.startswith(b"*4\r\n$7\r\nWAITAOF")
    aof.check([1, 1])
    with pytest.raises(replicas.ReplicasUnavailable):
        aof.check([1, 0])
    assert (
        not replicas.Replicas(config.settings())
        and replicas.Replicas(config.settings()).command == b""
    )


def test_with_wait_aof_a_202_is_on_the_replica(
    redis_factory: Callable[..., RedisProcess], tmp_path: Path
) -> None:
    primary = redis_factory("always", name="primary")
    if not has_waitaof(primary):
        pytest.skip("this server has no WAITAOF (Redis 7.2+ or Valkey 8; the embedded one has)")
    follow = ["--replicaof", "127.0.0.1", str(primary.port)]
    replica = redis_factory("always", name="replica", extra=follow)
    settings = {"TXFLOW_MIN_REPLICAS": "1", "TXFLOW_WAIT_AOF": "1"}
    stack = Stack(primary.url, tmp_path / "logs", shards=4, settings=settings)
    client = redis.Redis(port=replica.port)
    try:
        primary_client = redis.Redis(port=primary.port)
        wait_for(lambda: primary_client.wait(1, 100) >= 1, 30, "the replica in sync")
        primary_client.close()
        api = stack.start_ingest()
        txs = workload(accounts=5, per_account=8)
        history = post_all(api, txs, chunk=10)
        on_replica = Counter(
            (tx.account_id, tx.tx_id)
            for k in keys.shard_keys(4)
            for _, fields in client.xrange(k.inbox)
            for tx in [Tx.decode(fields[b"d"])]
        )
        # Every 202 is on the replica. A 503 (the replica's fsync late under load)
        # may follow an append: the client's retry appends its chunk again, and
        # the worker decides the copy as a duplicate. Only retried ids repeat.
        assert {(tx.account_id, tx.tx_id) for tx in history.accepted} == set(on_replica)
        assert all(n == 1 or ids in history.retried for ids, n in on_replica.items())
        assert len(history.accepted) == len(txs)
    finally:
        client.close()
        stack.stop_all()
