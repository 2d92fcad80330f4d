"""Waiters for outcomes: one reader of the shards' ``:out`` logs per ingest process.

A request with ``Prefer: wait`` registers one ``Waiter`` per transaction,
keyed by ``(account_id, tx_id)``, *before* its entries are appended; the
reader resolves each with the outcome whose ``:in`` entry ID (``e``) is the
one its append got. An outcome that arrives before the append has answered
(its ID not known yet) is kept on the waiter and matched when it is.

The reader starts with the first waiter: it takes every log's newest ID
first (``Outboxes.ends``), and a registration returns only once it has, so an
outcome committed after the append is read whatever the timing. It stops
when no one has waited for ``IDLE_S``: the header unused costs nothing.

Bounded: at most ``max_waiters`` transactions wait at once (``register``
answers ``None`` beyond, and the request is answered as without the
header). A read failing (Redis down) is retried with backoff; waiters meanwhile
wait out their own deadline, then fall back to the records (``wait.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from services.ingest.outbox import Outboxes
from shared.backoff import compute_backoff
from shared.errors import StoreUnavailable
from shared.outcomes import LoggedOutcome

log = logging.getLogger("txflow.ingest")

IDLE_S = 10.0
"""How long the reader runs on with no one waiting before it stops."""
COUNT = 1000
"""Commits read per ``XREAD`` at most."""


class Request:
    """The waiters of one request: ``done`` once every one has its outcome."""

    __slots__ = ("done", "undecided")

    def __init__(self, done: asyncio.Future[None], undecided: int) -> None:
        self.done = done
        self.undecided = undecided


class Waiter:
    """One transaction waited for: its ``outcome`` once its entry is decided."""

    __slots__ = ("early", "key", "outcome", "request", "stream_id")

    def __init__(self, key: tuple[str, str], request: Request) -> None:
        self.key = key
        self.request = request
        self.stream_id: str | None = None
        self.early: list[LoggedOutcome] = []
        self.outcome: LoggedOutcome | None = None

    def bind(self, stream_id: str) -> None:
        """The append answered: ``stream_id`` is this transaction's entry."""
        self.stream_id = stream_id
        for outcome in self.early:
            self.offer(outcome)
        self.early.clear()

    def offer(self, outcome: LoggedOutcome) -> None:
        if self.stream_id is None:
            self.early.append(outcome)
        elif outcome["e"] == self.stream_id and self.outcome is None:
            self.outcome = outcome
            request = self.request
            request.undecided -= 1
            if not request.undecided and not request.done.done():
                request.done.set_result(None)


class Waiters:
    """The registry of waiters and the reader resolving them."""

    def __init__(self, outboxes: Outboxes, *, max_waiters: int, block_ms: int) -> None:
        self._outboxes = outboxes
        self._max = max_waiters
        self._block_ms = block_ms
        self._by_key: dict[tuple[str, str], list[Waiter]] = {}
        self.count = 0
        """Transactions waited for now: at most ``max_waiters``."""
        self._task: asyncio.Task[None] | None = None
        self._started: asyncio.Future[None] | None = None
        self._idle_since = time.monotonic()

    def register(self, pairs: Sequence[tuple[str, str]]) -> list[Waiter] | None:
        """A waiter per ``(account_id, tx_id)``, all of one ``Request``; ``None`` when
        they would pass the bound."""
        if self.count + len(pairs) > self._max:
            return None
        request = Request(asyncio.get_running_loop().create_future(), len(pairs))
        made = []
        for key in pairs:
            waiter = Waiter(key, request)
            self._by_key.setdefault(key, []).append(waiter)
            made.append(waiter)
        self.count += len(made)
        return made

    def release(self, waiters: Sequence[Waiter]) -> None:
        for waiter in waiters:
            same = self._by_key.get(waiter.key)
            if same is not None:
                same.remove(waiter)
                if not same:
                    del self._by_key[waiter.key]
        self.count -= len(waiters)
        if not self.count:
            self._idle_since = time.monotonic()

    @property
    def reading(self) -> bool:
        """The reader runs and has its start positions: ``started`` would return at once."""
        started, task = self._started, self._task
        return started is not None and started.done() and task is not None and not task.done()

    async def started(self) -> None:
        """Return once the reader reads every log from a position no later than now."""
        if self._started is None or (self._task is not None and self._task.done()):
            self._started = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run(self._started), name="txflow-waiters")
        await asyncio.shield(self._started)

    async def close(self) -> None:
        task, self._task, self._started = self._task, None, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self, started: asyncio.Future[None]) -> None:
        failures = 0
        positions: list[str] | None = None
        while True:
            try:
                if positions is None:
                    positions = await self._outboxes.ends()
                    started.set_result(None)
                commits = await self._outboxes.read(positions, block_ms=self._block_ms, count=COUNT)
                failures = 0
            except Exception as e:  # never let the reader die: waiters fall back to records
                failures += 1
                if failures == 1:
                    log.warning(
                        "outcome reader: %s (retrying)",
                        e,
                        exc_info=not isinstance(e, StoreUnavailable),
                    )
                await asyncio.sleep(compute_backoff(failures, max_backoff=2.0))
                continue
            by_key = self._by_key
            for _shard, _entry, outcomes in commits:
                for outcome in outcomes:
                    for waiter in by_key.get((outcome["a"], outcome["t"]), ()):
                        waiter.offer(outcome)
            if not self.count and time.monotonic() - self._idle_since > IDLE_S:
                # No await between this check and the reset: a registration after
                # it starts a new reader.
                self._task = self._started = None
                return
