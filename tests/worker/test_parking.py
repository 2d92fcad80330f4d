"""Parked accounts against a real Redis: an account's order holds around a poison entry.

An entry of account A that cannot be applied parks A: that entry and every
later one of A are held, in order, while the shard's other accounts go on. An
operator retries (the held entries are decided in their order) or skips (the
first goes to the DLQ with a note, the rest are retried). Requests go through
the shard's owner: here a burst worker, which carries them out before it
returns. Failures are injected by the test hook ``tests.poison``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import orjson
import pytest
import redis

from services.cli import parked, status
from services.cli.__main__ import main
from services.worker.ledger import MemoryLedger
from shared.keys import ShardKeys
from shared.model import Outcome, Tx, TxType
from shared.parking import held_from
from shared.records import STATE
from shared.sharding import shard_of
from tests.poison import Poison, install
from tests.worker.support import (
    SHARDS,
    account,
    append,
    committed_and_lag,
    deposit,
    drain,
    one_shard,
    outcomes,
    stored,
)
from tests.worker.support import withdrawal as wd


@pytest.fixture
def text(redis_url: str) -> Iterator[redis.Redis]:
    """A client as the CLI has one (answers decoded)."""
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


def keys_of(account_id: str) -> ShardKeys:
    return ShardKeys(shard_of(account_id, SHARDS))


def decided(client: redis.Redis, account_id: str) -> list[tuple[str, str]]:
    """The account's decided outcomes in :out, in commit order (``parked`` is not one)."""
    return [
        (o["t"], o["o"]) for o in outcomes(client) if o["a"] == account_id and o["o"] != "parked"
    ]


def parked_outcomes(client: redis.Redis, account_id: str) -> list[str]:
    return [o["t"] for o in outcomes(client) if o["a"] == account_id and o["o"] == "parked"]


def held(client: redis.Redis, account_id: str) -> list[str]:
    """Tx ids of the account's held entries, in order."""
    rows = client.lrange(keys_of(account_id).held(account_id), 0, -1)
    return [orjson.loads(held_from(row)[1] or "")["t"] for row in rows]


def sequential(txs: list[Tx], account_id: str) -> tuple[MemoryLedger, list[tuple[str, str]]]:
    """The ledger core applying ``txs`` in order, and the account's outcomes."""
    ledger = MemoryLedger()
    found = [(tx, ledger.process(tx).outcome.value) for tx in txs]
    return ledger, [(tx.tx_id, o) for tx, o in found if tx.account_id == account_id]


async def request(
    text: redis.Redis, redis_url: str, op: str, account_id: str, note: str = ""
) -> dict:  # type: ignore[type-arg]
    k, request_id = parked.send(text, op, account_id, note)  # type: ignore[arg-type]
    await drain(redis_url)
    found = parked.result(text, k, request_id)
    assert found is not None, "the owner carried the request out"
    return found


async def test_a_poisoned_account_is_held_in_order_its_neighbour_goes_on_and_retry_applies_it(
    client: redis.Redis, text: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = one_shard(2)
    first = [deposit(a, "01", 100), deposit(b, "01", 100)]
    append(client, first)
    await drain(redis_url)
    later = [
        deposit(a, "02", 50),
        wd(b, "02", 30),
        wd(a, "03", 120),
        deposit(b, "03", 5),
        wd(a, "04", 500),
        deposit(a, "05", 7),
        wd(b, "04", 70),
        deposit(b, "05", 1),
        Tx(a, "06", TxType.DISPUTE, None, "05"),
        wd(a, "07", 30),
    ]
    ledger, want_a = sequential(first + later, a)  # before the hook: it is process-wide
    poison = install(Poison(accounts=[a]), monkeypatch)
    append(client, later)
    await drain(redis_url, max_deliveries=2, batch=3)  # A's and B's entries share batches

    assert account(client, b) == ledger.accounts[b]
    assert [t for t, _ in decided(client, b)] == ["01", "02", "03", "04", "05"]
    assert decided(client, a) == [("01", "applied")]
    assert held(client, a) == ["02", "03", "04", "05", "06", "07"]
    assert parked_outcomes(client, a) == ["02", "03", "04", "05", "06", "07"]
    k = keys_of(a)
    assert stored(client, a, "04").outcome == "parked"  # GET .../transactions/04
    (row,) = parked.accounts(text)
    assert (row["account"], row["held"]) == (a, 6)
    assert "raised 2 times" in row["reason"] and "injected poison" in row["reason"]
    shard = status.snapshot(text)["shards"][k.shard]
    assert (shard["parked"], shard["held"]) == (1, 6)  # txflow status
    # held entries left :in's backlog: the count of committed entries has them
    assert [lag for _, lag in committed_and_lag(client)] == [0] * SHARDS
    committed = sum(count for count, _ in committed_and_lag(client))
    assert committed == len(first + later)

    found = await request(text, redis_url, "retry", a)  # the cause is not fixed yet
    assert (found["status"], found["held"]) == ("parked", 6)
    assert "injected poison" in found["reason"]
    assert decided(client, a) == [("01", "applied")]

    poison.accounts.clear()  # the cause is fixed
    found = await request(text, redis_url, "retry", a)
    assert found["status"] == "released"
    assert found["outcomes"] == {"applied": 5, "rejected": 1}
    assert account(client, a) == ledger.accounts[a]
    assert decided(client, a) == want_a
    assert parked.accounts(text) == [] and not client.exists(k.held(a))
    assert sum(count for count, _ in committed_and_lag(client)) == committed  # not twice
    # a decided record replaces its parked one whole: no reason of the parking stays
    assert stored(client, a, "02").reason is None
    assert stored(client, a, "04").reason == "insufficient_funds"


async def test_skip_dead_letters_the_first_held_entry_with_the_note_and_retries_the_rest(
    client: redis.Redis, text: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = one_shard(2)
    txs = [
        deposit(a, "01", 100),
        wd(a, "02", 60),
        deposit(b, "01", 5),
        wd(a, "03", 60),
        deposit(a, "04", 10),
        wd(a, "05", 30),
    ]
    ledger, _ = sequential([t for t in txs if t.tx_id != "02" or t.account_id != a], a)
    poison = install(Poison(txs=[f"{a} 02", f"{a} 03"]), monkeypatch)
    append(client, txs)
    await drain(redis_url, max_deliveries=1)
    assert held(client, a) == ["02", "03", "04", "05"]
    (entry_02, _) = held_from(text.lindex(keys_of(a).held(a), 0))  # type: ignore[arg-type]

    # The same skip sent twice before the owner reads either: one entry is skipped.
    k, once = parked.send(text, "skip", a, "refunded by hand, ticket 42")
    _, twice = parked.send(text, "skip", a, "sent twice")
    await drain(redis_url, max_deliveries=1)
    first, second = parked.result(text, k, once), parked.result(text, k, twice)
    assert first is not None and second is not None
    assert (first["status"], first["skipped"], first["held"]) == ("parked", entry_02, 3)
    assert "injected poison" in first["reason"]  # 03 still fails: the account stays parked
    assert second["status"] == "stale"

    poison.healed.add(f"{a} 03")
    assert (await request(text, redis_url, "retry", a))["status"] == "released"
    (letter,) = [orjson.loads(f[b"d"]) for _, f in client.xrange(k.dlq)]
    assert letter["e"] == entry_02 and "refunded by hand, ticket 42" in letter["reason"]
    assert stored(client, a, "02").outcome == "dead"
    assert account(client, a) == ledger.accounts[a]
    assert decided(client, a) == [
        ("01", "applied"),
        ("02", "dead"),
        ("03", "applied"),
        ("04", "applied"),
        ("05", "applied"),
    ]


Corruption = Callable[[redis.Redis, str], None]


def non_numeric_balance(client: redis.Redis, key: str) -> None:
    client.hset(key, STATE, "12abc|0|0")


def not_a_hash(client: redis.Redis, key: str) -> None:
    client.delete(key)
    client.set(key, "garbage")


@pytest.mark.parametrize("corrupt", [non_numeric_balance, not_a_hash])
async def test_a_corrupted_account_parks_alone_and_its_neighbours_in_the_batch_apply(
    client: redis.Redis,
    text: redis.Redis,
    redis_url: str,
    corrupt: Corruption,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b, c = one_shard(3)
    first = [deposit(a, "01", 100), deposit(b, "01", 100), deposit(c, "01", 100)]
    append(client, first)
    await drain(redis_url)
    key = keys_of(a).account(a)
    good = client.hgetall(key)
    corrupt(client, key)
    later = [deposit(b, "02", 1), wd(a, "02", 30), deposit(c, "02", 2), deposit(a, "03", 5)]
    append(client, later)
    await asyncio.wait_for(drain(redis_url), 30)  # the shard is drained, never stuck

    ledger, want_a = sequential(first + later, a)
    assert account(client, b) == ledger.accounts[b] and account(client, c) == ledger.accounts[c]
    (row,) = parked.accounts(text)
    assert row["account"] == a and row["held"] == 2 and "unreadable" in row["reason"]
    assert "runner failed" not in caplog.text and "Traceback" not in caplog.text

    client.delete(key)  # repaired by hand
    client.hset(key, mapping=good)
    assert (await request(text, redis_url, "retry", a))["status"] == "released"
    assert account(client, a) == ledger.accounts[a]
    assert decided(client, a) == want_a


async def test_entries_arriving_for_a_parked_account_join_its_queue_across_workers(
    client: redis.Redis, text: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parking is in Redis, not in a worker: the next owner (here a fresh burst
    # worker, without the fault) keeps the account parked and holds its new entries.
    (a,) = one_shard(1)
    poison = install(Poison(txs=[f"{a} 01"]), monkeypatch)
    append(client, [deposit(a, "01", 10), deposit(a, "02", 10)])
    await drain(redis_url, max_deliveries=1)
    poison.txs.clear()
    append(client, [wd(a, "03", 15)])
    await drain(redis_url)
    assert held(client, a) == ["01", "02", "03"]
    assert account(client, a) is None  # nothing of it was applied
    assert (await request(text, redis_url, "retry", a))["status"] == "released"
    assert decided(client, a) == [("01", "applied"), ("02", "applied"), ("03", "applied")]
    assert account(client, a) is not None and account(client, a).available == 5  # type: ignore[union-attr]
    assert [o["o"] for o in outcomes(client)].count(Outcome.PARKED) == 3


async def test_the_parked_commands_list_show_and_leave_a_request_queued_past_their_deadline(
    client: redis.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (a,) = one_shard(1)
    poison = install(Poison(accounts=[a]), monkeypatch)
    append(client, [deposit(a, "01", 10), wd(a, "02", 4)])
    await drain(redis_url, max_deliveries=1)
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["parked", "list"]) == 0
    assert a in capsys.readouterr().out
    assert main(["parked", "show", a]) == 0
    shown = orjson.loads(capsys.readouterr().out)
    assert [e["tx_id"] for e in shown["entries"]] == ["01", "02"] and shown["held"] == 2
    assert main(["status"]) == 0
    assert "parked" in capsys.readouterr().out
    # No worker runs: the command gives up waiting, the request stays queued...
    assert main(["parked", "retry", a, "--timeout", "0.3"]) == 1
    assert "stays queued" in capsys.readouterr().err
    poison.accounts.clear()
    await drain(redis_url)  # ...and the next owner carries it out
    assert decided(client, a) == [("01", "applied"), ("02", "applied")]
    assert main(["parked", "retry", a]) == 1
    assert f"account {a} is not parked" in capsys.readouterr().err
