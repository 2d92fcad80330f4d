"""``GET /v1/status`` and the console's actions, without a browser (the app in process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import redis
from pydantic import TypeAdapter

from services.cli import status
from services.cli.redis_process import RedisProcess
from services.console.schemas import Resolved, Status
from shared import keys
from shared.keys import ShardKeys
from shared.model import Tx, TxType
from shared.parking import Parked, Request
from shared.sharding import shard_of
from tests.apps import (
    SHARDS,
    TOKEN,
    Api,
    assert_problem,
    deposit,
    make_settings,
    serve,
)
from tests.polling import eventually
from tests.worker.support import drain

AUTH = {"authorization": f"Bearer {TOKEN}"}


async def read(http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await http.get("/v1/status", headers=headers)
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    TypeAdapter(Status).validate_python(doc)  # every field described, none missing (extra="forbid")
    return doc


async def test_status_is_txflow_status_with_the_console_s_additions(redis_url: str) -> None:
    async with serve(make_settings(redis_url)) as api:
        await api.redis.set(ShardKeys(1).lease, "w1")
        await api.redis.zadd(keys.WORKERS, {"w1": 2**50})
        doc = await read(api.http)
    assert [row["shard"] for row in doc["shards"]] == list(range(SHARDS))
    assert doc["actions"] is False  # no token configured: read-only
    (worker,) = doc["workers"]
    assert worker["id"] == "w1" and worker["shards"] == [1]
    assert doc["dead_letters"] == [] and doc["parked"] == []
    # ``txflow status --json`` is the same reading: its rows are in the document as they are
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        cli = status.snapshot(client)
    assert [{k: row[k] for k in cli["shards"][0]} for row in doc["shards"]] == cli["shards"]
    assert cli["workers"][0].keys() == worker.keys()


async def test_rates_and_latency_follow_what_is_accepted_and_committed(redis_url: str) -> None:
    async with serve(make_settings(redis_url, console_sample_ms=100)) as api:
        await read(api.http)  # the first reading: where the history starts
        batch = [deposit(f"t{n}", f"acct{n % 7}") for n in range(50)]
        assert (await api.http.post("/v1/transactions/batch", json=batch)).status_code == 202
        await drain(redis_url)

        async def point() -> dict[str, Any] | None:
            points = (await read(api.http))["history"]["points"]
            return points[-1] if points else None

        latest = await eventually(point)
    assert latest["accepted_per_s"] > 0 and latest["processed_per_s"] > 0
    assert latest["p50_ms"] is not None and latest["p99_ms"] >= latest["p50_ms"]


async def test_pages_polling_together_share_one_reading_per_interval(redis_url: str) -> None:
    async with serve(make_settings(redis_url, console_sample_ms=60_000)) as api:
        first, second = await read(api.http), await read(api.http)
    assert first["at"] == second["at"]


async def test_with_a_token_the_status_needs_it_and_actions_are_on(redis_url: str) -> None:
    async with serve(make_settings(redis_url, api_token=TOKEN)) as api:
        assert_problem(await api.http.get("/v1/status"), 401)
        assert (await read(api.http, AUTH))["actions"] is True
        assert_problem(await api.http.post("/v1/dlq/1-0/replay"), 401)
        assert_problem(await api.http.post("/v1/dlq/1-0/replay", headers=AUTH), 404)
        assert_problem(await api.http.post("/v1/dlq/not-an-id/replay", headers=AUTH), 422)


async def test_without_a_token_actions_are_refused_saying_why(redis_url: str) -> None:
    async with serve(make_settings(redis_url)) as api:
        dlq_id = await dead_letter(api, Tx("alice", "t1", TxType.DEPOSIT, 10_000))
        doc = assert_problem(await api.http.post(f"/v1/dlq/{dlq_id}/replay"), 403)
        assert "TXFLOW_API_TOKEN" in doc["detail"]
        assert [d["id"] for d in (await read(api.http))["dead_letters"]] == [dlq_id]


async def test_a_dead_letter_replayed_from_the_console_is_back_in_its_shard(
    redis_url: str,
) -> None:
    tx = Tx("alice", "t1", TxType.DEPOSIT, 10_000)
    async with serve(make_settings(redis_url, api_token=TOKEN, console_sample_ms=100)) as api:
        dlq_id = await dead_letter(api, tx)
        (letter,) = (await read(api.http, AUTH))["dead_letters"]
        assert letter["tx"] == tx.to_wire() and letter["reason"] == "poisoned by a test"
        response = await api.http.post(f"/v1/dlq/{dlq_id}/replay", headers=AUTH)
        assert response.status_code == 200, response.text
        shard = shard_of("alice", SHARDS)
        assert [(i, t.tx_id) for i, t in await api.entries(shard)] == [
            (response.json()["stream_id"], "t1")
        ]
        assert (await read(api.http, AUTH))["dead_letters"] == []  # read afresh after an action
        assert_problem(await api.http.post(f"/v1/dlq/{dlq_id}/replay", headers=AUTH), 404)


async def test_a_redis_gone_is_a_503_then_the_status_comes_back(
    redis_factory: Callable[..., RedisProcess],
) -> None:
    server = redis_factory("always")  # the deployment (txflow:meta) survives the restart
    async with serve(make_settings(server.url, console_sample_ms=100)) as api:
        await read(api.http)
        server.kill()

        async def answer(status: int) -> httpx.Response | None:
            response = await api.http.get("/v1/status")  # once the last reading is too old
            return response if response.status_code == status else None

        assert_problem(await eventually(lambda: answer(503)), 503)
        server.restart()
        assert len((await eventually(lambda: answer(200))).json()["shards"]) == SHARDS
        await api.redis.delete(keys.META)  # a Redis that holds no deployment
        doc = assert_problem(await eventually(lambda: answer(503)), 503)
        assert "txflow:meta" in doc["detail"]


async def test_parked_actions_need_an_account_that_is_parked_and_a_note_to_skip(
    redis_url: str,
) -> None:
    async with serve(make_settings(redis_url, api_token=TOKEN)) as api:
        retry = await api.http.post("/v1/parked/alice/retry", headers=AUTH)
        assert "not parked" in assert_problem(retry, 404)["detail"]
        assert_problem(await api.http.post("/v1/parked/alice/skip", headers=AUTH), 422)
        blank = await api.http.post("/v1/parked/alice/skip?note=", headers=AUTH)
        assert_problem(blank, 422)
        noted = await api.http.post("/v1/parked/alice/skip?note=why", headers=AUTH)
        assert_problem(noted, 404)
        assert_problem(await api.http.post("/v1/parked/alice/retry"), 401)
    async with serve(make_settings(redis_url)) as api:
        assert_problem(await api.http.post("/v1/parked/alice/retry"), 403)


async def test_a_retry_no_owner_answers_in_time_stays_queued(redis_url: str) -> None:
    settings = make_settings(redis_url, api_token=TOKEN, console_action_timeout_s=0.2)
    async with serve(settings) as api:
        k = ShardKeys(shard_of("alice", SHARDS))
        await api.redis.hset(k.parked, "alice", Parked("a test", 1).encode())
        (listed,) = (await read(api.http, AUTH))["parked"]
        assert listed == {
            "shard": k.shard,
            "account": "alice",
            "reason": "a test",
            "since": 1,
            "held": 0,
        }
        answer = await api.http.post("/v1/parked/alice/retry", headers=AUTH)
        assert answer.status_code == 202, answer.text
        TypeAdapter(Resolved).validate_python(answer.json())
        assert answer.json()["status"] == "queued" and "stays queued" in answer.json()["message"]
        ((_, request),) = await api.redis.xrange(k.control)
        assert request == Request("retry", "alice").fields()  # for the owner to carry out


async def dead_letter(api: Api, tx: Tx) -> str:
    """A dead letter of ``tx`` as the worker writes one (an entry that kept failing)."""
    doc = {"e": "1-1", "d": tx.encode().decode(), "reason": "poisoned by a test"}
    k = ShardKeys(shard_of(tx.account_id, SHARDS))
    dlq_id: str = await api.redis.xadd(k.dlq, {"d": orjson.dumps(doc)})
    return dlq_id
