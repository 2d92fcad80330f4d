"""Before serving: wait for Redis (bounded), then make sure the deployment is ours."""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit, urlunsplit

from shared import replicas
from shared.backoff import compute_backoff
from shared.deployment import ensure_deployment
from shared.errors import ConfigError, StoreUnavailable
from shared.settings import Settings
from shared.store import UNAVAILABLE, connect

log = logging.getLogger("txflow.ingest")


def redacted(url: str) -> str:
    """``url`` without its password, fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def prepare(settings: Settings, *, wait_s: float = 30.0) -> None:
    """Run ``ensure_deployment``, retrying with backoff while Redis is unreachable.

    Raises ``ShardCountMismatch`` when the deployment has another shard count,
    and ``StoreUnavailable`` when Redis stayed unreachable for ``wait_s``.
    """
    where = redacted(settings.redis_url)
    deadline = time.monotonic() + wait_s
    client = connect(settings, decode_responses=True)
    try:
        for attempt in range(1_000_000):
            try:
                await ensure_deployment(client, settings.shards)
                why = await replicas.problem(settings, client)
                if why is not None:
                    raise ConfigError(why)
                return
            except UNAVAILABLE as e:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreUnavailable(f"Redis at {where} unreachable for {wait_s:g} s") from e
                log.warning("waiting for Redis at %s (%s)", where, type(e).__name__)
                await asyncio.sleep(min(left, compute_backoff(attempt, base=0.2, max_backoff=2.0)))
    finally:
        await client.aclose()
