"""A worker's membership and its shard leases: every Redis operation of their lifecycle.

Membership is a heartbeat in ``txflow:workers`` (a sorted set scored by expiry).
A lease is ``SET lease worker_id NX PX ttl`` plus ``INCR epoch`` (the fencing
token), renewed every ttl/3 while it is still ours, deleted when given up.
The worker decides *when* (``worker.py``: shares, runners); this module says
*how*, in one place, through the scripts of ``lua/``. A Redis that is not
there raises ``StoreUnavailable`` (``store.translating``), never redis-py's errors.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from services.worker.scripts import Scripts, evalsha
from shared import keys
from shared.errors import StoreUnavailable
from shared.keys import GROUP, ShardKeys
from shared.store import Client, translating


@dataclass(slots=True)
class Lease:
    """Ownership of a shard: the fencing token and until when it is surely ours."""

    shard: int
    token: int
    valid_until: float  # time.monotonic()

    @property
    def valid(self) -> bool:
        return time.monotonic() < self.valid_until


class Leases:
    """One worker's heartbeat and leases, against one Redis (or Cluster)."""

    def __init__(self, client: Client, scripts: Scripts, worker_id: str, ttl_ms: int) -> None:
        self.client = client
        self.scripts = scripts
        self.worker_id = worker_id
        self.ttl_ms = ttl_ms

    @translating
    async def heartbeat(self) -> list[str]:
        """Say this worker is alive for one more TTL; the live workers, this one included."""
        live: list[str] = await evalsha(
            self.client, self.scripts.heartbeat, [keys.WORKERS], [self.worker_id, self.ttl_ms]
        )
        return live

    @translating
    async def free(self, shards: list[int]) -> set[int]:
        """Those of ``shards`` that nobody holds a lease on."""
        async with self.client.pipeline(transaction=False) as pipe:
            for shard in shards:
                pipe.exists(ShardKeys(shard).lease)
            taken = await pipe.execute()
        return {s for s, t in zip(shards, taken, strict=True) if not t}

    @translating
    async def acquire(self, shard: int) -> Lease | None:
        """Take a free shard and bump its epoch; ``None`` when another worker was faster.

        The lease counts from before the call was sent: it is surely ours until then + ttl.
        """
        sent = time.monotonic()
        k = ShardKeys(shard)
        args: list[str | int] = [self.worker_id, self.ttl_ms]
        token = await evalsha(self.client, self.scripts.acquire, [k.lease, k.epoch], args)
        return None if token is None else Lease(shard, int(token), sent + self.ttl_ms / 1000)

    async def renew(self, leases: list[Lease]) -> list[bool | BaseException]:
        """Extend each lease still ours; per lease: renewed, lost, or the error met.

        One script call per lease, all at once: a cluster pipeline cannot run
        scripts, and a cluster node that is down must not keep the shards on
        the other nodes from being renewed. A lease whose renewal failed keeps
        its old deadline: its runner stops committing when that passes.
        """
        sent = time.monotonic()
        calls = (self.renew_one(lease) for lease in leases)
        renewed = await asyncio.gather(*calls, return_exceptions=True)
        for lease, ok in zip(leases, renewed, strict=True):
            if ok and not isinstance(ok, BaseException):
                lease.valid_until = sent + self.ttl_ms / 1000
        return [ok if isinstance(ok, BaseException) else bool(ok) for ok in renewed]

    @translating
    async def renew_one(self, lease: Lease) -> Any:
        k = ShardKeys(lease.shard)
        return await evalsha(
            self.client, self.scripts.renew, [k.lease], [self.worker_id, self.ttl_ms]
        )

    async def release(self, shard: int) -> None:
        """Give the lease up (only if still ours) and leave the shard's group when idle.

        Best effort: a Redis that is down lets the lease expire by itself.
        """
        with suppress(StoreUnavailable):
            await self.give_up(ShardKeys(shard))

    @translating
    async def give_up(self, k: ShardKeys) -> None:
        await evalsha(self.client, self.scripts.release, [k.lease], [self.worker_id])
        # Only a consumer with nothing pending may be deleted: its entries would vanish.
        for consumer in await self.client.xinfo_consumers(k.inbox, GROUP):
            if consumer["name"] == self.worker_id and consumer["pending"] == 0:
                await self.client.xgroup_delconsumer(k.inbox, GROUP, self.worker_id)

    async def resign(self) -> None:
        """Leave the live workers at once (their shares grow at their next tick)."""
        with suppress(StoreUnavailable):
            await translating(self.client.zrem)(keys.WORKERS, self.worker_id)
