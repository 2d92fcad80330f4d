"""A worker process: membership, shard ownership and the shard runners.

Every ``lease_ttl/3`` the worker heartbeats, renews its leases, and moves
towards its share ``ceil(N / live workers)``: it acquires free shards or
releases the ones above its share (each after its in-flight batch is
committed). A lease that could not be renewed in time stops its runner.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from typing import Any

from services.worker import shares
from services.worker.leases import Leases
from services.worker.scripts import Scripts
from services.worker.shard import ShardRunner
from services.worker.shard_store import ShardStore
from shared import replicas
from shared.deployment import ensure_deployment
from shared.errors import ConfigError, StoreUnavailable
from shared.outage import Outage
from shared.settings import Settings
from shared.store import Client

log = logging.getLogger("txflow.worker")
EAGER_TICK_S = 0.25


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class Worker:
    def __init__(
        self,
        settings: Settings,
        client: Client,
        worker_id: str | None = None,
        *,
        burst: bool = False,
    ) -> None:
        self.settings = settings
        self.client = client
        self.id = worker_id or default_worker_id()
        self.burst = burst
        self.scripts = Scripts.register(client)
        self.leases = Leases(client, self.scripts, self.id, settings.lease_ttl_ms)
        # One log line per Redis outage, shared by the tick and every shard runner.
        self.outage = Outage(log, f"worker {self.id}: Redis")
        self.order = shares.preference(self.id, settings.shards)
        self.runners: dict[int, tuple[ShardRunner, asyncio.Task[None]]] = {}
        self.stopping = asyncio.Event()
        self.drained: set[int] = set()  # burst mode: shards emptied, not to be taken again
        self.target = 0
        self.eager_until = 0.0  # tick quickly until then: waiting for shards to be released

    @property
    def ttl_ms(self) -> int:
        return self.settings.lease_ttl_ms

    def request_stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        """Own shards until asked to stop (or, in burst mode, until all are drained)."""
        await ensure_deployment(self.client, self.settings.shards)
        why = await replicas.problem(self.settings, self.client)
        if why is not None:
            raise ConfigError(why)
        log.info("worker %s started (lease %d ms)", self.id, self.ttl_ms)
        try:
            while not self.stopping.is_set():
                try:
                    await self.tick()
                    self.outage.ok("tick")
                except StoreUnavailable as e:
                    self.outage.failed(e, "tick")
                except Exception as e:
                    # While a cluster node goes down, redis-py's cluster client can fail
                    # a command with an internal error (AttributeError, RuntimeError on a
                    # closed transport); the next tick starts afresh, leases stay fenced.
                    self.outage.failed(e, "tick", traceback=True)
                if self.burst and self.drained and not self.runners:
                    break
                await self.pause()
        finally:
            await self.shutdown()

    async def pause(self) -> None:
        """Wait for the next tick, a stop request, or (in burst mode) a runner finishing."""
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self.stopping.wait())]
        if self.burst:
            waits += [task for _, task in self.runners.values()]
        timeout = self.ttl_ms / 3000
        if time.monotonic() < self.eager_until:
            timeout = min(timeout, EAGER_TICK_S)
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waits[0].cancel()

    async def tick(self) -> None:
        await self.forget_finished()
        # Leases first: on a cluster, the node holding txflow:workers may be the
        # one that is down, and the shards on the other nodes must keep going.
        await self.renew()
        live = await self.leases.heartbeat()
        target = shares.target_share(self.settings.shards, len(live))
        others = [s for s in range(self.settings.shards) if s not in self.runners]
        free = await self.leases.free(others) - self.drained
        moves = shares.plan(set(self.runners), free, target, self.order)
        for shard in moves.acquire:
            await self.acquire(shard)
        if target != self.target:
            # The share changed (a worker came or went): others release at their
            # next tick, so look again soon for a while instead of a whole tick later.
            self.target = target
            self.eager_until = time.monotonic() + self.ttl_ms / 1000
        if len(self.runners) >= target:
            self.eager_until = 0.0
        if moves.release:
            await asyncio.gather(*(self.release(s) for s in moves.release))

    async def forget_finished(self) -> None:
        """Runners end by themselves when drained (burst) or fenced: give their leases up."""
        for shard, (_, task) in list(self.runners.items()):
            if task.done():
                await self.release(shard)
                if self.burst:
                    self.drained.add(shard)

    async def renew(self) -> None:
        """Extend every lease we hold; a lease found lost stops its runner at once."""
        if not self.runners:
            return
        shards = list(self.runners)
        renewed = await self.leases.renew([self.runners[s][0].lease for s in shards])
        for shard, ok in zip(shards, renewed, strict=True):
            if ok is False:
                log.warning("worker %s lost shard %d", self.id, shard)
                self.runners.pop(shard)[1].cancel()  # stop at once; the commit is fenced anyway
                self.outage.ok(shard)  # its runner tries no more
        failures = [e for e in renewed if isinstance(e, BaseException)]
        unexpected = [e for e in failures if not isinstance(e, StoreUnavailable)]
        if unexpected:
            raise unexpected[0]
        if failures:
            self.outage.failed(failures[0], "renew")
        else:
            self.outage.ok("renew")

    async def acquire(self, shard: int) -> None:
        lease = await self.leases.acquire(shard)
        if lease is None:
            return  # another worker was faster
        store = ShardStore(self.client, self.scripts, self.settings, self.id, shard)
        runner = ShardRunner(store, self.settings, lease, burst=self.burst, outage=self.outage)
        task = asyncio.create_task(runner.run(), name=f"shard-{shard}")
        self.runners[shard] = (runner, task)
        log.info("worker %s acquired shard %d (epoch %d)", self.id, shard, lease.token)

    async def release(self, shard: int) -> None:
        """Let the runner commit its batch, then give the lease up for the next owner."""
        runner, task = self.runners.pop(shard)
        runner.stop()
        # A runner that failed is logged, never re-raised: the lease must still go,
        # and the worker must live on (redis-py's cluster client can fail a command
        # with an internal error, not a ConnectionError, while a node goes down).
        await asyncio.wait([task])
        self.outage.ok(shard)  # its runner tries no more
        if not task.cancelled() and task.exception() is not None:
            log.error("shard %d runner failed", shard, exc_info=task.exception())
        await self.leases.release(shard)
        log.info("worker %s released shard %d (%d entries)", self.id, shard, runner.processed)

    async def shutdown(self) -> None:
        await asyncio.gather(*(self.release(s) for s in list(self.runners)))
        await self.leases.resign()
        log.info("worker %s stopped", self.id)
