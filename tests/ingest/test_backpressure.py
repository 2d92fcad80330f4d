"""Backpressure: a shard over its lag limit answers 429 and nothing is appended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.worker.worker import Worker
from shared.keys import GROUP, ShardKeys
from shared.lag import backlog, shard_lag
from tests.apps import (
    Api,
    account_in_shard,
    assert_problem,
    deposit,
    make_settings,
    serve,
)
from tests.polling import eventually


def group(**fields: Any) -> dict[str, Any]:
    return {"name": GROUP, "consumers": 1, "pending": 0, "lag": 0} | fields


@pytest.mark.parametrize(
    ("groups", "length", "lag"),
    [
        ([group(lag=7, pending=3)], 100, 10),
        ([group(lag=0, pending=0)], 100, 0),
        ([group(lag=None, pending=2)], 100, 102),  # lag unknown: the stream length stands in
        ([], 40, 40),  # no group: nothing was ever delivered
        ([group(name="others", lag=0)], 40, 40),
        (RuntimeError("no such key"), 0, 0),
    ],
)
def test_shard_lag_is_undelivered_plus_pending(groups: Any, length: int, lag: int) -> None:
    assert shard_lag(groups, length) == lag


@pytest.mark.parametrize(
    ("info", "committed", "lag"),
    [
        ({"entries-added": 10}, "7", 3),
        ({"entries-added": 10}, "10", 0),
        ({"entries-added": 10}, None, None),  # no count yet: XINFO GROUPS stands in
        ({"length": 10}, "0", None),  # a server without entries-added
        (RuntimeError("no such key"), "0", None),
    ],
)
def test_backlog_is_entries_added_minus_committed(info: Any, committed: Any, lag: Any) -> None:
    assert backlog(info, committed) == lag


MAX_LAG = 5


@pytest.fixture
async def limited(redis_url: str) -> AsyncIterator[Api]:
    settings = make_settings(redis_url, max_lag=MAX_LAG, lag_refresh_ms=10)
    async with serve(settings) as api:
        yield api


async def _fill(api: Api, shard: int, count: int) -> None:
    for i in range(count):
        await api.redis.xadd(ShardKeys(shard).inbox, {"d": f"backlog-{i}"})


async def _over_limit(api: Api, shard: int) -> None:
    async def seen() -> bool | None:
        return True if api.runtime.monitor.lags[shard] > MAX_LAG else None

    await eventually(seen)


async def test_shard_over_its_lag_limit_answers_429_and_appends_nothing(limited: Api) -> None:
    await _fill(limited, 1, MAX_LAG + 1)
    await _over_limit(limited, 1)

    response = await limited.http.post("/v1/transactions", json=deposit("t1", account_in_shard(1)))

    doc = assert_problem(response, 429)
    assert response.headers["retry-after"] == "1"
    assert doc["shards"] == [1]
    assert await limited.redis.xlen(ShardKeys(1).inbox) == MAX_LAG + 1


async def test_other_shards_keep_accepting(limited: Api) -> None:
    await _fill(limited, 1, MAX_LAG + 1)
    await _over_limit(limited, 1)

    response = await limited.http.post("/v1/transactions", json=deposit("t1", account_in_shard(2)))

    assert response.status_code == 202


async def test_batch_touching_a_hot_shard_is_429_as_a_whole(limited: Api) -> None:
    await _fill(limited, 1, MAX_LAG + 1)
    await _over_limit(limited, 1)
    batch = [deposit("t1", account_in_shard(2)), deposit("t2", account_in_shard(1))]

    response = await limited.http.post("/v1/transactions/batch", json=batch)

    assert_problem(response, 429)
    assert await limited.redis.xlen(ShardKeys(2).inbox) == 0


async def _drain(api: Api) -> None:
    """What the workers do: commit everything (the entries here are undecodable: dead letters)."""
    await Worker(api.settings, api.redis, "w1", burst=True).run()


async def _refreshed(api: Api) -> None:
    """Wait until the monitor read every lag afresh (twice: one may have begun before)."""
    monitor = api.runtime.monitor
    seen = monitor.refreshes

    async def twice() -> bool | None:
        return True if monitor.refreshes >= seen + 2 else None

    await eventually(twice)


async def test_shard_accepts_again_once_workers_catch_up(limited: Api) -> None:
    await _fill(limited, 1, MAX_LAG + 1)
    await _over_limit(limited, 1)

    await _drain(limited)
    await _refreshed(limited)

    assert limited.runtime.monitor.lags[1] == 0
    response = await limited.http.post("/v1/transactions", json=deposit("t1", account_in_shard(1)))
    assert response.status_code == 202


async def test_a_group_read_counter_left_behind_does_not_hold_a_drained_shard(
    limited: Api,
) -> None:
    # What a reload of the AOF can leave on Redis 7.0: the group's reads replayed
    # as XCLAIM ... LASTID without the read counter, so XINFO GROUPS reports a lag
    # that never drains. The backlog must not depend on it.
    await _fill(limited, 1, MAX_LAG + 1)
    await _drain(limited)
    inbox = ShardKeys(1).inbox
    await limited.redis.xgroup_setid(inbox, GROUP, "$", entries_read=0)
    (group,) = await limited.redis.xinfo_groups(inbox)
    assert group["lag"] == MAX_LAG + 1  # the server's own figure is now wrong
    await _refreshed(limited)

    assert limited.runtime.monitor.lags[1] == 0
    response = await limited.http.post("/v1/transactions", json=deposit("t1", account_in_shard(1)))
    assert response.status_code == 202


async def test_pending_entries_count_towards_the_lag(limited: Api) -> None:
    await _fill(limited, 3, MAX_LAG + 1)
    inbox = ShardKeys(3).inbox
    await limited.redis.xreadgroup(GROUP, "w1", {inbox: ">"})  # delivered, never acked

    await _over_limit(limited, 3)
    response = await limited.http.post("/v1/transactions", json=deposit("t1", account_in_shard(3)))
    assert_problem(response, 429)


async def test_stop_ends_the_monitor_even_when_a_refresh_swallows_the_cancel(
    limited: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitor = limited.runtime.monitor
    entered = asyncio.Event()

    async def swallowing_refresh() -> None:  # what redis-py 8.1 pipelines sometimes do
        entered.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass

    monkeypatch.setattr(monitor, "refresh", swallowing_refresh)
    await entered.wait()

    await asyncio.wait_for(monitor.stop(), timeout=30)  # a hang guard, not a timing check
