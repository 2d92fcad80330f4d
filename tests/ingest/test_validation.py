"""Input that fails validation never becomes a transaction: 422 (or 413), nothing appended."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from tests.apps import Api, assert_problem, deposit, make_settings, serve
from tests.ingest.documents import DEPOSIT, DISPUTE, INVALID, JSON, changed


@pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
async def test_invalid_transaction_is_422_problem_and_appends_nothing(
    api: Api, body: dict[str, Any]
) -> None:
    response = await api.http.post("/v1/transactions", json=body)

    doc = assert_problem(response, 422)
    assert doc["errors"], doc
    assert all({"loc", "msg", "type"} <= e.keys() for e in doc["errors"])
    assert await api.total_entries() == 0


async def test_error_names_the_offending_field(api: Api) -> None:
    response = await api.http.post("/v1/transactions", json=changed(DEPOSIT, tx_id="t 1"))
    [error] = assert_problem(response, 422)["errors"]
    assert error["loc"] == ["body", "tx_id"]


@pytest.mark.parametrize("content", [b"{", b"", b"[]", b'"deposit"', b"\xff"])
async def test_body_that_is_not_one_json_object_is_422(api: Api, content: bytes) -> None:
    response = await api.http.post("/v1/transactions", content=content, headers=JSON)
    assert_problem(response, 422)
    assert await api.total_entries() == 0


async def test_batch_with_one_bad_item_names_its_index_and_appends_nothing(api: Api) -> None:
    batch = [deposit(f"t{i}") for i in range(5)]
    batch[2] = changed(DEPOSIT, amount="1.00005")

    response = await api.http.post("/v1/transactions/batch", json=batch)

    doc = assert_problem(response, 422)
    assert doc["invalid_indices"] == [2]
    assert "2" in doc["detail"]
    assert {e["index"] for e in doc["errors"]} == {2}
    assert doc["errors"][0]["loc"][:2] == ["body", 2]
    assert await api.total_entries() == 0


async def test_batch_lists_every_invalid_index(api: Api) -> None:
    batch = [deposit(f"t{i}") for i in range(6)]
    batch[1] = changed(DEPOSIT, type="teleport")
    batch[4] = changed(DISPUTE, amount="3")
    batch[5] = "not an object"

    doc = assert_problem(await api.http.post("/v1/transactions/batch", json=batch), 422)

    assert doc["invalid_indices"] == [1, 4, 5]
    assert await api.total_entries() == 0


async def test_ndjson_line_that_is_not_json_is_named_by_its_index(api: Api) -> None:
    lines = orjson.dumps(deposit("t0")) + b"\n{oops\n" + orjson.dumps(deposit("t2"))
    response = await api.http.post(
        "/v1/transactions/batch", content=lines, headers={"content-type": "application/x-ndjson"}
    )
    doc = assert_problem(response, 422)
    assert doc["invalid_indices"] == [1]
    assert doc["errors"][0]["type"] == "json_invalid"
    assert await api.total_entries() == 0


@pytest.mark.parametrize("content", [b'{"tx_id": "t1"}', b"[1,", b"null"])
async def test_batch_body_that_is_not_an_array_is_422(api: Api, content: bytes) -> None:
    response = await api.http.post("/v1/transactions/batch", content=content, headers=JSON)
    assert_problem(response, 422)


@pytest.fixture
async def small(redis_url: str) -> AsyncIterator[Api]:
    async with serve(make_settings(redis_url, max_batch=5, max_body_bytes=1024)) as api:
        yield api


async def test_batch_over_max_batch_is_422_saying_so(small: Api) -> None:
    batch = [deposit(f"t{i}") for i in range(6)]
    doc = assert_problem(await small.http.post("/v1/transactions/batch", json=batch), 422)
    assert "at most 5" in doc["detail"]
    assert await small.total_entries() == 0


async def test_batch_of_exactly_max_batch_is_accepted(small: Api) -> None:
    batch = [deposit(f"t{i}") for i in range(5)]
    response = await small.http.post("/v1/transactions/batch", json=batch)
    assert response.status_code == 202
    assert await small.total_entries() == 5


@pytest.mark.parametrize("path", ["/v1/transactions", "/v1/transactions/batch"])
async def test_body_over_the_limit_is_413_before_parsing(small: Api, path: str) -> None:
    body = deposit("t1") | {"note": "x" * 2000}  # invalid too, but too large comes first
    response = await small.http.post(path, json=body)
    assert_problem(response, 413)
    assert await small.total_entries() == 0


async def test_chunked_body_over_the_limit_is_413(small: Api) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(100):  # 100 x 100 bytes, no Content-Length
            sent.append(i)
            yield b" " * 100

    response = await small.http.post("/v1/transactions", content=chunks(), headers=JSON)

    assert "content-length" not in response.request.headers
    assert_problem(response, 413)
    assert len(sent) < 100  # reading stopped past the limit


async def test_chunked_body_under_the_limit_is_read_whole(small: Api) -> None:
    payload = orjson.dumps(deposit("t1"))

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 7):
            yield payload[i : i + 7]

    response = await small.http.post("/v1/transactions", content=chunks(), headers=JSON)
    assert response.status_code == 202
