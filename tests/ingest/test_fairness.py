"""One client cannot fill a shard's backlog for everyone: a bound per source address.

A client that picks account ids of one shard used to fill its backlog up to
``TXFLOW_MAX_LAG``, and then every client of that shard got 429. Now a client
holding more than ``TXFLOW_MAX_LAG_PER_CLIENT`` entries of a shard's backlog
gets 429 for that shard, and the others are still admitted. No worker runs
here: the backlog only grows, unless a test plays the worker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from services.ingest.fairness import ClientShares
from services.worker.worker import Worker
from shared.keys import ShardKeys
from tests.apps import (
    Api,
    account_in_shard,
    assert_problem,
    deposit,
    ingest_process,
    make_settings,
    serve,
)
from tests.polling import eventually

# The rule, on its own.


def test_a_client_over_its_limit_is_full_on_that_shard_only() -> None:
    shares = ClientShares(4, limit=3, capacity=100)
    appended(shares, "x", [1, 1, 1])
    assert shares.full("x", [1, 2]) == frozenset()  # holding the limit is not past it
    appended(shares, "x", [1])
    assert shares.full("x", [1, 2]) == {1}
    assert shares.full("y", [1]) == frozenset()


def appended(shares: ClientShares, client: str, shards: list[int]) -> None:
    """What ``Intake`` does around one request's append."""
    shares.add(client, shards)
    shares.answered(shards)


def test_the_backlog_is_fifo_so_the_oldest_entries_are_the_processed_ones() -> None:
    shares = ClientShares(1, limit=3, capacity=100)
    appended(shares, "x", [0] * 5)
    appended(shares, "y", [0] * 3)
    appended(shares, "x", [0] * 2)
    shares.settle([10])
    assert (shares.held("x", 0), shares.held("y", 0)) == (7, 3)
    shares.settle([4])  # four left: y's last two and x's two
    assert (shares.held("x", 0), shares.held("y", 0)) == (2, 2)
    shares.settle([0])
    assert (shares.held("x", 0), shares.held("y", 0)) == (0, 0)


def test_entries_added_since_the_lag_was_read_are_kept() -> None:
    shares = ClientShares(1, limit=3, capacity=100)
    appended(shares, "x", [0] * 5)
    shares.settle([0])  # a lag read before x's entries landed
    assert shares.held("x", 0) == 5
    shares.settle([0])
    assert shares.held("x", 0) == 0


def test_entries_whose_append_was_unanswered_at_the_last_reading_are_kept() -> None:
    shares = ClientShares(1, limit=3, capacity=100)
    shares.add("x", [0] * 5)
    shares.settle([0])
    shares.settle([0])  # still unanswered: they may land after this reading
    assert shares.held("x", 0) == 5
    shares.answered([0] * 5)
    shares.settle([0])  # answered, but perhaps after the lag was read
    assert shares.held("x", 0) == 5
    shares.settle([0])
    assert shares.held("x", 0) == 0


def test_a_log_keeps_at_most_its_capacity() -> None:
    shares = ClientShares(1, limit=3, capacity=10)
    for n in range(25):
        appended(shares, f"c{n % 2}", [0])
    assert shares.held("c0", 0) + shares.held("c1", 0) == 10


# Through the service: the fast path, and the FastAPI routes behind it.

LIMIT = 3


@pytest.fixture
async def fair(redis_url: str) -> AsyncIterator[Api]:
    settings = make_settings(redis_url, max_lag_per_client=LIMIT, lag_refresh_ms=10)
    async with serve(settings) as api:
        yield api


@asynccontextmanager
async def client_at(api: Api, address: str, fast: bool) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests come from ``address``: through the fast path or not."""
    app = api.app if fast else api.app.fastapi
    transport = httpx.ASGITransport(app=app, client=(address, 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        yield http


WAYS = pytest.mark.parametrize("fast", [True, False], ids=["fast path", "route"])


@WAYS
async def test_a_client_past_its_share_gets_429_while_another_is_accepted(
    fair: Api, fast: bool
) -> None:
    hot, other = account_in_shard(1), account_in_shard(2)
    async with client_at(fair, "127.0.0.1", fast) as x, client_at(fair, "127.0.0.2", fast) as y:
        for n in range(LIMIT + 1):
            response = await x.post("/v1/transactions", json=deposit(f"x{n}", hot))
            assert response.status_code == 202
        refused = await x.post("/v1/transactions", json=deposit("x-past", hot))
        assert (await y.post("/v1/transactions", json=deposit("y1", hot))).status_code == 202
        assert (await x.post("/v1/transactions", json=deposit("x2", other))).status_code == 202

    doc = assert_problem(refused, 429)
    assert refused.headers["retry-after"] == "1"
    assert doc["shards"] == [1]
    assert str(LIMIT) in doc["detail"]
    assert [tx.tx_id for _, tx in await fair.entries(1)][-1] == "y1"
    assert await fair.redis.xlen(ShardKeys(1).inbox) == LIMIT + 2


async def test_a_batch_touching_a_shard_where_its_client_is_past_its_share_is_429_whole(
    fair: Api,
) -> None:
    hot, other = account_in_shard(1), account_in_shard(2)
    first = [deposit(f"x{n}", hot) for n in range(LIMIT + 1)]
    async with client_at(fair, "127.0.0.1", False) as x, client_at(fair, "127.0.0.2", False) as y:
        assert (await x.post("/v1/transactions/batch", json=first)).status_code == 202
        second = [deposit("x-other", other), deposit("x-hot", hot)]
        refused = await x.post("/v1/transactions/batch", json=second)
        accepted = await y.post("/v1/transactions/batch", json=[deposit("y1", hot)])

    assert assert_problem(refused, 429)["shards"] == [1]
    assert accepted.status_code == 202
    assert await fair.redis.xlen(ShardKeys(2).inbox) == 0


async def test_a_client_is_admitted_again_once_workers_take_its_entries(fair: Api) -> None:
    hot = account_in_shard(1)
    async with client_at(fair, "127.0.0.1", True) as x:
        for n in range(LIMIT + 1):
            await x.post("/v1/transactions", json=deposit(f"x{n}", hot))
        assert (await x.post("/v1/transactions", json=deposit("x-past", hot))).status_code == 429
        await Worker(fair.settings, fair.redis, "w1", burst=True).run()  # commits them all

        async def admitted() -> int | None:
            response = await x.post("/v1/transactions", json=deposit("x-again", hot))
            return response.status_code if response.status_code == 202 else None

        assert await eventually(admitted) == 202


def test_a_real_service_tells_clients_apart_by_address_and_ignores_a_forged_forwarded_for(
    redis_url: str,
) -> None:
    # uvicorn's own default trusts X-Forwarded-For from 127.0.0.1: the service
    # must not, unless TXFLOW_FORWARDED_ALLOW_IPS says so.
    hot = account_in_shard(1)
    with ingest_process(redis_url, TXFLOW_MAX_LAG_PER_CLIENT=str(LIMIT)) as ingest:
        other = httpx.HTTPTransport(local_address="127.0.0.2")
        with (
            httpx.Client(base_url=ingest.base, timeout=5) as x,
            httpx.Client(base_url=ingest.base, timeout=5, transport=other) as y,
        ):
            for n in range(LIMIT + 1):
                assert x.post("/v1/transactions", json=deposit(f"x{n}", hot)).status_code == 202
            refused = x.post("/v1/transactions", json=deposit("x-past", hot))
            forged = x.post(
                "/v1/transactions",
                json=deposit("x-forged", hot),
                headers={"X-Forwarded-For": "203.0.113.9"},
            )
            accepted = y.post("/v1/transactions", json=deposit("y1", hot))
    assert assert_problem(refused, 429)["shards"] == [1]
    assert forged.status_code == 429
    assert accepted.status_code == 202
