"""Prometheus metrics: per-app registry, counters for what matters."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.sharding import shard_of
from tests.apps import SHARDS, Api, deposit
from tests.poison import Poison, install
from tests.worker.support import drain


async def _samples(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = (await api.http.get("/metrics")).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_count_requests_transactions_and_refusals(api: Api) -> None:
    await api.http.post("/v1/transactions", json=deposit("t1"))
    await api.http.post("/v1/transactions/batch", json=[deposit("t2"), deposit("t3")])
    await api.http.post("/v1/transactions", json=deposit("t4", amount="0"))

    samples = await _samples(api)

    route = (("method", "POST"), ("route", "/v1/transactions"), ("status", "202"))
    assert samples[("txflow_http_requests_total", route)] == 1
    rejected = (("method", "POST"), ("route", "/v1/transactions"), ("status", "422"))
    assert samples[("txflow_http_requests_total", rejected)] == 1
    assert samples[("txflow_transactions_accepted_total", ())] == 3
    assert samples[("txflow_invalid_requests_total", ())] == 1
    assert samples[("txflow_throttled_requests_total", ())] == 0
    assert samples[("txflow_xadd_pipeline_seconds_count", ())] >= 1
    assert samples[("txflow_shard_lag", (("shard", "0"),))] >= 0


async def test_unmatched_paths_are_counted_under_one_label(api: Api) -> None:
    await api.http.get("/no/such/path")
    samples = await _samples(api)
    labels = (("method", "GET"), ("route", "<unmatched>"), ("status", "404"))
    assert samples[("txflow_http_requests_total", labels)] == 1


async def test_apps_do_not_share_a_registry(api: Api, redis_url: str) -> None:
    from tests.apps import make_settings, serve

    await api.http.post("/v1/transactions", json=deposit("t1"))
    async with serve(make_settings(redis_url)) as other:
        samples = await _samples(other)
    assert samples[("txflow_transactions_accepted_total", ())] == 0


async def test_a_parked_account_is_accepted_reads_as_parked_and_is_counted(
    api: Api, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(Poison(accounts=["stuck"]), monkeypatch)
    shard = (("shard", str(shard_of("stuck", SHARDS))),)
    for tx_id in ("t1", "t2"):
        assert (
            await api.http.post("/v1/transactions", json=deposit(tx_id, "stuck"))
        ).status_code == 202
    await drain(redis_url, max_deliveries=1)
    # ingest keeps accepting for a parked account: its entries wait behind the others
    assert (await api.http.post("/v1/transactions", json=deposit("t3", "stuck"))).status_code == 202
    await drain(redis_url)
    samples = await _samples(api)
    assert samples[("txflow_parked_accounts", shard)] == 1
    assert samples[("txflow_held_entries", shard)] == 3
    record = (await api.http.get("/v1/accounts/stuck/transactions/t3")).json()
    assert (record["status"], record["state"]) == ("parked", "parked")
    assert "injected poison" in record["reason"]
