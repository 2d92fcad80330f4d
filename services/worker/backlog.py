"""The count of committed entries that makes a shard's backlog exact.

``txflow:{s}:committed`` counts the entries of ``:in`` up to ``ckpt``; the commit
script adds each batch's size to it. A shard's backlog is then the stream's
``entries-added`` minus that count: both are kept by Redis and by us, through any
number of restarts, unlike the consumer group's ``entries-read``, which a reload
of the AOF can leave behind for good (Redis 7.0). Ingest's 429 and
``txflow status`` read it.

A deployment created before the count existed has none: the owner seeds it on
acquisition, before its first commit, from ``entries-added`` and the entries
still after ``ckpt`` (read once, in pages), fenced like a commit.
"""

from __future__ import annotations

from typing import Any

from services.worker.leases import Lease
from services.worker.scripts import Scripts, evalsha
from shared.keys import ShardKeys
from shared.store import Client

PAGE = 1000


async def seed_committed(
    client: Client, scripts: Scripts, keys: ShardKeys, worker_id: str, lease: Lease
) -> None:
    """Create the shard's committed count if it is missing (idempotent)."""
    if await client.exists(keys.committed):
        return
    info: dict[str, Any] = await client.xinfo_stream(keys.inbox)
    added = info.get("entries-added")
    if added is None:  # a server without the counter (before Redis 7.0): no exact backlog
        return
    ckpt: Any = await client.get(keys.ckpt)
    after = await count_after(client, keys.inbox, ckpt, str(info["last-generated-id"]))
    await evalsha(
        client,
        scripts.seed,
        [keys.lease, keys.epoch, keys.ckpt, keys.committed],
        [worker_id, lease.token, ckpt or "", int(added) - after],
    )


async def count_after(client: Client, stream: str, ckpt: str | None, last: str) -> int:
    """Entries of ``stream`` after ``ckpt`` (all of them when ``None``) up to ``last``."""
    count, start = 0, "-" if ckpt is None else f"({ckpt}"
    while True:
        rows: Any = await client.xrange(stream, start, last, count=PAGE)
        count += len(rows)
        if len(rows) < PAGE:
            return count
        start = f"({rows[-1][0]}"
