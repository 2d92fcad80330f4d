"""Redis going away: 503 with Retry-After, never a 500, and recovery without a restart."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import redis

from services.cli.redis_process import RedisProcess
from shared import keys
from shared.deployment import SCHEMA_VERSION
from shared.errors import ShardCountMismatch, StoreUnavailable
from tests.apps import Api, assert_problem, deposit, make_settings, serve
from tests.polling import eventually


async def test_redis_down_is_503_and_ingest_recovers_when_it_returns(
    redis_factory: Callable[..., RedisProcess],
) -> None:
    server = redis_factory("always")  # txflow:meta and the groups survive the restart
    async with serve(make_settings(server.url, lag_refresh_ms=10)) as api:
        assert (await api.http.post("/v1/transactions", json=deposit("t1"))).status_code == 202

        server.kill()
        for request in (
            api.http.post("/v1/transactions", json=deposit("t2")),
            api.http.post("/v1/transactions/batch", json=[deposit("t3")]),
            api.http.get("/v1/accounts/alice"),
            api.http.get("/readyz"),
        ):
            response = await request
            assert_problem(response, 503)
            assert response.headers["retry-after"] == "1"
        refreshes = api.runtime.monitor.refreshes

        server.start()

        async def accepted() -> int | None:
            response = await api.http.post("/v1/transactions", json=deposit("t4"))
            return 202 if response.status_code == 202 else None

        await eventually(accepted)
        assert (await api.http.get("/readyz")).status_code == 200

        async def monitor_refreshed() -> bool | None:  # the lag task survived the outage
            return True if api.runtime.monitor.refreshes > refreshes else None

        await eventually(monitor_refreshed)
        assert (await api.total_entries()) >= 2  # t1 and t4 (t2, t3 were refused)


async def test_readyz_is_503_when_meta_disagrees_with_the_shard_count(api: Api) -> None:
    assert (await api.http.get("/readyz")).json() == {"status": "ready", "pid": os.getpid()}

    await api.redis.hset(keys.META, "shards", 8)
    doc = assert_problem(await api.http.get("/readyz"), 503)
    assert "8 shards" in doc["detail"]

    await api.redis.delete(keys.META)
    assert "missing" in assert_problem(await api.http.get("/readyz"), 503)["detail"]


async def test_healthz_answers_without_redis(redis_url: str) -> None:
    # No lifespan: the app never connected, yet it is alive.
    from httpx import ASGITransport, AsyncClient

    from services.ingest.app import create_app

    app = create_app(make_settings("redis://127.0.0.1:1/0"))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://ingest") as http:
        response = await http.get("/healthz")
    assert response.json() == {"status": "ok"}


async def test_start_refuses_a_deployment_with_another_shard_count(redis_url: str) -> None:
    async with serve(make_settings(redis_url)) as api:
        await api.redis.hset(keys.META, "shards", 8)
    with pytest.raises(ShardCountMismatch, match="TXFLOW_SHARDS=8"):
        async with serve(make_settings(redis_url)):
            pass


async def test_start_creates_meta_and_every_group(api: Api) -> None:
    assert await api.redis.hget(keys.META, "shards") == str(api.settings.shards)
    for shard_keys in keys.shard_keys(api.settings.shards):
        groups = await api.redis.xinfo_groups(shard_keys.inbox)
        assert [g["name"] for g in groups] == [keys.GROUP]


async def test_redis_refusing_writes_is_503_and_accepts_again_once_it_takes_them(
    redis_factory: Callable[..., RedisProcess],
) -> None:
    # Out of memory here; a replica after a failover (READONLY) answers the same way.
    server = redis_factory("none")
    async with serve(make_settings(server.url)) as api:
        await api.redis.config_set("maxmemory", 1)
        for request in (
            api.http.post("/v1/transactions", json=deposit("t1")),
            api.http.post("/v1/transactions/batch", json=[deposit("t2")]),
        ):
            response = await request
            assert_problem(response, 503)
            assert response.headers["retry-after"] == "1"
        await api.redis.config_set("maxmemory", 0)
        assert (await api.http.post("/v1/transactions", json=deposit("t1"))).status_code == 202


async def test_start_against_a_redis_refusing_writes_is_store_unavailable(
    redis_factory: Callable[..., RedisProcess],
) -> None:
    # What the entry points report in one line ("redis unavailable"), not a traceback.
    server = redis_factory("none")
    client = redis.Redis.from_url(server.url)
    client.config_set("maxmemory", 1)
    with pytest.raises(StoreUnavailable, match="refuses writes"):
        async with serve(make_settings(server.url)):
            pass
    client.close()


async def test_readyz_is_503_on_a_read_only_replica_and_200_once_promoted(
    redis_factory: Callable[..., RedisProcess],
) -> None:
    # A PING would pass: readiness asks whether Redis takes writes (store.writable).
    primary = redis_factory("none", name="primary")
    replica = redis_factory("none", name="replica")
    async with serve(make_settings(replica.url)) as api:
        source = redis.Redis.from_url(primary.url)
        source.hset(keys.META, mapping={"shards": api.settings.shards, "schema": SCHEMA_VERSION})
        source.close()
        await api.redis.replicaof("127.0.0.1", primary.port)

        async def refused() -> str | None:
            response = await api.http.get("/readyz")
            detail = str(response.json().get("detail", ""))
            return detail if "refuses writes" in detail else None

        assert "read only replica" in await eventually(refused)
        await api.redis.replicaof("NO", "ONE")

        async def ready() -> bool | None:
            return True if (await api.http.get("/readyz")).status_code == 200 else None

        await eventually(ready)
