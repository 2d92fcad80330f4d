"""Load on an HTTP API from pre-encoded bodies, over keep-alive connections (aiohttp)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from typing import Any

import aiohttp

HEADERS = {"content-type": "application/json"}
RETRYABLE = {429, 503}
BATCH = 1_000  # the ingest's TXFLOW_MAX_BATCH default
TICK_S = 0.005


def session(url: str, connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=connections))


async def window(
    url: str, path: str, bodies: list[bytes], connections: int, warmup_s: float, measure_s: float
) -> dict[str, Any]:
    """POST ``bodies`` round robin on ``connections`` lanes; the answers completed in the window."""
    statuses: Counter[int] = Counter()
    accepted = 0
    async with session(url, connections) as http:
        start = time.monotonic()
        t0, t1 = start + warmup_s, start + warmup_s + measure_s

        async def lane(first: int) -> None:
            nonlocal accepted
            for k in itertools.count(first, connections):
                if time.monotonic() >= t1:
                    return
                async with http.post(path, data=bodies[k % len(bodies)], headers=HEADERS) as r:
                    await r.read()
                accepted += r.status == 202
                if t0 <= time.monotonic() < t1:
                    statuses[r.status] += 1

        await asyncio.gather(*(lane(i) for i in range(connections)))
    return {"in_window": statuses[202], "accepted": accepted, "statuses": dict(statuses)}


async def lanes(url: str, items: list[list[bytes]], rate: float | None) -> dict[str, Any]:
    """Each lane's items (JSON documents) in order on a connection of its own, in batch POSTs.

    Flat out (``rate`` None): batches of ``BATCH`` as fast as they are taken. Paced: the
    lanes share ``rate`` tx/s; each posts what is due (up to ``BATCH``) as soon as it is
    due, or waits a tick. A 429 or 503 is retried after its ``Retry-After``.
    """
    posts = retries = 0
    total = sum(len(lane) for lane in items)
    async with session(url, len(items)) as http:

        async def post(body: bytes) -> None:
            nonlocal posts, retries
            while True:
                posts += 1
                async with http.post("/v1/transactions/batch", data=body, headers=HEADERS) as r:
                    answer = await r.read()
                if r.status == 202:
                    return
                if r.status not in RETRYABLE:
                    raise RuntimeError(f"ingest answered {r.status}: {answer[:300]!r}")
                retries += 1
                await asyncio.sleep(float(r.headers.get("retry-after", "0.1")))

        async def lane(own: list[bytes]) -> None:
            sent, share = 0, None if rate is None else rate * len(own) / total
            while sent < len(own):
                due = len(own) if share is None else int(share * (time.perf_counter() - start))
                if due <= sent:
                    await asyncio.sleep(TICK_S)
                    continue
                batch = own[sent : min(due, sent + BATCH)]
                await post(b"[" + b",".join(batch) + b"]")
                sent += len(batch)

        start = time.perf_counter()
        await asyncio.gather(*(lane(own) for own in items))
    return {"seconds": time.perf_counter() - start, "posts": posts, "retries": retries}
