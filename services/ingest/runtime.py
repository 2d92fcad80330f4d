"""What the app holds while it runs: the Redis client and the tasks built on it.

Opened in the app's lifespan, never at import: connect, make sure the
deployment exists (``txflow:meta``, consumer groups), read every shard's lag
once, then start the appender's flusher and the lag monitor. Closing stops the
monitor, flushes what is queued and closes the client.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from services.ingest import auth
from services.ingest.appender import Appender
from services.ingest.backpressure import LagMonitor
from services.ingest.fairness import ClientShares
from services.ingest.intake import Intake
from services.ingest.metrics import Metrics
from services.ingest.outbox import Outboxes
from services.ingest.stream import Streams
from services.ingest.wait import Wait
from services.ingest.waiters import Waiters
from shared.deployment import check_deployment, ensure_deployment
from shared.errors import ConfigError, StoreUnavailable
from shared.outage import Outage
from shared.replicas import Replicas
from shared.settings import Settings
from shared.store import Client, connect, translated, writable

log = logging.getLogger("txflow.ingest")


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    client: Client
    appender: Appender
    monitor: LagMonitor
    intake: Intake
    wait: Wait
    streams: Streams

    @property
    def deadline_s(self) -> float:
        """How long any Redis call of a request may take (``TXFLOW_REDIS_TIMEOUT_MS``)."""
        return self.settings.redis_timeout_ms / 1000

    async def unready(self) -> str | None:
        """Why the service is not ready, or ``None``: Redis unreachable, stalled (no
        answer within the deadline) or refusing writes; meta missing or different.

        Appends refused because Redis was found down answer at once; else a
        write probe (``store.writable``: no write made) and the meta check.
        """
        if self.appender.down is not None:
            return self.appender.down
        try:
            async with translated(self.deadline_s):
                await writable(self.client)
                await check_deployment(self.client, self.settings.shards)
        except (StoreUnavailable, ConfigError) as e:
            return str(e)
        return None


@asynccontextmanager
async def running(settings: Settings, metrics: Metrics) -> AsyncIterator[Runtime]:
    deadline_s = settings.redis_timeout_ms / 1000
    # The socket timeout backs up the deadlines of the callers (asyncio timeouts):
    # a connection is never left waiting on a silent Redis for longer.
    client = connect(settings, decode_responses=True, socket_timeout=deadline_s)
    outage = Outage(log, "ingest: Redis")  # one log line per outage, whoever meets it
    try:
        await ensure_deployment(client, settings.shards)
        appender = Appender(
            client,
            deadline_s=deadline_s,
            max_inflight=settings.max_inflight,
            observe=metrics.observe_pipeline,
            outage=outage,
            replicas=Replicas(settings),
        )
        metrics.watch_inflight(lambda: appender.inflight)
        # Past max_lag a shard refuses everyone: older entries than that need no owner.
        shares = ClientShares(
            settings.shards, limit=settings.client_lag_limit, capacity=2 * settings.max_lag
        )

        def observe(lags: Sequence[int]) -> None:
            metrics.observe_lags(lags)
            shares.settle(lags)

        monitor = LagMonitor(
            client,
            settings.shards,
            max_lag=settings.max_lag,
            interval_s=settings.lag_refresh_ms / 1000,
            deadline_s=deadline_s,
            observe=observe,
            outage=outage,
        )
        await monitor.refresh()
        intake = Intake(settings.shards, appender, monitor, shares, metrics.accepted.inc)
        outboxes = Outboxes(client, settings.shards)
        # A blocking read gets half the deadline: the socket timeout is the deadline.
        block_ms = max(1, int(deadline_s * 500))
        waiters = Waiters(outboxes, max_waiters=settings.max_waiters, block_ms=block_ms)
        streams = Streams(
            outboxes,
            max_streams=settings.max_streams,
            buffer=settings.stream_buffer,
            block_ms=block_ms,
            deadline_s=deadline_s,
        )
        wait = Wait(
            intake,
            waiters,
            client,
            shards=settings.shards,
            max_wait_s=settings.max_wait_s,
            deadline_s=deadline_s,
        )
        appender.start()
        monitor.start()
        log.info(auth.describe(settings.api_token))
        try:
            yield Runtime(settings, client, appender, monitor, intake, wait, streams)
        finally:
            await waiters.close()
            await monitor.stop()
            await appender.close()
    finally:
        await client.aclose()
