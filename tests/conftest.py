"""The real-Redis harness.

Every Redis-backed test gets a throwaway server started on a free port by
``RedisProcess`` — ``redis-server`` on PATH, else the embedded server;
``TXFLOW_REDIS_SERVER=embedded`` forces the embedded one (CI runs the Redis
tests a second time that way). The machine's own Redis on 6379 is never used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path

import pytest
import redis

from services.cli.redis_process import Persistence, RedisProcess
from tests.apps import TOKEN, Api, make_settings, serve


@pytest.fixture(scope="session")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path_factory.mktemp("redis-shared")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(shared_redis: RedisProcess) -> Iterator[str]:
    """A URL of an empty database on the session's server (flushed per test)."""
    client = redis.Redis.from_url(shared_redis.url)
    client.flushall()
    client.close()
    yield shared_redis.url


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[Callable[..., RedisProcess]]:
    """Start dedicated servers with a chosen persistence; all stopped at the end."""
    started: list[RedisProcess] = []

    def start(
        persistence: Persistence = "none", name: str = "redis", extra: Sequence[str] = ()
    ) -> RedisProcess:
        """``extra``: more server options (``--replicaof 127.0.0.1 <port>``, ...)."""
        server = RedisProcess(tmp_path / name, persistence=persistence, extra=[*extra]).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
async def guarded(redis_url: str) -> AsyncIterator[Api]:
    """An in-process ingest (``tests.apps.serve``) behind the bearer token ``TOKEN``."""
    async with serve(make_settings(redis_url, api_token=TOKEN)) as api:
        yield api


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    """An in-process ingest (``tests.apps.serve``), no token."""
    async with serve(make_settings(redis_url)) as running:
        yield running


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests using a server are marked, so CI can rerun exactly them on the embedded one
    # (the cluster tests too: the embedded server runs a cluster just as well).
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if {"redis_url", "redis_factory", "shared_redis", "cluster"} & names:
            item.add_marker(pytest.mark.redis)
        if "cluster" in names:
            item.add_marker(pytest.mark.cluster)
