"""A POST is read only in the media types it declares; anything else is 415 (DESIGN §3).

A browser form (``application/x-www-form-urlencoded``, ``multipart/form-data``,
``text/plain``) can post across sites without a preflight: refusing every
type but JSON and NDJSON keeps such a request from ever becoming a
transaction. The single POST goes both ways (the fast path and the FastAPI
route behind it) and must be answered alike.
"""

from __future__ import annotations

import orjson
import pytest

from tests.apps import TOKEN, Api, assert_problem, deposit
from tests.ingest.alike import answered_alike, post

REFUSED = [
    None,
    "",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/jsonx",
    "application/json-patch+json",
    "application/x-ndjson-ish",
    "json",
]


def _headers(content_type: str | None) -> dict[str, str]:
    return {} if content_type is None else {"content-type": content_type}


@pytest.mark.parametrize("content_type", [*REFUSED, "application/x-ndjson"])
async def test_single_post_in_another_type_is_415_naming_json(
    api: Api, content_type: str | None
) -> None:
    body = orjson.dumps(deposit("t1"))
    response = await answered_alike(api, post(body, headers=_headers(content_type)))

    doc = assert_problem(response, 415)
    assert "application/json" in doc["detail"]
    assert doc["accepted"] == ["application/json"]
    assert await api.total_entries() == 0


@pytest.mark.parametrize(
    "content_type", ["application/json", "Application/JSON", "application/json; charset=utf-8"]
)
async def test_single_post_as_json_in_any_case_with_parameters_is_accepted(
    api: Api, content_type: str
) -> None:
    body = orjson.dumps(deposit("t1"))
    response = await answered_alike(api, post(body, headers={"content-type": content_type}))
    assert response.status_code == 202


@pytest.mark.parametrize("content_type", REFUSED)
async def test_batch_in_another_type_is_415_naming_json_and_ndjson(
    api: Api, content_type: str | None
) -> None:
    body = orjson.dumps([deposit("t1")])
    response = await api.http.post(
        "/v1/transactions/batch", content=body, headers=_headers(content_type)
    )

    doc = assert_problem(response, 415)
    for accepted in ("application/json", "application/x-ndjson", "application/ndjson"):
        assert accepted in doc["detail"]
    assert await api.total_entries() == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-ndjson",
        "application/ndjson",
        "Application/X-NDJSON; charset=utf-8",
        "APPLICATION/NDJSON ;charset=UTF-8",
    ],
)
async def test_batch_as_ndjson_in_any_case_with_parameters_is_accepted(
    api: Api, content_type: str
) -> None:
    lines = orjson.dumps(deposit("t1")) + b"\n" + orjson.dumps(deposit("t2"))
    response = await api.http.post(
        "/v1/transactions/batch", content=lines, headers={"content-type": content_type}
    )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 2


async def test_batch_as_json_with_parameters_is_read_as_an_array(api: Api) -> None:
    body = orjson.dumps([deposit("t1"), deposit("t2")])
    headers = {"content-type": "Application/Json; charset=utf-8"}
    response = await api.http.post("/v1/transactions/batch", content=body, headers=headers)
    assert response.status_code == 202
    assert response.json()["accepted"] == 2


async def test_without_the_token_401_comes_before_415(guarded: Api) -> None:
    response = await answered_alike(guarded, post(b"tx=1", headers=_headers("text/plain")))
    assert_problem(response, 401)


async def test_with_the_token_415_comes_before_the_body_is_read(guarded: Api) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "content-type": "text/plain"}
    response = await answered_alike(guarded, post(b"{", headers=headers))
    assert_problem(response, 415)
