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

The pipeline is sent by ``xadd.Sender``: packed by hand on one Redis, by
redis-py's cluster pipeline on a Redis Cluster.

Bounds (a stalled Redis must neither stall nor swell ingest):

- ``max_inflight`` entries at most are queued or in a pipeline not answered
  yet; a request that would pass it is refused at once (``Overloaded``, 503).
- A request is answered within ``deadline_s``: past it, ``StoreUnavailable``
  (503). Not sent yet, it is dropped from the queue and never appended; sent,
  it may be appended all the same.
- A pipeline gets ``deadline_s`` too. When it fails — no answer in time, or
  the connection lost twice (a pooled one may have died with a restarted
  Redis: once more on a fresh one) — Redis is taken as down: queued and new
  requests are refused at once (``down`` says why) while the flusher pings
  Redis, with backoff, until it answers. So a stall gets one pipeline, not
  one per deadline, and nothing waits on it.

Replicas (``TXFLOW_MIN_REPLICAS``, shared/replicas.py): the pipeline ends
with a ``WAIT`` on its connection, covering every append of it; too few
acknowledgements in time fail the whole pipeline's requests with 503 (the
entries stand on the primary: a retry is safe, as below). Redis is not taken
as down for it: each pipeline waits again, at most the replica timeout.

Harmless to the ledger: a client retries a 503 with the same ids, and the
worker deduplicates by ``(account_id, tx_id)``: appended twice, applied once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from redis import exceptions as rex

from services.ingest.xadd import Append, Sender
from shared.backoff import compute_backoff
from shared.errors import Overloaded, StoreUnavailable
from shared.outage import Outage
from shared.replicas import Replicas, ReplicasUnavailable
from shared.store import UNAVAILABLE, Client, late, refusing, unreachable

log = logging.getLogger("txflow.ingest")

_SOURCE = "appends"  # of the failures reported to a shared ``Outage``

Observer = Callable[[int, float], None]
"""Told the number of entries and the seconds of every pipeline sent."""


class _Pending:
    __slots__ = ("entries", "future")

    def __init__(self, entries: Sequence[Append], future: asyncio.Future[list[str]]) -> None:
        self.entries = entries
        self.future = future


class Appender:
    """Coalesces concurrent appends into one pipeline per round trip, within bounds."""

    def __init__(
        self,
        client: Client,
        *,
        deadline_s: float,
        max_inflight: int,
        observe: Observer | None = None,
        outage: Outage | None = None,
        replicas: Replicas | None = None,
    ) -> None:
        self._client = client
        self._replicas = replicas
        self._sender = Sender(client, deadline_s, replicas)
        self._deadline_s = deadline_s
        self._late = late(deadline_s)
        self._max_inflight = max_inflight
        self._observe = observe
        self._outage = outage or Outage(log, "ingest: Redis")
        self._queue: list[_Pending] = []
        self._inflight = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.down: str | None = None
        """Why Redis is taken as down (appends refused at once), or ``None``."""
        self.requests = 0
        """Calls to ``append`` so far."""
        self.pipelines = 0
        """Pipelines sent so far: fewer than ``requests`` when requests overlap."""

    @property
    def inflight(self) -> int:
        """Entries queued or in a pipeline not answered yet: at most ``max_inflight``."""
        return self._inflight

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="txflow-appender")

    async def close(self) -> None:
        """Flush what is queued, then stop the flusher."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def append(self, entries: Sequence[Append]) -> list[str]:
        """Append ``entries`` in order; their stream IDs once Redis has answered.

        Raises ``StoreUnavailable`` when Redis cannot be reached, refuses the
        writes, or does not answer within the deadline, and ``Overloaded`` at
        once when ``max_inflight`` would be passed.
        """
        if self._closing or self._task is None:
            raise StoreUnavailable("the appender is not running")
        if not entries:
            return []
        if self.down is not None:
            raise StoreUnavailable(self.down)
        if self._inflight + len(entries) > self._max_inflight:
            raise Overloaded(
                f"{self._inflight} entries are on their way to Redis already "
                f"(TXFLOW_MAX_INFLIGHT={self._max_inflight})"
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[str]] = loop.create_future()
        self._queue.append(_Pending(entries, future))
        self._inflight += len(entries)
        self.requests += 1
        self._wakeup.set()
        timer = loop.call_later(self._deadline_s, _expire, future, self._late)
        try:
            return await future
        finally:
            timer.cancel()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch = self._take()
            if batch:
                try:
                    await self._flush(batch)
                except Exception as e:  # never let one bad pipeline stop the flusher
                    log.exception("append pipeline failed")
                    _fail(batch, e)
            if self.down is not None:
                await self._recover()
            if self._closing and not self._queue:
                return

    def _take(self) -> list[_Pending]:
        """Everything queued that is still awaited; what is not (past its deadline,
        its request gone) is dropped unsent."""
        queued, self._queue = self._queue, []
        batch = []
        for pending in queued:
            if pending.future.done():
                self._inflight -= len(pending.entries)
            else:
                batch.append(pending)
        return batch

    async def _flush(self, batch: list[_Pending]) -> None:
        entries = [entry for pending in batch for entry in pending.entries]
        started = time.perf_counter()
        self.pipelines += 1
        try:
            replies = await self._sender.send(entries)
        except (TimeoutError, *UNAVAILABLE) as e:
            timeout = isinstance(e, TimeoutError)
            self._go_down(self._late if timeout else unreachable(e), self._late if timeout else e)
            _fail(batch, StoreUnavailable(self.down))
            return
        finally:
            self._inflight -= len(entries)
        if self._observe is not None:
            self._observe(len(entries), time.perf_counter() - started)
        if self._replicas:
            try:
                self._replicas.check(replies.pop())
            except ReplicasUnavailable as e:
                self._outage.failed(e, _SOURCE)
                _fail(batch, e)
                return
        refused = _resolve(batch, replies)
        if refused is None:
            self._outage.ok(_SOURCE)
        else:
            self._outage.failed(refused, _SOURCE)

    def _go_down(self, reason: str, error: BaseException | str) -> None:
        """Refuse appends from now on, and those queued, until Redis answers again."""
        self.down = reason
        self._outage.failed(error, _SOURCE)
        _fail(self._take(), StoreUnavailable(reason))

    async def _recover(self) -> None:
        """Ping Redis, with backoff, until it answers within the deadline (or closing)."""
        attempt = 0
        while self.down is not None and not self._closing:
            try:
                async with asyncio.timeout(self._deadline_s):
                    await self._client.ping()
            except (TimeoutError, *UNAVAILABLE) as e:
                self._outage.failed(self._late if isinstance(e, TimeoutError) else e, _SOURCE)
                pause = compute_backoff(attempt, base=0.05, max_backoff=1.0)
                with contextlib.suppress(TimeoutError):  # close() cuts the pause short
                    await asyncio.wait_for(self._wakeup.wait(), pause)
                attempt += 1
                continue
            except rex.ResponseError:
                pass  # it answers (MISCONF refuses even PING): appends will say the rest
            self.down = None
            self._outage.ok(_SOURCE)


def _expire(future: asyncio.Future[list[str]], message: str) -> None:
    """The request's deadline: answer 503; unsent, its entries are dropped (``_take``)."""
    if not future.done():
        future.set_exception(StoreUnavailable(message))


def _resolve(batch: list[_Pending], replies: list[object]) -> BaseException | None:
    """Hand each request the replies of its own entries (contiguous, in order).

    Returns the first error meaning "Redis takes no writes now" (OOM, a replica,
    a cluster node down), if any: the requests with one get ``StoreUnavailable``.
    """
    unavailable = None
    start = 0
    for pending in batch:
        end = start + len(pending.entries)
        ids = replies[start:end]
        start = end
        error = next((r for r in ids if isinstance(r, BaseException)), None)
        if error is not None and refusing(error):  # retry later (503), not a bug (500)
            unavailable = unavailable or error
            error = StoreUnavailable(f"Redis refuses writes: {error}")
        elif isinstance(error, UNAVAILABLE):  # a cluster node down
            unavailable = unavailable or error
        if pending.future.done():  # past its deadline; its entries stand
            continue
        if error is None:
            pending.future.set_result(ids)  # type: ignore[arg-type]
        else:
            pending.future.set_exception(error)
    return unavailable


def _fail(batch: list[_Pending], error: Exception) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(error)
