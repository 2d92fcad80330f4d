"""Reading the shards' outcome logs (``:out``, ``shared.outcomes``) from a position.

What ``waiters`` (``Prefer: wait``) and ``stream`` (``GET /v1/outcomes``)
share. A position is the last entry ID read, one per shard. On one Redis an
``XREAD BLOCK`` over every shard's log wakes on the first commit of any; on a
Redis Cluster the logs live in different slots, so each read is one
non-blocking ``XREAD`` per shard (one pipeline, grouped by node), and a read
that finds nothing sleeps ``POLL_S`` before the next. A Redis that is not
there raises ``StoreUnavailable`` (``store.translating``), never redis-py's errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from shared import keys, resp
from shared.outcomes import LoggedOutcome, unpack
from shared.store import Client, translating
from shared.streams import id_key

POLL_S = 0.02
"""A cluster reader's pause after a read that found nothing."""

Commit = tuple[int, str, list[LoggedOutcome]]
"""One ``:out`` entry: its shard, its ID and its outcomes."""


def _fields(flat: list[Any]) -> dict[Any, Any]:
    """An entry's fields as a RESP2 reply holds them (name, value, ...) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


class Outboxes:
    """The ``:out`` keys of a deployment and how to read them."""

    def __init__(self, client: Client, shards: int) -> None:
        self.client = client
        self.keys = [k.outbox for k in keys.shard_keys(shards)]
        self._shard = {key: s for s, key in enumerate(self.keys)}
        self._cluster = isinstance(client, aioredis.RedisCluster)

    @translating
    async def ends(self) -> list[str]:
        """The ID of each shard's newest entry (``0-0`` for an empty log): reading
        from there gets exactly what is committed from now on."""
        pipe = self.client.pipeline(transaction=False)
        for key in self.keys:
            pipe.xrevrange(key, "+", "-", count=1)
        return [last[0][0] if last else "0-0" for last in await pipe.execute()]

    @translating
    async def trimmed(self, positions: Sequence[str]) -> list[tuple[int, str]]:
        """The shards whose log may have lost entries after ``positions`` (capped
        away), each with its oldest entry kept.

        Trimming leaves no trace of what it removed (``max-deleted-entry-id``
        counts only XDEL), so: entries were removed (``entries-added`` over
        ``length``) and the position is older than the oldest kept. Conservative:
        a position that was the very last entry trimmed is reported too."""
        pipe = self.client.pipeline(transaction=False)
        for key in self.keys:
            pipe.xinfo_stream(key)
        lost = []
        for s, info in enumerate(await pipe.execute(raise_on_error=False)):
            if not isinstance(info, dict) or not info.get("first-entry"):
                continue  # no log yet (an error reply), or an empty one
            oldest = info["first-entry"][0]
            removed = int(info.get("entries-added", 0)) > int(info["length"])
            if removed and id_key(positions[s]) < id_key(oldest):
                lost.append((s, oldest))
        return lost

    @translating
    async def read(self, positions: list[str], *, block_ms: int, count: int) -> list[Commit]:
        """The commits after ``positions`` (updated in place), oldest first per shard;
        ``[]`` when none came within ``block_ms``."""
        if self._cluster:
            pipe = self.client.pipeline(transaction=False)
            for key, position in zip(self.keys, positions, strict=True):
                pipe.xread({key: position}, count=count)
            replies = [stream for reply in await pipe.execute() for stream in reply or ()]
            if not replies:
                await asyncio.sleep(POLL_S)
        else:
            # Packed by hiredis (resp.py): redis-py's packing of the 2 x shards
            # arguments was most of the reader's CPU.
            command = resp.pack(
                "XREAD", "COUNT", count, "BLOCK", block_ms, "STREAMS", *self.keys, *positions
            )
            found: Any = await resp.execute(self.client, command)  # type: ignore[arg-type]
            replies = [
                (key, [(entry_id, _fields(flat)) for entry_id, flat in entries])
                for key, entries in found or ()
            ]
        return self._commits(replies, positions)

    def _commits(self, replies: list[Any], positions: list[str]) -> list[Commit]:
        commits: list[Commit] = []
        for key, entries in replies:
            shard = self._shard[key]
            for entry_id, fields in entries:
                commits.append((shard, entry_id, unpack(fields)))
            if entries:
                positions[shard] = entries[-1][0]
        return commits
