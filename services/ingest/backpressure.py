"""Backpressure: every shard's lag, refreshed in the background, read from a cache.

A shard's lag is what its workers still owe: entries not yet delivered to the
group plus entries delivered but not acknowledged (pending). When it passes
``max_lag``, ingest answers ``429`` for transactions of that shard instead of
trimming the stream: accepted work is never dropped.

How the lag is counted, exactly through any Redis restart: ``shared/lag.py``.

Requests never query Redis for this: one background task refreshes every
shard's lag in one pipeline every ``lag_refresh_ms`` and requests read the
cached set of shards over the limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence

from shared import keys
from shared.errors import StoreUnavailable
from shared.lag import backlog, shard_lag
from shared.outage import Outage
from shared.store import Client, translated

log = logging.getLogger("txflow.ingest")


class LagMonitor:
    """Caches each shard's lag; ``hot`` is the set of shards over ``max_lag``."""

    def __init__(
        self,
        client: Client,
        shards: int,
        *,
        max_lag: int,
        interval_s: float,
        deadline_s: float,
        observe: Callable[[Sequence[int]], None] | None = None,
        outage: Outage | None = None,
    ) -> None:
        self._client = client
        self._deadline_s = deadline_s
        self._outage = outage or Outage(log, "ingest: lag monitor")
        self._shards = keys.shard_keys(shards)
        self._max_lag = max_lag
        self._interval_s = interval_s
        self._observe = observe
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.lags: list[int] = [0] * shards
        self.hot: frozenset[int] = frozenset()
        self.refreshes = 0
        """Successful refreshes so far."""

    def over_limit(self, shards: Iterable[int]) -> frozenset[int]:
        """Those of ``shards`` whose lag is over the limit (empty: go ahead)."""
        if not self.hot:
            return self.hot
        return self.hot.intersection(shards)

    async def refresh(self) -> None:
        """Read every shard's lag (within the deadline) and update the cache."""
        async with translated(self._deadline_s, public=False):
            self.lags = await read_lags(self._client, self._shards)
        self.hot = frozenset(s for s, lag in enumerate(self.lags) if lag > self._max_lag)
        self.refreshes += 1
        if self._observe is not None:
            self._observe(self.lags)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="txflow-lag-monitor")

    async def stop(self) -> None:
        # The flag as well as the cancel: redis-py (8.1, asyncio) sometimes
        # swallows a cancellation that lands inside a pipeline, and the task
        # would go on refreshing for ever.
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.refresh()
                self._outage.ok(_SOURCE)
            except StoreUnavailable as e:  # the last lags stand meanwhile
                if not self._stopping:
                    self._outage.failed(e, _SOURCE)
            except Exception:
                log.exception("lag monitor: refresh failed")
            await asyncio.sleep(self._interval_s)


_SOURCE = "lag monitor"  # of the failures reported to a shared ``Outage``


async def read_lags(client: Client, shards: Sequence[keys.ShardKeys]) -> list[int]:
    """Every shard's lag: one pipeline, and one more for shards without a committed count."""
    async with client.pipeline(transaction=False) as pipe:
        for k in shards:
            pipe.xinfo_stream(k.inbox)
            pipe.get(k.committed)
        replies = await pipe.execute(raise_on_error=False)
    lags = [backlog(replies[2 * i], replies[2 * i + 1]) for i in range(len(shards))]
    unknown = [i for i, lag in enumerate(lags) if lag is None]
    if unknown:
        async with client.pipeline(transaction=False) as pipe:
            for i in unknown:
                pipe.xinfo_groups(shards[i].inbox)
                pipe.xlen(shards[i].inbox)
            replies = await pipe.execute(raise_on_error=False)
        for n, i in enumerate(unknown):
            lags[i] = shard_lag(replies[2 * n], _length(replies[2 * n + 1]))
    return [lag or 0 for lag in lags]


def _length(reply: object) -> int:
    return reply if isinstance(reply, int) else 0
