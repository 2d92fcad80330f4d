"""Sending one request two ways: through the app as served (the fast path in front of
FastAPI) and straight to the FastAPI application behind it, which must answer alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Receive, Scope, Send

from tests.apps import Api

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Recorder:
    """Stands in for the FastAPI app behind the fast path and notes what reaches it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


def behind(api: Api, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    """A client of the FastAPI application itself: the route as it answered before."""
    transport = httpx.ASGITransport(app=api.app.fastapi, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://ingest")


async def samples(api: Api) -> Samples:
    text = (await api.http.get("/metrics")).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.startswith(("txflow_xadd", "txflow_shard_lag"))
        and not s.name.endswith("_created")
    }


def counted(before: Samples, after: Samples) -> dict[Any, float]:
    """What the requests between two readings added, by sample."""
    added = {key: value - before.get(key, 0.0) for key, value in after.items()}
    return {key: value for key, value in added.items() if value}


Request = Callable[[httpx.AsyncClient], Any]


async def answered_alike(api: Api, request: Request) -> httpx.Response:
    """Send ``request`` both ways; assert equal answers and counts; the fast path's answer."""
    async with behind(api) as slow_client:
        start = await samples(api)
        slow = await request(slow_client)
        middle = await samples(api)
        fast = await request(api.http)
        end = await samples(api)
    assert fast.status_code == slow.status_code, fast.text
    for header in ("content-type", "content-length", "retry-after", "www-authenticate"):
        assert fast.headers.get(header) == slow.headers.get(header), header
    if fast.status_code != 202:  # receipts differ by their stream IDs
        assert fast.json() == slow.json()
    assert counted(middle, end) == counted(start, middle)
    return fast


def post(body: Any, **kwargs: Any) -> Request:
    """A single POST of ``body``: bytes as they are (as JSON, unless ``headers`` say), else JSON."""

    async def send(client: httpx.AsyncClient) -> httpx.Response:
        if isinstance(body, bytes):
            kwargs.setdefault("headers", {"content-type": "application/json"})
            return await client.post("/v1/transactions", content=body, **kwargs)
        return await client.post("/v1/transactions", json=body, **kwargs)

    return send
