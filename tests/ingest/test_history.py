"""GET /v1/accounts/{id}/transactions and ``txflow account``: the account's history,
from what a worker wrote, in append order, a page at a time."""

from __future__ import annotations

from typing import Any

import redis

from services.cli import account as account_cli
from tests.apps import Api, assert_problem
from tests.worker.support import append, deposit, drain, history

PATH = "/v1/accounts/a/transactions"


async def pages(api: Api, **params: Any) -> list[list[str]]:
    found: list[list[str]] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await api.http.get(PATH, params=query)
        assert response.status_code == 200, response.text
        doc = response.json()
        found.append([t["tx_id"] for t in doc["transactions"]])
        cursor = doc["next_cursor"]
        if cursor is None:
            return found


async def test_history_pages_newest_or_oldest_first_with_cursors(api: Api, redis_url: str) -> None:
    ids = history(redis_url)
    await drain(redis_url)

    assert await pages(api, limit=3) == [ids[::-1][:3], ids[::-1][3:6], ids[::-1][6:]]
    assert await pages(api, limit=3, order="oldest") == [ids[:3], ids[3:6], ids[6:]]
    assert await pages(api, limit=1000) == [ids[::-1]]  # newest first by default

    by_id = {t["tx_id"]: t for t in (await api.http.get(PATH)).json()["transactions"]}
    d1, w1, p1 = by_id["d1"], by_id["w1"], by_id["p1"]
    assert (d1["type"], d1["amount"], d1["state"], d1["status"]) == (
        "deposit",
        "0.0100",
        "disputed",
        "applied",
    )
    assert (w1["state"], w1["status"], w1["reason"]) == (
        "rejected",
        "rejected",
        "insufficient_funds",
    )
    assert (p1["type"], p1["amount"], p1["ref_tx_id"]) == ("dispute", None, "d1")


async def test_a_cursor_goes_on_after_transactions_that_arrived_since(
    api: Api, redis_url: str
) -> None:
    ids = history(redis_url)
    await drain(redis_url)
    first = (await api.http.get(PATH, params={"limit": 4, "order": "oldest"})).json()
    newest = (await api.http.get(PATH, params={"limit": 4})).json()
    client = redis.Redis.from_url(redis_url)
    append(client, [deposit("a", "late", 9)])
    client.close()
    await drain(redis_url)

    after = {"cursor": first["next_cursor"], "order": "oldest"}
    rest = (await api.http.get(PATH, params=after)).json()
    assert [t["tx_id"] for t in rest["transactions"]] == [*ids[4:], "late"]
    older = (await api.http.get(PATH, params={"cursor": newest["next_cursor"]})).json()
    assert [t["tx_id"] for t in older["transactions"]] == ids[::-1][4:]  # not "late"


async def test_history_of_an_unknown_account_is_404_and_bad_paging_is_422(
    api: Api, redis_url: str
) -> None:
    history(redis_url)
    await drain(redis_url)
    assert_problem(await api.http.get("/v1/accounts/nobody/transactions"), 404)
    for bad in (
        {"limit": 0},
        {"limit": 1001},
        {"order": "random"},
        {"cursor": "1-0"},
        {"cursor": "x_a"},
        {"cursor": "1-0_a:b"},
    ):
        assert_problem(await api.http.get(PATH, params=bad), 422)


async def test_txflow_account_prints_the_same_statement(api: Api, redis_url: str) -> None:
    ids = history(redis_url)
    await drain(redis_url)
    text = redis.Redis.from_url(redis_url, decode_responses=True)
    found = account_cli.statement(text, "a", cursor=None, limit=5, order="newest")
    text.close()
    api_page = (await api.http.get(PATH, params={"limit": 5})).json()
    state = (await api.http.get("/v1/accounts/a")).json()
    assert found == {"state": state, **api_page}
    assert [t["tx_id"] for t in found["transactions"]] == ids[::-1][:5]
