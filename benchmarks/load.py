"""Load on an HTTP API from pre-encoded bodies, over keep-alive connections (aiohttp)."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import Counter
from typing import Any

import aiohttp
import orjson

from shared.model import Tx
from shared.sharding import shard_of

HEADERS = {"content-type": "application/json"}
RETRYABLE = {429, 503}
BATCH = 1_000  # the ingest's TXFLOW_MAX_BATCH default
TICK_S = 0.005


def session(url: str, connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=connections))


def split(txs: list[Tx], lanes: int) -> list[list[bytes]]:
    """``txs`` as JSON in ``lanes`` ordered lanes by account (``crc32 mod lanes``)."""
    split: list[list[bytes]] = [[] for _ in range(lanes)]
    for tx in txs:
        split[shard_of(tx.account_id, lanes)].append(orjson.dumps(tx.to_wire()))
    return split


async def post(
    http: aiohttp.ClientSession, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, int]:
    """One POST, a 429 or 503 retried after its ``Retry-After``: status, answer, retries."""
    for retries in itertools.count():
        async with http.post(path, data=body, headers=headers) as r:
            answer = await r.read()
        if r.status not in RETRYABLE:
            return r.status, answer, retries
        await asyncio.sleep(float(r.headers.get("retry-after", "0.1")))
    raise AssertionError("unreachable")


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
    due, or waits a tick.
    """
    posts = retries = 0
    total = sum(len(lane) for lane in items)
    async with session(url, len(items)) as http:

        async def lane(own: list[bytes]) -> None:
            nonlocal posts, retries
            sent, share = 0, None if rate is None else rate * len(own) / total
            while sent < len(own):
                due = len(own) if share is None else int(share * (time.perf_counter() - start))
                if due <= sent:
                    await asyncio.sleep(TICK_S)
                    continue
                batch = own[sent : min(due, sent + BATCH)]
                body = b"[" + b",".join(batch) + b"]"
                status, answer, again = await post(http, "/v1/transactions/batch", body, HEADERS)
                if status != 202:
                    raise RuntimeError(f"ingest answered {status}: {answer[:300]!r}")
                posts, retries, sent = posts + 1 + again, retries + again, sent + len(batch)

        start = time.perf_counter()
        await asyncio.gather(*(lane(own) for own in items))
    return {"seconds": time.perf_counter() - start, "posts": posts, "retries": retries}


async def singles(
    url: str, items: list[list[bytes]], rate: float | None, headers: dict[str, str]
) -> dict[str, Any]:
    """Each lane's items one POST each, in order; paced at ``rate`` tx/s in all, or flat out.
    Each request timed from its first attempt to its answer."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    total = sum(map(len, items))
    async with session(url, len(items)) as http:
        start = time.perf_counter()

        async def lane(own: list[bytes]) -> None:
            share = None if rate is None else rate * len(own) / total
            for n, body in enumerate(own):
                if share and (ahead := start + n / share - time.perf_counter()) > 0:
                    await asyncio.sleep(ahead)
                sent = time.perf_counter()
                status, _, _ = await post(http, "/v1/transactions", body, headers)
                latencies.append(time.perf_counter() - sent)
                statuses[status] += 1

        await asyncio.gather(*(lane(own) for own in items if own))
        seconds = time.perf_counter() - start
    found = {"seconds": seconds, "tx_s": total / seconds, "statuses": dict(statuses)}
    p50, p99 = percentiles([s * 1000 for s in latencies], 1)
    top = round(max(latencies) * 1000, 1)
    return found | {"request_p50_ms": p50, "request_p99_ms": p99, "request_max_ms": top}


def percentiles(values: list[float], digits: int | None = None) -> tuple[float, float]:
    """p50 and p99 of ``values``, rounded to ``digits``."""
    cuts = statistics.quantiles(values, n=100)
    return round(cuts[49], digits), round(cuts[98], digits)
