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
from shared.deployment import check_deployment, ensure_deployment
from shared.errors import ShardCountMismatch
from shared.settings import Settings
from shared.store import UNAVAILABLE, Client, connect

log = logging.getLogger("txflow.ingest")

# A request waits at most this long on a Redis that accepts connections but
# does not answer, then gets a 503.
SOCKET_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    client: Client
    appender: Appender
    monitor: LagMonitor
    intake: Intake

    async def unready(self) -> str | None:
        """Why the service is not ready (Redis down, meta missing or different), or ``None``."""
        try:
            await self.client.ping()
            await check_deployment(self.client, self.settings.shards)
        except UNAVAILABLE as e:
            return f"Redis is unreachable: {type(e).__name__}"
        except ShardCountMismatch as e:
            return str(e)
        return None


@asynccontextmanager
async def running(settings: Settings, metrics: Metrics) -> AsyncIterator[Runtime]:
    client = connect(settings, decode_responses=True, socket_timeout=SOCKET_TIMEOUT_S)
    try:
        await ensure_deployment(client, settings.shards)
        appender = Appender(client, metrics.observe_pipeline)
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
            observe=observe,
        )
        await monitor.refresh()
        intake = Intake(settings.shards, appender, monitor, shares, metrics.accepted.inc)
        appender.start()
        monitor.start()
        log.info(auth.describe(settings.api_token))
        try:
            yield Runtime(settings, client, appender, monitor, intake)
        finally:
            await monitor.stop()
            await appender.close()
    finally:
        await client.aclose()
