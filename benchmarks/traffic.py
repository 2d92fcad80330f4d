"""Load offered to the ingest API: flat out over a few connections, or paced at a rate.

Transactions are encoded (``Tx.to_wire`` as JSON, by ``encoded`` or
``lanes_of``) before any clock starts; a request body is only their join.
Every POST goes to ``/v1/transactions/batch``; a ``429``/``503`` is retried
with the same body after its ``Retry-After`` (safe: the workers deduplicate
by ``(account_id, tx_id)``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
import orjson

from benchmarks.worker import TICK_S
from shared.model import Tx
from shared.sharding import shard_of

MAX_BATCH = 1_000  # the ingest's TXFLOW_MAX_BATCH default
RETRYABLE = {429, 503}
HEADERS = {"content-type": "application/json"}


@dataclass(frozen=True)
class Offered:
    """What the client did: when it started (epoch ms) and how long until the last 202."""

    entries: int
    start_ms: int
    seconds: float
    posts: int
    retries: int


def encoded(txs: list[Tx]) -> list[bytes]:
    return [orjson.dumps(tx.to_wire()) for tx in txs]


def body(items: list[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


class Client:
    """One ``httpx.AsyncClient`` with the retry rule, counting posts and retries."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.posts = 0
        self.retries = 0

    async def post(self, content: bytes) -> None:
        while True:
            self.posts += 1
            r = await self.http.post("/v1/transactions/batch", content=content, headers=HEADERS)
            if r.status_code == 202:
                return
            if r.status_code not in RETRYABLE:
                raise SystemExit(f"ingest answered {r.status_code}: {r.text[:300]}")
            self.retries += 1
            await asyncio.sleep(float(r.headers.get("retry-after", "0.1")))


def lanes_of(txs: list[Tx], lanes: int, shards: int) -> list[list[bytes]]:
    """``txs`` split by shard into ``lanes`` ordered lists: each account's order is kept."""
    split: list[list[Tx]] = [[] for _ in range(lanes)]
    for tx in txs:
        split[shard_of(tx.account_id, shards) % lanes].append(tx)
    return [encoded(lane) for lane in split]


async def lane(client: Client, items: list[bytes]) -> None:
    for first in range(0, len(items), MAX_BATCH):
        await client.post(body(items[first : first + MAX_BATCH]))


async def flat_out(api: str, lanes: list[list[bytes]]) -> Offered:
    """Post every lane's items as fast as the API takes them: full batches, a connection each."""
    async with httpx.AsyncClient(base_url=api, timeout=120) as http:
        client = Client(http)
        start_ms, start = time.time_ns() // 1_000_000, time.perf_counter()
        await asyncio.gather(*(lane(client, items) for items in lanes))
        seconds = time.perf_counter() - start
    entries = sum(len(items) for items in lanes)
    return Offered(entries, start_ms, seconds, client.posts, client.retries)


async def paced(api: str, lanes: list[list[bytes]], rate: float) -> Offered:
    """Post every lane's items in order, ``rate`` tx/s in all, a connection per lane."""
    entries = sum(len(items) for items in lanes)
    async with httpx.AsyncClient(base_url=api, timeout=120) as http:
        client = Client(http)
        start_ms, start = time.time_ns() // 1_000_000, time.perf_counter()
        runs = [pace(client, items, rate * len(items) / entries, start) for items in lanes]
        await asyncio.gather(*runs)
        seconds = time.perf_counter() - start
    return Offered(entries, start_ms, seconds, client.posts, client.retries)


async def pace(client: Client, items: list[bytes], rate: float, start: float) -> None:
    """Every tick, one batch of what is due since ``start`` at ``rate`` tx/s."""
    sent = 0
    while sent < len(items):
        due = min(int(rate * (time.perf_counter() - start)), len(items)) - sent
        if due > 0:
            batch = items[sent : sent + min(due, MAX_BATCH)]
            await client.post(body(batch))
            sent += len(batch)
        await asyncio.sleep(TICK_S)
