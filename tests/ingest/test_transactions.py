"""Accepting transactions: the 202 receipt, the stream entry, and order."""

from __future__ import annotations

import asyncio
import time

import orjson

from shared.model import TxType
from shared.sharding import shard_of
from shared.wire import TRANSACTION
from tests.apps import SHARDS, Api, deposit


async def test_single_post_answers_202_after_appending_the_encoded_transaction(api: Api) -> None:
    body = deposit("t1", "alice", "10.5")
    before = time.time_ns() // 1_000_000
    response = await api.http.post("/v1/transactions", json=body)
    after = time.time_ns() // 1_000_000

    assert response.status_code == 202
    receipt = response.json()
    shard = shard_of("alice", SHARDS)
    assert receipt.keys() == {"tx_id", "account_id", "shard", "stream_id"}
    assert (receipt["tx_id"], receipt["account_id"], receipt["shard"]) == ("t1", "alice", shard)
    [(entry_id, tx)] = await api.entries(shard)
    assert entry_id == receipt["stream_id"]
    assert before <= tx.accepted_at <= after
    assert tx == TRANSACTION.validate_python(body)._replace(accepted_at=tx.accepted_at)
    assert tx.amount == 105_000


async def test_amount_with_trailing_zeros_beyond_four_places_is_accepted(api: Api) -> None:
    response = await api.http.post("/v1/transactions", json=deposit("t1", amount="1.50000"))
    assert response.status_code == 202
    [(_, tx)] = await api.entries(response.json()["shard"])
    assert tx.amount == 15_000


async def test_dispute_travels_with_its_ref_and_no_amount(api: Api) -> None:
    body = {"tx_id": "d1", "account_id": "bob", "type": "dispute", "ref_tx_id": "t1"}
    response = await api.http.post("/v1/transactions", json=body)
    assert response.status_code == 202
    [(_, tx)] = await api.entries(response.json()["shard"])
    assert (tx.type, tx.amount, tx.ref_tx_id) == (TxType.DISPUTE, None, "t1")


def _mixed_batch(n: int) -> list[dict[str, str]]:
    accounts = [f"acct-{i}" for i in range(7)]
    return [deposit(f"t{i}", accounts[i % len(accounts)], f"{i + 1}.25") for i in range(n)]


async def _assert_per_shard_order(api: Api, batch: list[dict[str, str]]) -> None:
    for shard in range(SHARDS):
        expected = [b["tx_id"] for b in batch if shard_of(b["account_id"], SHARDS) == shard]
        assert [tx.tx_id for _, tx in await api.entries(shard)] == expected


async def test_batch_as_json_array_is_appended_in_request_order(api: Api) -> None:
    batch = _mixed_batch(40)
    response = await api.http.post("/v1/transactions/batch", json=batch)

    assert response.status_code == 202
    doc = response.json()
    assert doc["accepted"] == 40
    assert [r["tx_id"] for r in doc["results"]] == [b["tx_id"] for b in batch]
    assert all(r["shard"] == shard_of(r["account_id"], SHARDS) for r in doc["results"])
    await _assert_per_shard_order(api, batch)


async def test_batch_as_ndjson_is_appended_in_request_order(api: Api) -> None:
    batch = _mixed_batch(25)
    lines = b"\n".join(orjson.dumps(b) for b in batch) + b"\n\n"  # a trailing blank line is fine
    response = await api.http.post(
        "/v1/transactions/batch", content=lines, headers={"content-type": "application/x-ndjson"}
    )

    assert response.status_code == 202
    assert [r["tx_id"] for r in response.json()["results"]] == [b["tx_id"] for b in batch]
    await _assert_per_shard_order(api, batch)


async def test_receipts_name_the_stream_entries_they_created(api: Api) -> None:
    batch = _mixed_batch(12)
    results = (await api.http.post("/v1/transactions/batch", json=batch)).json()["results"]
    for result in results:
        ids = [entry_id for entry_id, _ in await api.entries(result["shard"])]
        assert result["stream_id"] in ids


async def test_empty_batch_is_accepted_and_appends_nothing(api: Api) -> None:
    response = await api.http.post("/v1/transactions/batch", json=[])
    assert response.status_code == 202
    assert response.json() == {"accepted": 0, "results": []}
    assert await api.total_entries() == 0


async def test_each_concurrent_batch_stays_contiguous_and_in_order(api: Api) -> None:
    # Twenty batches of one account race each other: whatever order they land
    # in, the ten entries of each batch are adjacent and in their own order.
    batches = [[deposit(f"b{b}-{i}", "carol", "1") for i in range(10)] for b in range(20)]
    responses = await asyncio.gather(
        *(api.http.post("/v1/transactions/batch", json=batch) for batch in batches)
    )
    assert all(r.status_code == 202 for r in responses)

    ids = [tx.tx_id for _, tx in await api.entries(shard_of("carol", SHARDS))]
    chunks = [ids[i : i + 10] for i in range(0, len(ids), 10)]
    assert sorted(chunks) == sorted([b["tx_id"] for b in batch] for batch in batches)


async def test_resending_the_same_transaction_appends_it_again_for_the_worker_to_dedup(
    api: Api,
) -> None:
    first = await api.http.post("/v1/transactions", json=deposit("t1"))
    second = await api.http.post("/v1/transactions", json=deposit("t1"))
    assert first.status_code == second.status_code == 202
    entries = await api.entries(first.json()["shard"])
    assert [tx.tx_id for _, tx in entries] == ["t1", "t1"]
