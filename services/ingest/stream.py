"""``GET /v1/outcomes``: the shards' outcome logs as Server-Sent Events, resumable.

One event per commit (a ``:out`` entry): ``event: outcomes``, its data
``{"shard", "commit", "outcomes": [...]}`` (only the account's with
``?account=``; a commit without any is not sent). The event's ``id`` is the
position in *every* shard's log, their entry IDs joined by ``,`` in shard
order: a client that reconnects with it as ``Last-Event-ID`` gets exactly
the commits after it, none twice and none missed, whichever ingest process
serves it. Without ``Last-Event-ID`` the stream starts now; with one whose
position the log has trimmed past (``TXFLOW_OUT_MAXLEN``) an ``event: gap``
names each shard that may have lost entries (read those from the account history).

Bounded: at most ``TXFLOW_MAX_STREAMS`` streams per process (``503``
beyond); each has a reader task filling a buffer of ``TXFLOW_STREAM_BUFFER``
commits. A client slower than that loses its connection (it resumes from its
last id), and one that stops reading is dropped by the connection guard
(``protocol.py``) after ``TXFLOW_BODY_TIMEOUT_S``. While nothing happens a
comment is sent every ``PING_S``. Each stream holds one Redis connection
(its blocking read).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypedDict

import orjson
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from services.ingest import problems
from services.ingest.outbox import Commit, Outboxes
from shared import records
from shared.errors import StoreUnavailable
from shared.outcomes import LoggedOutcome
from shared.records import AccountState
from shared.store import translated
from shared.streams import is_id

PING_S = 15.0
"""Seconds without an event after which a comment keeps proxies from closing."""
COUNT = 100
"""Commits read per ``XREAD`` at most."""
RETRY_MS = 1000
"""What the stream asks clients to wait before reconnecting (``retry:``)."""
_END = object()


def positions_of(last_event_id: str, shards: int) -> list[str]:
    """The positions a ``Last-Event-ID`` names; a ``Problem`` (422) if it names none."""
    found = last_event_id.split(",")
    if len(found) != shards or not all(map(is_id, found)):
        raise problems.invalid(
            f"Last-Event-ID is not an event id of this stream: {shards} stream IDs "
            "joined by ',' (the id of the last event received)",
            [],
        )
    return found


class OutcomeView(TypedDict):
    """One outcome of an ``outcomes`` event, as the stream sends it."""

    account_id: str
    tx_id: str
    type: str
    outcome: str
    reason: str | None
    stream_id: str
    account: AccountState | None  # the state after it (none for parked / dead)


def _outcome(o: LoggedOutcome) -> OutcomeView:
    state = o.get("s")
    return {
        "account_id": o["a"],
        "tx_id": o["t"],
        "type": o["y"],
        "outcome": o["o"],
        "reason": o.get("r"),
        "stream_id": o["e"],
        "account": None if state is None else records.account_view(o["a"], state),
    }


def event(commit: Commit, positions: list[str], account: str | None) -> bytes | None:
    """The SSE event of ``commit``, read up to ``positions``; ``None`` when filtered out."""
    shard, entry_id, outcomes = commit
    chosen = [_outcome(o) for o in outcomes if account is None or o["a"] == account]
    if not chosen:
        return None
    data = orjson.dumps({"shard": shard, "commit": entry_id, "outcomes": chosen})
    return b"id: %s\nevent: outcomes\ndata: %s\n\n" % (",".join(positions).encode(), data)


class Streams:
    """The open streams of one process, within ``max_streams``."""

    def __init__(
        self,
        outboxes: Outboxes,
        *,
        max_streams: int,
        buffer: int,
        block_ms: int,
        deadline_s: float,
    ) -> None:
        self._outboxes = outboxes
        self._deadline_s = deadline_s
        self._max = max_streams
        self._buffer = buffer
        self._block_ms = block_ms
        self.open = 0

    async def response(self, resume: list[str] | None, account: str | None) -> Response:
        """The stream from ``resume`` (``None``: from now); ``Problem`` 503 at the bound,
        ``StoreUnavailable`` when Redis does not tell where now is within the deadline."""
        if self.open >= self._max:
            raise problems.unavailable(
                f"{self.open} outcome streams are open (TXFLOW_MAX_STREAMS); retry later"
            )
        positions = resume
        if positions is None:
            async with translated(self._deadline_s):
                positions = await self._outboxes.ends()
        self.open += 1
        return _EventStream(self.events(positions, account, fresh=resume is None), self)

    async def events(
        self, positions: list[str], account: str | None, *, fresh: bool
    ) -> AsyncIterator[bytes]:
        """The stream's bytes from ``positions`` (``fresh``: taken now, no gap to check)."""
        queue: asyncio.Queue[Any] = asyncio.Queue(self._buffer + 1)
        reader = None
        try:
            yield b"retry: %d\n\n" % RETRY_MS
            if not fresh:
                for shard, oldest in await self._outboxes.trimmed(positions):
                    data = orjson.dumps({"shard": shard, "oldest_kept": oldest})
                    yield b"event: gap\ndata: %s\n\n" % data
            reader = asyncio.create_task(self._read(positions, account, queue))
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), PING_S)
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
                if item is _END:
                    return
                yield item
        except StoreUnavailable:
            return  # the client resumes from its last id
        finally:
            if reader is not None:
                reader.cancel()

    async def _read(
        self, positions: list[str], account: str | None, queue: asyncio.Queue[Any]
    ) -> None:
        """Fill ``queue`` with events, ``_END`` last: on overflow or a failed read.

        The queue holds one item more than the buffer: room for ``_END``."""
        try:
            while True:
                # Each event's id is the position after its commit: the read's start,
                # moved on one commit at a time.
                reached = list(positions)
                commits = await self._outboxes.read(positions, block_ms=self._block_ms, count=COUNT)
                for commit in commits:
                    reached[commit[0]] = commit[1]
                    data = event(commit, reached, account)
                    if data is None:
                        continue
                    if queue.qsize() >= self._buffer:  # the client reads slower than this
                        queue.put_nowait(_END)
                        return
                    queue.put_nowait(data)
        except StoreUnavailable:
            pass
        queue.put_nowait(_END)


class _EventStream(StreamingResponse):
    """A streaming response counted out of its ``Streams`` however it ends."""

    def __init__(self, content: AsyncIterator[bytes], streams: Streams) -> None:
        headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._streams = streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._streams.open -= 1
