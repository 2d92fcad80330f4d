"""The fast path answers ``POST /v1/transactions`` in front of FastAPI, and answers as it did.

Every request here goes twice: through the app as served (the fast path) and
straight to the FastAPI application behind it, whose route is the one the
service had before. Both share one runtime, so the answers must be the same:
status, headers, problem document, and the metrics they count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.types import Message

from services.cli.redis_process import RedisProcess
from services.ingest.fastpath import FastPath
from shared.keys import ShardKeys
from tests.apps import (
    TOKEN,
    Api,
    account_in_shard,
    deposit,
    make_settings,
    serve,
)
from tests.ingest.alike import Recorder, answered_alike, behind, counted, post, samples
from tests.ingest.documents import INVALID, JSON
from tests.polling import eventually


async def test_single_post_is_answered_in_front_of_fastapi(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(api.app.fastapi)
    monkeypatch.setattr(api.app, "fastapi", recorder)

    response = await api.http.post("/v1/transactions", json=deposit("t1"))
    assert response.status_code == 202
    assert recorder.seen == []

    await api.http.post("/v1/transactions/batch", json=[deposit("t2")])
    await api.http.get("/healthz")
    await api.http.get("/v1/transactions")  # another method: FastAPI's 405
    await api.http.post("/v1/transactions/", json=deposit("t3"))  # another path
    assert recorder.seen == [
        ("POST", "/v1/transactions/batch"),
        ("GET", "/healthz"),
        ("GET", "/v1/transactions"),
        ("POST", "/v1/transactions/"),
    ]


async def test_receipt_and_entry_are_those_of_the_route(api: Api) -> None:
    response = await answered_alike(api, post(deposit("t1", "alice", "10.5")))

    assert response.headers["content-type"] == "application/json"
    receipt = response.json()
    assert receipt.keys() == {"tx_id", "account_id", "shard", "stream_id"}
    [slow_entry, fast_entry] = await api.entries(receipt["shard"])
    assert fast_entry[0] == receipt["stream_id"]
    assert fast_entry[1]._replace(accepted_at=0) == slow_entry[1]._replace(accepted_at=0)
    assert fast_entry[1].amount == 105_000


@pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
async def test_invalid_transaction_gets_the_same_422(api: Api, body: dict[str, Any]) -> None:
    response = await answered_alike(api, post(body))
    assert response.status_code == 422
    assert await api.total_entries() == 0


@pytest.mark.parametrize("content", [b"{", b"", b"[]", b'"deposit"', b"\xff", b"null"])
async def test_body_that_is_not_one_object_gets_the_same_422(api: Api, content: bytes) -> None:
    assert (await answered_alike(api, post(content))).status_code == 422


@pytest.fixture
async def small(redis_url: str) -> AsyncIterator[Api]:
    async with serve(make_settings(redis_url, max_body_bytes=1024)) as api:
        yield api


async def test_body_over_the_limit_gets_the_same_413(small: Api) -> None:
    body = deposit("t1") | {"note": "x" * 2000}
    assert (await answered_alike(small, post(body))).status_code == 413


async def test_chunked_body_over_the_limit_gets_the_same_413(small: Api) -> None:
    async def request(client: httpx.AsyncClient) -> httpx.Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b" " * 100

        return await client.post("/v1/transactions", content=chunks(), headers=JSON)

    assert (await answered_alike(small, request)).status_code == 413
    assert await small.total_entries() == 0


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"bearer  {TOKEN} ", f"Bearer {TOKEN}x"],
)
async def test_token_is_checked_as_the_route_checks_it(
    guarded: Api, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await answered_alike(guarded, post(deposit("t1"), headers=headers))
    # HTTPBearer takes the scheme in any case and trims the credentials.
    assert response.status_code == (202 if authorization == f"bearer  {TOKEN} " else 401)


async def test_right_token_is_let_in_before_the_body_is_read(guarded: Api) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"} | JSON
    response = await answered_alike(guarded, post(b"{", headers=headers))
    assert response.status_code == 422


async def test_shard_over_its_lag_limit_gets_the_same_429(redis_url: str) -> None:
    async with serve(make_settings(redis_url, max_lag=1, lag_refresh_ms=10)) as api:
        for i in range(2):
            await api.redis.xadd(ShardKeys(1).inbox, {"d": f"backlog-{i}"})

        async def hot() -> bool | None:
            return True if api.runtime.monitor.hot else None

        await eventually(hot)
        response = await answered_alike(api, post(deposit("t1", account_in_shard(1))))
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert await api.redis.xlen(ShardKeys(1).inbox) == 2


async def test_redis_down_gets_the_same_503_never_a_500(
    redis_factory: Callable[..., RedisProcess],
) -> None:
    server = redis_factory()
    async with serve(make_settings(server.url)) as api:
        server.kill()
        async with behind(api) as slow_client:
            slow = await slow_client.post("/v1/transactions", json=deposit("t1"))
            fast = await api.http.post("/v1/transactions", json=deposit("t1"))
        assert fast.status_code == slow.status_code == 503
        assert fast.headers["retry-after"] == slow.headers["retry-after"] == "1"
        assert fast.json() == slow.json()


async def test_a_redis_error_that_is_no_outage_is_the_same_500_problem(api: Api) -> None:
    # An inbox that is not a stream: XADD answers WRONGTYPE (a bug, not an outage).
    account = account_in_shard(2)
    await api.redis.delete(ShardKeys(2).inbox)
    await api.redis.set(ShardKeys(2).inbox, "not a stream")
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with (
        behind(api, raise_app_exceptions=False) as slow_client,
        httpx.AsyncClient(transport=transport, base_url="http://ingest") as fast_client,
    ):
        slow = await slow_client.post("/v1/transactions", json=deposit("t1", account))
        fast = await fast_client.post("/v1/transactions", json=deposit("t1", account))
    assert fast.status_code == slow.status_code == 500
    assert fast.headers["content-type"] == "application/problem+json"
    assert fast.json() == slow.json()


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "route"])
@pytest.mark.parametrize("path", ["/v1/transactions", "/v1/transactions/batch"])
async def test_client_gone_before_its_body_is_counted_499_and_appends_nothing(
    api: Api, fast: bool, path: str
) -> None:
    sent: list[Message] = []
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"tx_id": "t1", ', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "query_string": b"",
    }
    before = await samples(api)
    await (api.app if fast else api.app.fastapi)(scope, receive, send)  # raises nothing

    assert [m["status"] for m in sent if m["type"] == "http.response.start"] in ([], [499])
    assert await api.total_entries() == 0
    labels = (("method", "POST"), ("route", path), ("status", "499"))
    added = counted(before, await samples(api))
    assert added[("txflow_http_requests_total", labels)] == 1.0
    assert not [key for key in added if ("status", "500") in key[1]]


async def test_without_a_running_service_fastapi_answers(redis_url: str) -> None:
    # No lifespan, no runtime: the fast path steps aside for FastAPI.
    from services.ingest.app import create_app

    app = create_app(make_settings(redis_url))
    assert isinstance(app, FastPath)
    recorder = Recorder(app.fastapi)
    app.fastapi = recorder  # type: ignore[assignment]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        await http.post("/v1/transactions", json=deposit("t1"))
    assert recorder.seen == [("POST", "/v1/transactions")]


async def test_under_a_root_path_fastapi_routes_the_request(api: Api) -> None:
    # Routes are matched on the path less the root path: "/v1" + "/transactions" is no route.
    transport = httpx.ASGITransport(app=api.app, root_path="/v1")
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        response = await http.post("/v1/transactions", json=deposit("t1"))
    assert response.status_code == 404
    assert await api.total_entries() == 0
