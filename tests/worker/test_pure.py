"""Pure pieces of the worker: shares, backoff, cache eviction, stream ids."""

from __future__ import annotations

import pytest

from services.worker import policy
from services.worker.accounts import Account
from services.worker.cache import AccountCache, CachedAccount
from services.worker.shares import plan, preference, target_share
from shared.backoff import compute_backoff
from shared.streams import id_key, trim_floor


@pytest.mark.parametrize(
    ("shards", "live", "share"), [(16, 1, 16), (16, 3, 6), (16, 4, 4), (16, 0, 16), (3, 4, 1)]
)
def test_share_is_ceil_of_shards_over_live_workers(shards: int, live: int, share: int) -> None:
    assert target_share(shards, live) == share


def test_shares_of_all_live_workers_cover_every_shard() -> None:
    for live in range(1, 20):
        assert target_share(16, live) * live >= 16


def test_below_share_acquires_free_shards_in_preference_order() -> None:
    order = preference("w1", 8)
    moves = plan(owned={order[0]}, free={order[3], order[5], order[6]}, target=3, order=order)
    assert moves.acquire == [order[3], order[5]] and moves.release == []


def test_above_share_releases_the_least_preferred_shards() -> None:
    order = preference("w1", 8)
    moves = plan(owned=set(order[:5]), free=set(), target=2, order=order)
    assert moves.release == order[2:5] and moves.acquire == []


def test_preference_is_a_rotation_that_depends_on_the_worker() -> None:
    assert sorted(preference("a", 16)) == list(range(16))
    assert len({preference(f"w{i}", 16)[0] for i in range(20)}) > 1


def test_backoff_grows_is_capped_and_jittered() -> None:
    full = [compute_backoff(n, base=0.1, max_backoff=2, jitter=lambda: 1.0) for n in range(8)]
    assert full == [0.1, 0.2, 0.4, 0.8, 1.6, 2, 2, 2]
    assert compute_backoff(3, base=0.1, jitter=lambda: 0.5) == pytest.approx(0.4)
    assert compute_backoff(10**6, max_backoff=5, jitter=lambda: 1.0) == 5


def test_cache_evicts_only_accounts_idle_past_the_limit() -> None:
    now = [0.0]
    cache = AccountCache(idle_s=10, clock=lambda: now[0])
    cache.put("old", CachedAccount(Account(), complete=True))
    now[0] = 5
    cache.put("young", CachedAccount(Account(), complete=True))
    now[0] = 12
    assert cache.evict_idle() == 1
    assert "old" not in cache and "young" in cache
    cache.get("young")  # use refreshes
    now[0] = 21
    assert cache.evict_idle() == 0


def test_cache_keeps_at_most_max_accounts_dropping_the_least_recently_used() -> None:
    cache = AccountCache(idle_s=3600, max_accounts=2, clock=lambda: 0.0)
    for name in ("a", "b", "c"):
        cache.put(name, CachedAccount(Account(), complete=True))
    cache.get("a")
    cache.put("d", CachedAccount(Account(), complete=True))
    assert cache.evict_idle() == 2
    assert "a" in cache and "d" in cache and len(cache) == 2


def test_cache_holds_at_most_max_records_dropping_the_least_recently_used() -> None:
    cache = AccountCache(idle_s=3600, max_records=3, clock=lambda: 0.0)
    cache.put("a", CachedAccount(Account(), complete=True))
    cache.put("b", CachedAccount(Account(), complete=True))
    record = "daa10|1-0"  # (shared.records)
    cache.add_records("a", {"1": record, "2": record})
    cache.install({"b": Account(10)}, {"b": {"1": record, "2": record}})
    assert cache.records == 4
    assert cache.evict_idle() == 1
    assert "a" not in cache and "b" in cache and cache.records == 2
    cache.clear()
    assert cache.records == 0


def test_stream_ids_compare_numerically_and_trim_keeps_retention() -> None:
    assert id_key("1700000000000-10") > id_key("1700000000000-9")
    assert trim_floor("1700000000000-3", 0) == "1700000000000-3"
    assert trim_floor("1700000060000-3", 60_000) == "1700000000000-0"


@pytest.mark.parametrize(("failures", "given_up"), [(0, False), (2, False), (3, True), (4, True)])
def test_an_entry_is_given_up_on_once_it_failed_max_deliveries_times(
    failures: int, given_up: bool
) -> None:
    assert policy.exhausted(failures, max_deliveries=3) is given_up
