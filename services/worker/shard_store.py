"""One shard's stream and state in Redis, as its runner uses them: every command it sends.

``ShardRunner`` (``shard.py``) holds the loop and its policy; this adapter
says how each step is asked of Redis, and raises only txflow's errors:
``StoreUnavailable`` for a Redis that is not there or takes no writes for now
(every method is ``store.translating``: the one place redis-py's errors are
turned into ours), ``Fenced`` and ``Gap`` for a refused commit. Anything else
is a bug or a corrupted key, raised as it is (the worker releases the shard).

The hot path keeps its speed: the XREADGROUP is packed once and its reply left
raw for ``batch.entries_of_read``, and the commit is packed by ``scripts.evalsha``.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from services.worker import backlog, commit
from services.worker.batch import Entry, Plan, entries_of
from services.worker.leases import Lease
from services.worker.scripts import Scripts, evalsha
from shared import resp
from shared.keys import GROUP, ShardKeys
from shared.parking import Parked
from shared.replicas import Replicas
from shared.settings import Settings
from shared.store import Client, translating


def _raw(response: Any, **options: Any) -> Any:
    return response


class ShardStore:
    """The Redis side of one shard's runner: ``worker_id``'s consumer of its inbox."""

    def __init__(
        self, client: Client, scripts: Scripts, settings: Settings, worker_id: str, shard: int
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.worker_id = worker_id
        self.keys = ShardKeys(shard)
        self.batch = settings.batch
        self.durable = Replicas(settings)  # a commit counts once replicas have it
        # XREADGROUP replies are read raw by batch.entries_of_read (the hot path).
        client.set_response_callback("XREADGROUP", _raw)
        self.read_command = resp.pack(
            "XREADGROUP", "GROUP", GROUP, worker_id, "COUNT", settings.batch,
            "BLOCK", settings.block_ms, "STREAMS", self.keys.inbox, ">",
        )  # fmt: skip
        self.block_ms = settings.block_ms

    @translating
    async def read(self) -> Any:
        """``XREADGROUP … COUNT batch BLOCK block_ms … >`` of this shard, raw."""
        if isinstance(self.client, aioredis.Redis):  # packed once (shared.resp)
            return await resp.execute(self.client, self.read_command)
        return await self.client.xreadgroup(
            GROUP, self.worker_id, {self.keys.inbox: ">"}, count=self.batch, block=self.block_ms
        )

    @translating
    async def claim_pending(self) -> None:
        """Move every entry pending in the group to this consumer (one more delivery each)."""
        cursor = "0-0"
        while True:
            cursor, _claimed, *_ = await self.client.xautoclaim(
                self.keys.inbox, GROUP, self.worker_id, 0, cursor, count=self.batch
            )
            if cursor in ("0-0", b"0-0"):
                break

    @translating
    async def forget_idle_consumers(self) -> None:
        """Delete the other consumers that own nothing (after a claim: dead workers')."""
        for consumer in await self.client.xinfo_consumers(self.keys.inbox, GROUP):
            if consumer["name"] != self.worker_id and consumer["pending"] == 0:
                await self.client.xgroup_delconsumer(self.keys.inbox, GROUP, consumer["name"])

    @translating
    async def last_delivered(self) -> str | None:
        """The ID the group delivered last (to whichever consumer); ``None`` before any."""
        for group in await self.client.xinfo_groups(self.keys.inbox):
            if group["name"] == GROUP:
                last = str(group["last-delivered-id"])
                return None if last == "0-0" else last
        return None

    @translating
    async def ckpt(self) -> str | None:
        """The ID of the last committed entry; ``None`` before the first commit."""
        ckpt: Any = await self.client.get(self.keys.ckpt)  # decode_responses=True: a str
        return None if ckpt is None else str(ckpt)

    @translating
    async def delivered_after(self, ckpt: str | None, last: str) -> list[Entry]:
        """A batch of the entries after ``ckpt`` up to ``last``, by ID (whoever holds them)."""
        start = "-" if ckpt is None else f"({ckpt}"
        rows: Any = await self.client.xrange(self.keys.inbox, start, last, count=self.batch)
        return entries_of(rows)

    @translating
    async def deliveries(self, first: str, last: str, count: int) -> dict[str, int]:
        """How many times each pending entry from ``first`` to ``last`` was delivered."""
        pending: list[dict[str, Any]] = await self.client.xpending_range(
            self.keys.inbox, GROUP, first, last, count
        )
        return {str(p["message_id"]): int(p["times_delivered"]) for p in pending}

    @translating
    async def load(self, keys: list[str], fields: list[str]) -> Any:
        """The fields asked of each account hash (``lua/load.lua``), in one round trip."""
        return await evalsha(self.client, self.scripts.load, keys, fields)

    @translating
    async def parked(self) -> dict[str, Parked]:
        """The shard's parked accounts, with why."""
        found: Any = await self.client.hgetall(self.keys.parked)
        return {str(a): Parked.decode(info) for a, info in found.items()}

    @translating
    async def seed_committed(self, lease: Lease) -> None:
        """Create the shard's committed count if it is missing (``backlog``)."""
        await backlog.seed_committed(self.client, self.scripts, self.keys, self.worker_id, lease)

    @translating
    async def commit(self, plan: Plan, keys: list[str], args: list[Any]) -> None:
        """Run the commit script (then ``WAIT`` for replicas, when asked); ``Fenced`` or
        ``Gap`` when it refused, ``ReplicasUnavailable`` when too few replicas have it."""
        reply = await evalsha(self.client, self.scripts.commit, keys, args, durable=self.durable)
        commit.check(reply, plan)

    @translating
    async def replicas_behind(self, target: int | None) -> int | None:
        """``None`` once the replicas have the writes up to offset ``target`` (``None``:
        the primary's offset now), else the offset to ask again with (``Replicas.caught_up``)."""
        return await self.durable.caught_up(self.client, target)

    @translating
    async def requests(self, count: int) -> list[tuple[str, dict[str, str]]]:
        """The first ``count`` operator requests of the shard (``control``)."""
        rows: Any = await self.client.xrange(self.keys.control, "-", "+", count)
        return [(str(request_id), fields) for request_id, fields in rows]

    @translating
    async def held(self, account: str, count: int) -> tuple[list[Any], int]:
        """The first ``count`` entries held for a parked account, and how many it holds."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.lrange(self.keys.held(account), 0, count - 1)
            pipe.llen(self.keys.held(account))
            rows, total = await pipe.execute()
        return rows, int(total)
