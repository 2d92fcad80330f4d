"""``txflow migrate`` on a deployment written by schema 1 (a hash per transaction).

The schema 1 data is written here as that version's worker wrote it
(``git show 335efcd~1:services/worker/hashes.py``): account fields
``available``, ``held``, ``locked``, ``last_tx``; a transaction's hash at
``txflow:{s}:tx:<account>:<tx_id>`` with ``type``, ``state``, ``outcome``,
``entry``, ``amount``, ``ref``, ``reason``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

from services.worker.accounts import Account
from shared import keys
from shared.deployment import check_schema
from shared.errors import SchemaMismatch
from shared.keys import ShardKeys
from shared.model import Tx, TxType
from shared.sharding import shard_of
from tests.apps import make_settings, serve
from tests.cli.support import txflow
from tests.worker.support import SHARDS, account, append, deposit, drain, outcomes, stored

B_DEPOSITS = 30


def old_tx(client: redis.Redis, account_id: str, tx_id: str, **fields: object) -> None:
    key = f"txflow:{{{shard_of(account_id, SHARDS)}}}:tx:{account_id}:{tx_id}"
    client.hset(key, mapping={k: v for k, v in fields.items() if v is not None})  # type: ignore[misc]


def old_account(client: redis.Redis, account_id: str, available: int, held: int, last: str) -> None:
    key = ShardKeys(shard_of(account_id, SHARDS)).account(account_id)
    client.hset(key, mapping={"available": available, "held": held, "locked": 0, "last_tx": last})


def schema_1(client: redis.Redis) -> None:
    """a: deposit 1 disputed, withdrawal 2 rejected, dispute 3, deposit 4; b: 30 deposits;
    c: only a dead record (a dead letter creates no account)."""
    client.hset(keys.META, mapping={"shards": SHARDS, "schema": 1})
    for k in keys.shard_keys(SHARDS):
        client.xgroup_create(k.inbox, keys.GROUP, id="0", mkstream=True)
    old_account(client, "a", 50, 100, "4")
    old_tx(
        client,
        "a",
        "1",
        type="deposit",
        state="disputed",
        outcome="applied",
        entry="1-0",
        amount=100,
    )
    old_tx(
        client,
        "a",
        "2",
        type="withdrawal",
        state="rejected",
        outcome="rejected",
        entry="2-0",
        amount=500,
        reason="insufficient_funds",
    )
    old_tx(
        client, "a", "3", type="dispute", state="applied", outcome="applied", entry="3-0", ref="1"
    )
    old_tx(
        client, "a", "4", type="deposit", state="applied", outcome="applied", entry="4-0", amount=50
    )
    old_account(client, "b", 10 * B_DEPOSITS, 0, str(B_DEPOSITS))
    for n in range(B_DEPOSITS):
        old_tx(
            client,
            "b",
            str(n),
            type="deposit",
            state="applied",
            outcome="applied",
            entry=f"5-{n}",
            amount=10,
        )
    old_tx(
        client,
        "c",
        "z",
        type="deposit",
        state="dead",
        outcome="dead",
        entry="9-0",
        amount=7,
        reason="undecodable",
    )


def old_keys(client: redis.Redis) -> int:
    return sum(1 for _ in client.scan_iter(match="txflow:*:tx:*"))


def migrate(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return txflow("migrate", *args, env={"REDIS_URL": redis_url, "TXFLOW_SHARDS": str(SHARDS)})


def assert_migrated(client: redis.Redis) -> None:
    assert old_keys(client) == 0
    assert client.hget(keys.META, "schema") == b"2"
    assert account(client, "a") == Account(50, 100, False)
    assert account(client, "b") == Account(10 * B_DEPOSITS, 0, False)
    assert account(client, "c") is None  # still no account: only its dead record
    one, two, three = (stored(client, "a", t) for t in "123")
    assert one and (one.type, one.state, one.amount, one.entry) == (
        "deposit",
        "disputed",
        100,
        "1-0",
    )
    assert two and (two.outcome, two.reason, two.amount) == ("rejected", "insufficient_funds", 500)
    assert three and (three.type, three.ref) == ("dispute", "1")
    assert [stored(client, "b", str(n)) is not None for n in range(B_DEPOSITS)] == [True] * 30
    dead = stored(client, "c", "z")
    assert dead and dead.outcome == "dead"


def test_a_schema_1_deployment_is_refused_at_start_naming_migrate(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    schema_1(client)
    env = {**os.environ, "REDIS_URL": redis_url, "TXFLOW_SHARDS": str(SHARDS)}
    for service in ("services.worker", "services.ingest"):
        run = [sys.executable, "-m", service]
        done = subprocess.run(run, capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.strip().splitlines()[-1:]
        assert "schema 1" in line and "txflow migrate" in line
    assert old_keys(client) == 1 + 4 + B_DEPOSITS  # nothing touched
    client.close()


async def test_migrate_converts_in_place_and_workers_go_on_from_it(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    schema_1(client)
    done = migrate(redis_url)
    assert done.returncode == 0, done.stderr
    assert "2 accounts and 35 transaction records converted" in done.stdout
    assert_migrated(client)

    async with serve(make_settings(redis_url)) as api:
        found = (await api.http.get("/v1/accounts/a")).json()
        assert (found["available"], found["held"]) == ("0.0050", "0.0100")
        found = (await api.http.get("/v1/accounts/a/transactions/2")).json()
        assert (found["status"], found["reason"], found["amount"]) == (
            "rejected",
            "insufficient_funds",
            "0.0500",
        )
        assert (await api.http.get("/v1/accounts/c")).status_code == 404

    # a worker goes on: migrated ids are duplicates, the dead one is new, refs resolve
    append(
        client,
        [
            deposit("a", "4", 50),
            Tx("a", "5", TxType.RESOLVE, None, "1"),
            deposit("c", "z", 7),
            deposit("b", "0", 10),
        ],
    )
    await drain(redis_url)
    assert [o["o"] for o in outcomes(client) if o["a"] == "a"] == ["duplicate", "applied"]
    assert [o["o"] for o in outcomes(client) if o["a"] == "b"] == ["duplicate"]
    assert [o["o"] for o in outcomes(client) if o["a"] == "c"] == ["applied"]
    assert account(client, "a") == Account(150, 0, False)
    assert account(client, "c") == Account(7, 0, False)
    assert account(client, "b") == Account(10 * B_DEPOSITS, 0, False)

    again = migrate(redis_url)  # idempotent: nothing left to do
    assert again.returncode == 0, again.stderr
    assert "0 accounts and 0 transaction records converted" in again.stdout
    assert account(client, "a") == Account(150, 0, False)
    client.close()


def test_an_interrupted_migration_resumes_where_it_stopped(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    schema_1(client)
    first = migrate(redis_url, "--limit", "10")
    assert first.returncode == 0, first.stderr
    assert "stopped at --limit" in first.stdout
    assert old_keys(client) == 1 + 4 + B_DEPOSITS - 10
    assert client.hget(keys.META, "schema") == b"1"  # not yet: workers are still refused
    with pytest.raises(SchemaMismatch, match="txflow migrate"):
        check_schema(client.hget(keys.META, "schema"))

    second = migrate(redis_url)
    assert second.returncode == 0, second.stderr
    assert "25 transaction records converted" in second.stdout
    assert_migrated(client)
    client.close()


def test_migrate_refuses_while_workers_are_registered_unless_forced(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    schema_1(client)
    client.zadd(keys.WORKERS, {"w-gone": 1})
    refused = migrate(redis_url)
    assert refused.returncode == 1
    assert "stop every worker" in refused.stderr
    assert old_keys(client) == 1 + 4 + B_DEPOSITS
    forced = migrate(redis_url, "--force")
    assert forced.returncode == 0, forced.stderr
    assert_migrated(client)
    client.close()
