"""Group commit of stream appends: many requests, one Redis pipeline per round trip.

A request hands its entries to ``Appender.append`` and awaits a future. One
flusher task takes everything queued, sends it as a single pipeline of XADDs
(no MULTI) in queue order, and resolves each request's future with
the stream IDs of its entries. While a pipeline is in flight, new requests
queue up for the next one: under load one round trip carries many requests;
an idle service answers after one round trip.

Order: the entries of one request are contiguous and in request order in the
pipeline, and pipelines go out one after another, so a request's entries — and
requests answered one after the other — land in their streams in that order.

The pipeline is packed here (``pack_xadds``: the RESP bytes of every XADD in
one buffer) and written on a connection of the client's pool in one go, then
its replies are read in order. This is redis-py's pipeline minus its
per-command bookkeeping, which cost more than half of the service's CPU per
transaction on the batch path. On a Redis Cluster the entries of one pipeline
go to several nodes: there redis-py's cluster pipeline sends them.

Failure: a pipeline cut by a lost connection may have appended some of its
entries before the error; it is sent once more on a fresh connection (a pooled
connection may have died with a restarted Redis), and when that fails too
every request in it gets ``StoreUnavailable`` (503). Both are harmless: a
client retries with the same ids, and the worker deduplicates by
``(account_id, tx_id)``, so an entry appended twice is applied once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis

from shared import resp
from shared.errors import StoreUnavailable
from shared.store import UNAVAILABLE, Client, refusing

log = logging.getLogger("txflow.ingest")

Entry = tuple[bytes, bytes]
"""One stream entry: the ``:in`` key of its shard and the encoded ``Tx`` (field ``d``)."""


def pack_xadds(entries: Sequence[Entry]) -> bytes:
    """``XADD <key> * d <data>`` for each entry, in the Redis protocol (RESP), in order."""
    parts: list[bytes] = []
    append = parts.append
    for key, data in entries:
        append(b"*5\r\n$4\r\nXADD\r\n$%d\r\n%b\r\n$1\r\n*\r\n$1\r\nd\r\n$%d\r\n%b\r\n"
               % (len(key), key, len(data), data))  # fmt: skip
    return b"".join(parts)


Observer = Callable[[int, float], None]
"""Told the number of entries and the seconds of every pipeline sent."""


class _Pending:
    __slots__ = ("entries", "future")

    def __init__(self, entries: Sequence[Entry], future: asyncio.Future[list[str]]) -> None:
        self.entries = entries
        self.future = future


class Appender:
    """Coalesces concurrent appends into one pipeline per round trip."""

    def __init__(self, client: Client, observe: Observer | None = None) -> None:
        self._client = client
        self._cluster = isinstance(client, aioredis.RedisCluster)
        self._observe = observe
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.requests = 0
        """Calls to ``append`` so far."""
        self.pipelines = 0
        """Pipelines sent so far: fewer than ``requests`` when requests overlap."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="txflow-appender")

    async def close(self) -> None:
        """Flush what is queued, then stop the flusher."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def append(self, entries: Sequence[Entry]) -> list[str]:
        """Append ``entries`` in order; their stream IDs once Redis has answered.

        Raises ``StoreUnavailable`` when Redis cannot be reached.
        """
        if self._closing or self._task is None:
            raise StoreUnavailable("the appender is not running")
        if not entries:
            return []
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(entries, future))
        self.requests += 1
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._queue = self._queue, []
            if batch:
                try:
                    await self._flush(batch)
                except Exception as e:  # never let one bad pipeline stop the flusher
                    log.exception("append pipeline failed")
                    _fail(batch, e)
            if self._closing and not self._queue:
                return

    async def _flush(self, batch: list[_Pending]) -> None:
        entries = [entry for pending in batch for entry in pending.entries]
        # A cluster client sends each node its share with redis-py's pipeline.
        packed = None if self._cluster else pack_xadds(entries)
        started = time.perf_counter()
        self.pipelines += 1
        try:
            try:
                replies = await self._send(entries, packed)
            except UNAVAILABLE:  # once more, on a fresh connection
                replies = await self._send(entries, packed)
        except UNAVAILABLE as e:
            reason = str(e) or type(e).__name__
            log.warning("Redis unavailable, %d request(s) answered 503: %s", len(batch), reason)
            _fail(batch, StoreUnavailable(reason))
            return
        if self._observe is not None:
            self._observe(len(entries), time.perf_counter() - started)
        _resolve(batch, replies)

    async def _send(self, entries: list[Entry], packed: bytes | None) -> list[object]:
        """Append ``entries`` (``packed``, on one Redis); one reply or error for each."""
        if packed is None:
            return await self._send_to_nodes(entries)
        assert isinstance(self._client, aioredis.Redis)
        return await resp.send(self._client, packed, len(entries))

    async def _send_to_nodes(self, entries: list[Entry]) -> list[object]:
        """On a cluster: redis-py's pipeline, which sends each node its entries (in
        order: a shard's stream lives on one node) and keeps a node's errors its own."""
        pipe = self._client.pipeline(transaction=False)
        for key, data in entries:
            pipe.execute_command("XADD", key, "*", "d", data)
        return await pipe.execute(raise_on_error=False)


def _resolve(batch: list[_Pending], replies: list[object]) -> None:
    """Hand each request the replies of its own entries (contiguous, in order)."""
    start = 0
    for pending in batch:
        end = start + len(pending.entries)
        ids = replies[start:end]
        start = end
        if pending.future.done():  # the client went away; its entries stand
            continue
        error = next((r for r in ids if isinstance(r, BaseException)), None)
        if error is not None and refusing(error):  # retry later (503), not a bug (500)
            error = StoreUnavailable(f"Redis refuses writes: {error}")
        if error is None:
            pending.future.set_result(ids)  # type: ignore[arg-type]
        else:
            pending.future.set_exception(error)


def _fail(batch: list[_Pending], error: Exception) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(error)
