"""Deadlines and the bound on appends in flight, against a Redis paused with SIGSTOP.

A paused Redis is a stall: connections are accepted and kept, nothing is
answered. Requests must not wait for it: 503 within ``TXFLOW_REDIS_TIMEOUT_MS``,
or at once beyond ``TXFLOW_MAX_INFLIGHT``.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from pydantic import ValidationError

from services.cli.redis_process import RedisProcess
from shared.sharding import shard_of
from tests.apps import (
    SHARDS,
    Api,
    assert_problem,
    deposit,
    make_settings,
    serve,
)
from tests.polling import eventually

CLIENT_TIMEOUT_S = 5.0
"""What the tests' client waits at most: ten times the deadlines below."""


@contextmanager
def paused(server: RedisProcess) -> Iterator[None]:
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def server(redis_factory: Callable[..., RedisProcess]) -> Iterator[RedisProcess]:
    server = redis_factory("none")
    yield server
    if server.proc is not None:
        server.proc.send_signal(signal.SIGCONT)


async def asked(request: Awaitable[httpx.Response]) -> httpx.Response:
    """The response, which must come before the client's own timeout."""
    return await asyncio.wait_for(request, CLIENT_TIMEOUT_S)


async def stream_tx_ids(api: Api, account: str) -> set[str]:
    return {tx.tx_id for _, tx in await api.entries(shard_of(account, SHARDS))}


@pytest.fixture
async def api(server: RedisProcess) -> AsyncIterator[Api]:
    settings = make_settings(server.url, redis_timeout_ms=300, max_inflight=10, max_batch=10)
    async with serve(settings) as running:
        yield running


async def test_a_request_beyond_max_inflight_is_503_at_once_while_the_others_wait(
    server: RedisProcess,
) -> None:
    settings = make_settings(server.url, redis_timeout_ms=10_000, max_inflight=10, max_batch=10)
    async with serve(settings) as api:
        appender = api.runtime.appender
        with paused(server):
            batch = [deposit(f"t{i}") for i in range(10)]
            first = asyncio.ensure_future(api.http.post("/v1/transactions/batch", json=batch))

            async def full() -> bool | None:
                return True if appender.inflight == 10 else None

            await eventually(full)
            response = await asked(api.http.post("/v1/transactions", json=deposit("t10")))
            doc = assert_problem(response, 503)
            assert response.headers["retry-after"] == "1"
            assert "TXFLOW_MAX_INFLIGHT" in doc["detail"]
            assert not first.done()  # refused while the ten others still wait for Redis
        assert (await asked(first)).status_code == 202
        assert appender.inflight == 0
        assert await stream_tx_ids(api, "alice") == {f"t{i}" for i in range(10)}


async def test_a_stall_is_503_within_the_deadline_and_what_was_not_sent_never_appends(
    api: Api, server: RedisProcess
) -> None:
    appender = api.runtime.appender
    with paused(server):
        pipelines = appender.pipelines
        sent = asyncio.ensure_future(api.http.post("/v1/transactions", json=deposit("a1")))

        async def in_flight() -> bool | None:
            return True if appender.pipelines > pipelines else None

        await eventually(in_flight)
        queued = api.http.post("/v1/transactions/batch", json=[deposit("a2")])
        for response in (await asked(sent), await asked(queued)):
            assert_problem(response, 503)
            assert response.headers["retry-after"] == "1"
        # Taken as down now: refused at once, reads and readiness too.
        assert appender.down is not None
        assert_problem(await asked(api.http.post("/v1/transactions", json=deposit("a3"))), 503)
        assert_problem(await asked(api.http.get("/v1/accounts/alice")), 503)
        assert_problem(await asked(api.http.get("/readyz")), 503)
        assert (await asked(api.http.get("/healthz"))).status_code == 200

    async def accepted() -> bool | None:
        response = await api.http.post("/v1/transactions", json=deposit("a4"))
        return True if response.status_code == 202 else None

    await eventually(accepted)
    # a1 had been sent: Redis may have run it on waking (a retry is a duplicate).
    # a2 and a3 were never sent, and never will be.
    assert await stream_tx_ids(api, "alice") - {"a1"} == {"a4"}
    assert appender.inflight == 0


def test_max_inflight_below_max_batch_is_refused_at_start() -> None:
    # A full batch could never be accepted: said at start, not by a 503 for ever.
    with pytest.raises(ValidationError, match="TXFLOW_MAX_INFLIGHT"):
        make_settings("redis://127.0.0.1:1/0", max_inflight=99, max_batch=100)
    assert make_settings("redis://127.0.0.1:1/0", max_inflight=100, max_batch=100)
