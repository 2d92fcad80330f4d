"""``Prefer: wait=N``: the outcome in the answer when the worker decides in time.

In-process ingest (``serve``) and, where an outcome is expected, an in-process
worker task on the same Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from services.ingest.wait import _recorded, preferred_wait
from services.ingest.waiters import Waiter
from services.worker.worker import Worker
from tests.apps import SHARDS, Api, deposit, make_settings, serve
from tests.poison import Poison, install

WAIT = {"prefer": "wait=10"}


def withdrawal(tx_id: str, account_id: str, amount: str) -> dict[str, str]:
    return {"tx_id": tx_id, "account_id": account_id, "type": "withdrawal", "amount": amount}


@asynccontextmanager
async def worker(redis_url: str) -> AsyncIterator[None]:
    """A worker task owning every shard while the block runs."""
    settings = make_settings(redis_url, block_ms=50, lease_ttl_ms=1000)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    running = Worker(settings, client, "w1")
    task = asyncio.create_task(running.run())
    try:
        yield
    finally:
        running.request_stop()
        await task
        await client.aclose()


def units(amount: str) -> str:
    """``amount`` as the API writes balances: four decimal places."""
    whole, _, frac = amount.partition(".")
    return f"{whole}.{frac.ljust(4, '0')}"


async def test_a_decided_transaction_is_answered_200_with_its_outcome_and_state(
    api: Api, redis_url: str
) -> None:
    async with worker(redis_url):
        r = await api.http.post(
            "/v1/transactions", json=deposit("t1", "alice", "10.5"), headers=WAIT
        )
        assert r.status_code == 200, r.text
        assert r.headers["preference-applied"] == "wait=10"
        doc = r.json()
        assert (doc["tx_id"], doc["outcome"], doc["reason"]) == ("t1", "applied", None)
        assert doc["account"] == {
            "account_id": "alice",
            "available": units("10.5"),
            "held": units("0"),
            "total": units("10.5"),
            "locked": False,
        }
        assert doc["stream_id"]  # the receipt's fields are all there too
        # rejected, with its reason and the state it left unchanged
        r = await api.http.post(
            "/v1/transactions", json=withdrawal("t2", "alice", "20"), headers=WAIT
        )
        assert (r.status_code, r.json()["outcome"]) == (200, "rejected")
        assert r.json()["reason"] == "insufficient_funds"
        assert r.json()["account"]["available"] == units("10.5")
        # the same id again: a duplicate, answered with the account as it stands
        r = await api.http.post(
            "/v1/transactions", json=deposit("t1", "alice", "10.5"), headers=WAIT
        )
        assert (r.status_code, r.json()["outcome"], r.json()["account"]["total"]) == (
            200,
            "duplicate",
            units("10.5"),
        )


async def test_without_a_worker_the_answer_is_202_after_the_wait(api: Api) -> None:
    r = await api.http.post(
        "/v1/transactions", json=deposit("t1"), headers={"prefer": "respond-async, wait=1"}
    )
    assert r.status_code == 202, r.text
    assert "preference-applied" not in r.headers
    assert set(r.json()) == {"tx_id", "account_id", "shard", "stream_id"}  # as without it


async def test_without_the_header_nothing_waits_and_no_reader_starts(api: Api) -> None:
    r = await api.http.post("/v1/transactions", json=deposit("t1"))
    assert r.status_code == 202
    assert api.runtime.wait.waiters._task is None


async def test_a_batch_answers_each_outcome_in_request_order(api: Api, redis_url: str) -> None:
    txs = [
        deposit("d1", "bob", "5"),
        withdrawal("w1", "bob", "7"),
        deposit("d1", "bob", "5"),
        withdrawal("w2", "bob", "2"),
        deposit("x1", "carol", "1"),
    ]
    async with worker(redis_url):
        r = await api.http.post("/v1/transactions/batch", json=txs, headers={"Prefer": "WAIT=10"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [(x["tx_id"], x["outcome"]) for x in results] == [
        ("d1", "applied"),
        ("w1", "rejected"),
        ("d1", "duplicate"),
        ("w2", "applied"),
        ("x1", "applied"),
    ]
    assert [x["account"]["available"] for x in results[:4]] == [units(a) for a in "5553"]


async def test_a_parked_transaction_is_answered_parked_with_the_reason(
    api: Api, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(Poison(accounts=["dave"]), monkeypatch)
    async with worker(redis_url):
        txs = [deposit("p1", "dave", "1"), deposit("ok", "erin", "1")]
        r = await api.http.post("/v1/transactions/batch", json=txs, headers=WAIT)
    assert r.status_code == 200, r.text
    parked, applied = r.json()["results"]
    assert (parked["outcome"], applied["outcome"]) == ("parked", "applied")
    assert "injected poison" in parked["reason"]
    assert parked["account"] is None  # the account has no state yet: nothing applied


async def test_concurrent_waiters_on_one_account_each_get_their_own_outcome_in_order(
    api: Api, redis_url: str
) -> None:
    async def post(i: int) -> dict[str, Any]:
        r = await api.http.post(
            "/v1/transactions", json=deposit(f"c{i}", "frank", "1"), headers=WAIT
        )
        assert r.status_code == 200, r.text
        doc: dict[str, Any] = r.json()
        return doc

    async with worker(redis_url):
        answers = await asyncio.gather(*(post(i) for i in range(40)))
    assert sorted(a["tx_id"] for a in answers) == sorted(f"c{i}" for i in range(40))
    assert all(a["outcome"] == "applied" for a in answers)
    # Each sees the account just after its own deposit: the n-th appended sees n.
    in_order = sorted(answers, key=lambda a: tuple(map(int, a["stream_id"].split("-"))))
    assert [a["account"]["available"] for a in in_order] == [units(str(n)) for n in range(1, 41)]
    assert api.runtime.wait.waiters.count == 0


async def test_past_max_waiters_the_preference_is_ignored(redis_url: str) -> None:
    async with serve(make_settings(redis_url, max_waiters=1)) as api, worker(redis_url):
        txs = [deposit("a1", "gina"), deposit("a2", "gina")]
        r = await api.http.post("/v1/transactions/batch", json=txs, headers=WAIT)
        assert r.status_code == 202 and "preference-applied" not in r.headers
        r = await api.http.post("/v1/transactions", json=deposit("a3", "gina"), headers=WAIT)
        assert r.status_code == 200  # one fits


async def test_the_route_behind_fastapi_answers_the_same(api: Api, redis_url: str) -> None:
    # FastAPI's own route (what answers when the fast path steps aside), called directly.
    transport = httpx.ASGITransport(app=api.app.fastapi)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        async with worker(redis_url):
            r = await http.post("/v1/transactions", json=deposit("r1", "hana"), headers=WAIT)
        assert (r.status_code, r.json()["outcome"]) == (200, "applied")
        assert r.headers["preference-applied"] == "wait=10"
        r = await http.post(
            "/v1/transactions", json=deposit("r2", "hana"), headers=WAIT | {"prefer": "wait=1"}
        )
        assert r.status_code == 202 and set(r.json()) == {
            "tx_id",
            "account_id",
            "shard",
            "stream_id",
        }


def test_the_prefer_header_is_parsed_as_rfc_7240_says() -> None:
    assert preferred_wait(["wait=5"]) == 5
    assert preferred_wait(["respond-async, Wait = 3"]) == 3
    assert preferred_wait(["handling=lenient", 'wait="7"; foo=bar']) == 7
    assert preferred_wait(["return=minimal"]) is None
    assert preferred_wait(["wait=soon"]) is None
    assert preferred_wait(["wait=-1"]) is None


def test_a_record_answers_for_its_own_entry_or_as_a_duplicate_once_passed() -> None:
    receipt = {"account_id": "a", "tx_id": "t", "shard": 0, "stream_id": "5-0"}
    assert _recorded(receipt, "daa100|5-0", None) == {"o": "applied", "r": None}
    assert _recorded(receipt, "daa100|3-0", "6-0") == {"o": "duplicate"}
    assert _recorded(receipt, "daa100|3-0", "4-0") is None  # its own entry is not decided yet
    assert _recorded(receipt, None, "6-0") is None
    assert SHARDS  # (the in-process services use the harness's shard count)


async def test_an_outcome_the_reader_missed_is_answered_from_the_record(
    api: Api, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reader delivers nothing (as if cut off from Redis): at the deadline the
    # record and the account's state answer.
    monkeypatch.setattr(Waiter, "offer", lambda self, outcome: None)
    async with worker(redis_url):
        three = {"prefer": "wait=3"}  # all of it waited out: the reader delivers nothing
        r = await api.http.post("/v1/transactions", json=deposit("f1", "ivan", "3"), headers=three)
        assert r.status_code == 200, r.text
        assert (r.json()["outcome"], r.json()["account"]["available"]) == ("applied", "3.0000")
        r = await api.http.post("/v1/transactions", json=deposit("f1", "ivan", "3"), headers=three)
        assert (r.status_code, r.json()["outcome"]) == (200, "duplicate")
