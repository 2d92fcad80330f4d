"""One owned shard: claim what is pending, then read, decide and commit in batches.

Claimed entries are processed before new ones: the previous owner may have
read them, in order, before it died. ``ckpt`` is the truth about progress and
every commit is fenced and checked for contiguity by ``lua/commit.lua``, so a
runner may stop at any instant without losing or doubling anything.

The runner holds the loop and its policy; every Redis command is its
``ShardStore``'s (``shard_store.py``), which raises only txflow's errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from services.worker import batch, commit, control, policy
from services.worker.batch import Entry, Plan, Planner, entries_of_read
from services.worker.cache import AccountCache
from services.worker.leases import Lease
from services.worker.loader import Loader
from services.worker.shard_store import ShardStore
from shared.backoff import compute_backoff
from shared.errors import Fenced, Gap, InvalidInput, ProcessingFailed, StoreUnavailable
from shared.model import Tx
from shared.outage import Outage
from shared.parking import Parked
from shared.replicas import ReplicasUnavailable
from shared.settings import Settings
from shared.streams import id_key, trim_floor

log = logging.getLogger("txflow.worker")


class Redeliver(Exception):
    """Processing an entry raised; it must be delivered again (after a sync)."""


class ShardRunner:
    def __init__(
        self,
        store: ShardStore,
        settings: Settings,
        lease: Lease,
        *,
        burst: bool = False,
        outage: Outage | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.worker_id = store.worker_id
        self.lease = lease
        self.shard = lease.shard
        self.keys = store.keys
        self.burst = burst
        self.outage = outage or Outage(log, f"shard {lease.shard}: Redis")  # logs once per outage
        # The budget is for a worker owning every shard; each shard has its part.
        accounts = max(100, settings.cache_max_accounts // settings.shards)
        records = max(1000, settings.cache_max_records // settings.shards)
        self.cache = AccountCache(settings.cache_idle_s, accounts, max_records=records)
        self.loader = Loader(store, self.cache)
        self.ckpt: str | None = None
        self.parked: dict[str, Parked] = {}  # the shard's parked accounts (loaded by sync)
        self.control_due = 0.0  # when operator requests must be looked for next (monotonic)
        self.claimed = False  # a claim of everything pending completed since the runner began
        self.stopping = asyncio.Event()
        self.processed = 0
        self.outs_per_commit = 1.0  # a moving average, for the cap of :out
        self.behind: int | None = None  # after a WAIT fell short: the offset replicas must reach
        self.raised: dict[str, int] = {}  # entry id → times its processing raised here

    def stop(self) -> None:
        """Finish the batch in hand, commit it, and return."""
        self.stopping.set()

    async def run(self) -> None:
        failures = 0
        synced = False
        claim = True
        while not self.stopping.is_set():
            try:
                if self.behind is not None:
                    await self.wait_for_replicas()
                if not synced:
                    await self.sync(claim=claim)  # commits what was pending: Redis works
                    synced, claim = True, True
                    self.outage.ok(self.shard)
                if not await self.step():  # idle: a good moment to look for stolen entries
                    if await self.stolen():
                        synced = False
                    elif self.burst:
                        return
                failures = 0
                self.outage.ok(self.shard)
            except (Gap, Redeliver) as e:
                log.info("shard %d: %s; syncing from ckpt", self.shard, e)
                if isinstance(e, Gap):
                    # The refused batch may be committed after all: redis-py re-sends a
                    # command whose reply a broken connection lost, and the second run
                    # finds ckpt moved on. The cache lacks that batch: forget it.
                    self.cache.clear()
                synced = False
            except Fenced as e:
                log.warning("shard %d: fenced (%s); dropping it", self.shard, e)
                return
            except StoreUnavailable as e:
                # The last commit may or may not have happened: forget the cache.
                self.cache.clear()
                synced = False
                # What this runner claimed is still its own. Claiming it again would
                # count a delivery that no processing made, and a few outages (or, on
                # a cluster, another node's) would send healthy entries to the DLQ.
                claim = not self.claimed
                delay = compute_backoff(failures, max_backoff=self.settings.backoff_max_s)
                if isinstance(e, ReplicasUnavailable):  # -1: the primary's offset, when asked
                    self.behind = -1 if self.behind is None else self.behind
                elif self.behind is not None:
                    self.behind = -1  # the primary may have changed: ask it its offset
                self.outage.failed(e, self.shard)
                failures += 1
                await asyncio.sleep(delay)

    async def wait_for_replicas(self) -> None:
        """Raise ``ReplicasUnavailable`` until the replicas have what was committed."""
        target = None if self.behind == -1 else self.behind
        self.behind = await self.store.replicas_behind(target)
        if self.behind is not None:
            raise ReplicasUnavailable("the replicas have not caught up with the last commit")

    async def step(self) -> bool:
        """Read new entries and commit them, and carry out operator requests (when idle,
        and at least every ``block_ms`` under load); false when there was nothing to do."""
        entries = entries_of_read(await self.store.read())
        if entries:
            await self.process(entries, claimed=False)
        else:
            self.cache.evict_idle()
        if entries and time.monotonic() < self.control_due:
            return True
        self.control_due = time.monotonic() + self.settings.block_ms / 1000
        return await control.carry_out(self) or bool(entries)

    async def sync(self, *, claim: bool = True) -> None:
        """Take over everything pending (when ``claim``), process all delivered after ckpt.

        Entries are read from the stream by ID, whoever they are pending to, and
        the commit acknowledges them all: the claim only moves them to this
        consumer and counts one more delivery (see ``over_delivered``).
        """
        if not self.lease.valid:  # a runner paused past its lease claims nothing
            raise Fenced("lease not renewed in time")
        if claim:
            await self.store.claim_pending()
            self.claimed = True
            await self.store.forget_idle_consumers(self.lease)  # keep the group tidy
        await self.store.seed_committed(self.lease)
        self.parked = await self.store.parked()
        last = await self.store.last_delivered()
        self.ckpt = await self.store.ckpt()
        while last is not None and (self.ckpt is None or id_key(self.ckpt) < id_key(last)):
            entries = await self.store.delivered_after(self.ckpt, last)
            if not entries:
                break
            await self.process(entries, claimed=True)

    async def stolen(self) -> bool:
        """Whether entries after ckpt were delivered elsewhere (a zombie's late read)."""
        last = await self.store.last_delivered()
        return last is not None and (self.ckpt is None or id_key(last) > id_key(self.ckpt))

    async def process(self, entries: list[Entry], *, claimed: bool) -> None:
        txs = batch.decode_all(entries)
        unreadable = await self.loader.load(txs, self.parked)
        # Entries that park their account, and why: given up on, or state unreadable.
        doomed = await self.over_delivered(entries) if claimed else {}
        doomed |= batch.first_entries(entries, txs, unreadable)
        while True:
            try:
                plan = self.plan(entries, txs, doomed)
            except ProcessingFailed as failed:
                entry, error = entries[failed.index], failed.error
                self.raised[entry.id] = raised = self.raised.get(entry.id, 0) + 1
                # XPENDING's count, unless no pending list holds the entry any more
                # (a consumer deleted with it): then what this runner saw itself
                deliveries = max(await self.deliveries(entry.id), raised)
                if policy.exhausted(deliveries, self.settings.max_deliveries):
                    doomed[entry.id] = f"processing raised {deliveries} times: {error!r}"
                    continue
                upto = failed.index  # what precedes it is committed, unless it fails too
                with contextlib.suppress(ProcessingFailed):
                    prefix = self.plan(entries[:upto], txs[:upto], doomed)
                    if prefix.ids:
                        await self.commit(prefix)
                why = f"entry {entry.id} raised {error!r} (delivery {deliveries})"
                raise Redeliver(why) from error
            await self.commit(plan)
            return

    def plan(
        self, entries: list[Entry], txs: list[Tx | InvalidInput], doomed: dict[str, str]
    ) -> Plan:
        """The plan deciding ``entries``; raises ``ProcessingFailed`` at the first that raised."""
        planner = Planner(self.keys, self.cache, self.parked)
        parked, add = planner.parked, planner.add
        for index, (entry, tx) in enumerate(zip(entries, txs, strict=True)):
            if isinstance(tx, InvalidInput):
                planner.add_dead(entry, None, f"undecodable: {tx}")
            elif parked and tx.account_id in parked:
                planner.hold(entry, tx)
            elif doomed and entry.id in doomed:
                planner.park(entry, tx, Parked(doomed[entry.id], int(time.time() * 1000)))
            else:
                try:
                    add(entry, tx)
                except Exception as e:  # a bug or a poison entry: never a half-made plan
                    raise ProcessingFailed(index, e) from e
        return planner.finish()

    async def over_delivered(self, entries: list[Entry]) -> dict[str, str]:
        """Claimed entries whose earlier deliveries all failed, too many times: given up on."""
        pending = await self.store.deliveries(entries[0].id, entries[-1].id, len(entries))
        limit = self.settings.max_deliveries
        return {
            entry_id: f"delivered {times} times without a commit"
            for entry_id, times in pending.items()
            # this claim counted a delivery of its own: the earlier ones failed
            if policy.exhausted(times - 1, limit)
        }

    async def deliveries(self, entry_id: str) -> int:
        return (await self.store.deliveries(entry_id, entry_id, 1)).get(entry_id, 1)

    async def commit(self, plan: Plan) -> None:
        if not self.lease.valid:
            raise Fenced("lease not renewed in time")
        keys, args = self.commit_args(plan)
        await self.store.commit(plan, keys, args)
        plan.install(self.cache, self.parked)
        self.cache.evict_idle()
        for account_id, info in plan.parking.parked.items() if plan.parking else ():
            if info is not None:
                log.warning("shard %d: account %s parked: %s", self.shard, account_id, info.reason)
        if plan.from_inbox:
            self.ckpt = plan.ids[-1]
            self.processed += len(plan.ids)
            if self.raised:  # committed: decided, parked or dead-lettered
                self.raised = {i: n for i, n in self.raised.items() if i not in plan.ids}

    def commit_args(self, plan: Plan) -> tuple[list[str], list[Any]]:
        # :out holds one entry per commit: capped at out_maxlen outcomes' worth of
        # entries of the recent average size, it keeps about out_maxlen outcomes.
        self.outs_per_commit += (len(plan.outs) - self.outs_per_commit) / 20
        out_entries = policy.out_entries(self.settings.out_maxlen, self.outs_per_commit)
        trim = trim_floor(plan.ids[-1], self.settings.in_retention_ms) if plan.from_inbox else ""
        return commit.arguments(
            self.keys, plan, self.worker_id, self.lease.token, out_entries, trim
        )
