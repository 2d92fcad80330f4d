"""Ingest apps for tests, in process against the harness's Redis or as a child process.

``serve(settings)`` runs the app's lifespan (``httpx.ASGITransport`` does not)
and yields an ``Api``: an HTTP client on the app (the fast path in front of
FastAPI, as served), a Redis client on the same server, and the app's runtime
for white-box assertions.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import redis.asyncio as aioredis

from services.cli.probe import wait_until_up
from services.cli.redis_process import free_port
from services.ingest.app import create_app
from services.ingest.fastpath import FastPath
from services.ingest.runtime import Runtime
from shared.keys import ShardKeys
from shared.model import Tx
from shared.settings import Settings
from shared.sharding import shard_of
from tests import config

T = TypeVar("T")

SHARDS = 4


def make_settings(redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"shards": SHARDS, "api_token": None}
    return config.settings(redis_url, **(values | overrides))


@dataclass
class Api:
    app: FastPath
    http: httpx.AsyncClient
    redis: aioredis.Redis
    settings: Settings

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.fastapi.state.runtime
        return runtime

    async def entries(self, shard: int) -> list[tuple[str, Tx]]:
        """The stream IDs and decoded transactions of ``shard``'s stream, in order."""
        raw = await self.redis.xrange(ShardKeys(shard).inbox)
        return [(entry_id, Tx.decode(fields["d"])) for entry_id, fields in raw]

    async def total_entries(self) -> int:
        return sum([await self.redis.xlen(ShardKeys(s).inbox) for s in range(SHARDS)])


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with app.fastapi.router.lifespan_context(app.fastapi):
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://ingest") as http,
            aioredis.Redis.from_url(settings.redis_url, decode_responses=True) as client,
        ):
            yield Api(app, http, client, settings)


TOKEN = "s3cret-token"


def account_in_shard(shard: int, prefix: str = "acct") -> str:
    """An account id that lives on ``shard`` (of ``SHARDS``)."""
    return next(
        f"{prefix}-{i}" for i in itertools.count() if shard_of(f"{prefix}-{i}", SHARDS) == shard
    )


def deposit(tx_id: str, account_id: str = "alice", amount: str = "10.5") -> dict[str, str]:
    return {"tx_id": tx_id, "account_id": account_id, "type": "deposit", "amount": amount}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """``response`` is RFC 9457 problem details with ``status``; its document."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    doc: dict[str, Any] = response.json()
    assert doc["status"] == status
    assert {"type", "title", "detail"} <= doc.keys()
    return doc


ROOT = Path(__file__).resolve().parents[1]


@dataclass
class IngestProcess:
    """``python -m services.ingest`` as a child process; ``stderr`` once it has stopped."""

    base: str
    proc: subprocess.Popen[bytes]
    stderr: str = field(default="")


@contextmanager
def ingest_process(redis_url: str, **env: str) -> Iterator[IngestProcess]:
    """A real ingest on a free loopback port, ``TXFLOW_SHARDS=4`` plus ``env``, no token;
    stopped with SIGTERM on exit, which must end it with status 0."""
    port = free_port()
    environ = os.environ | {"REDIS_URL": redis_url, "TXFLOW_SHARDS": str(SHARDS)} | env
    if "TXFLOW_API_TOKEN" not in env:
        environ.pop("TXFLOW_API_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.ingest", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    running = IngestProcess(f"http://127.0.0.1:{port}", proc)
    try:
        wait_until_up(f"{running.base}/healthz", watch={"ingest": proc}, timeout=30)
        yield running
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=15)
        running.stderr = stderr.decode()
    assert proc.returncode == 0, running.stderr
