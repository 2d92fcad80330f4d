"""Reading back what the worker wrote (DESIGN §2 hashes, shared/records.py fields)."""

from __future__ import annotations

import pytest

from shared.keys import ShardKeys
from shared.records import STATE, pack, pack_state
from shared.sharding import shard_of
from tests.apps import SHARDS, Api, assert_problem


async def test_account_is_404_until_the_worker_writes_it(api: Api) -> None:
    assert_problem(await api.http.get("/v1/accounts/alice"), 404)

    key = ShardKeys(shard_of("alice", SHARDS)).account("alice")
    await api.redis.hset(key, STATE, pack_state(105_000, 20_000, True))
    response = await api.http.get("/v1/accounts/alice")

    assert response.status_code == 200
    assert response.json() == {
        "account_id": "alice",
        "available": "10.5000",
        "held": "2.0000",
        "total": "12.5000",
        "locked": True,
    }


async def test_transaction_is_404_until_processed_then_its_record(api: Api) -> None:
    path = "/v1/accounts/alice/transactions/t1"
    assert_problem(await api.http.get(path), 404)

    key = ShardKeys(shard_of("alice", SHARDS)).account("alice")
    record = pack("withdrawal", "rejected", "rejected", 50_000, "5-0", None, "insufficient_funds")
    await api.redis.hset(key, "t1", record)
    response = await api.http.get(path)

    assert response.status_code == 200
    assert response.json() == {
        "account_id": "alice",
        "tx_id": "t1",
        "type": "withdrawal",
        "amount": "5.0000",
        "ref_tx_id": None,
        "status": "rejected",
        "state": "rejected",
        "reason": "insufficient_funds",
        "stream_id": "5-0",
    }


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts/a:b",
        "/v1/accounts/a%20b",
        "/v1/accounts/" + "x" * 65,
        "/v1/accounts/alice/transactions/t%7B1%7D",
    ],
)
async def test_invalid_id_in_the_path_is_422(api: Api, path: str) -> None:
    doc = assert_problem(await api.http.get(path), 422)
    assert doc["errors"][0]["loc"][0] == "path"


async def test_unknown_route_is_a_404_problem(api: Api) -> None:
    assert_problem(await api.http.get("/v2/nothing"), 404)


async def test_wrong_method_is_a_405_problem_with_allow(api: Api) -> None:
    response = await api.http.delete("/v1/transactions")
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"


async def test_shards_report_each_checkpoint_and_owner(api: Api) -> None:
    before = (await api.http.get("/v1/shards")).json()["shards"]
    assert before == [{"shard": s, "ckpt": None, "owner": None} for s in range(SHARDS)]

    await api.redis.set(ShardKeys(2).ckpt, "17-3")
    await api.redis.set(ShardKeys(2).lease, "worker-a", px=10_000)
    after = (await api.http.get("/v1/shards")).json()["shards"]

    assert after[2] == {"shard": 2, "ckpt": "17-3", "owner": "worker-a"}
    assert [s["ckpt"] for i, s in enumerate(after) if i != 2] == [None] * (SHARDS - 1)
