"""A JSON object with a repeated key is invalid input: 422 naming the key (DESIGN §1).

orjson keeps the last of repeated keys silently, so ``"amount":"1","amount":"1000"``
would deposit 1000 of a body a proxy, a log or a signature check may have read
as 1. The single POST goes both ways (fast path and route) and must be
answered alike; batches are read as a JSON array and as NDJSON.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest import duplicates
from tests.apps import Api, assert_problem, deposit
from tests.ingest.alike import answered_alike, post

REPEATED_AMOUNT = (
    b'{"tx_id":"t1","account_id":"alice","type":"deposit","amount":"1","amount":"1000"}'
)
REPEATED = {
    "amount": REPEATED_AMOUNT,
    "amount, spaced and pretty": (
        b'{\n  "tx_id" : "t1",\n  "account_id" : "alice",\n  "type" : "deposit",\n'
        b'  "amount" : "1",\n  "amount"\t:\t"1000"\n}'
    ),
    "amount, once escaped": (
        b'{"tx_id":"t1","account_id":"alice","type":"deposit","amount":"1","\\u0061mount":"1000"}'
    ),
    "type": (
        b'{"tx_id":"t1","account_id":"alice","type":"withdrawal","amount":"1","type":"deposit"}'
    ),
    "account_id": (
        b'{"account_id":"bob","tx_id":"t1","account_id":"alice","type":"deposit","amount":"1"}'
    ),
}


@pytest.mark.parametrize("body", REPEATED.values(), ids=REPEATED.keys())
async def test_single_post_with_a_repeated_key_is_422_naming_it(api: Api, body: bytes) -> None:
    key = json.loads(body.replace(b"\\u0061", b"a"), object_pairs_hook=_first_repeat)
    response = await answered_alike(api, post(body))

    doc = assert_problem(response, 422)
    assert [(e["loc"], e["type"]) for e in doc["errors"]] == [(["body", key], "duplicate_key")]
    assert repr(key) in doc["detail"]
    assert await api.total_entries() == 0


def _first_repeat(pairs: list[tuple[str, Any]]) -> str:
    keys = [k for k, _ in pairs]
    return next(k for i, k in enumerate(keys) if k in keys[:i])


async def test_a_repeat_inside_a_nested_value_gets_the_ordinary_validation_error(api: Api) -> None:
    body = b'{"tx_id":"t1","account_id":"alice","type":"deposit","amount":{"x":1,"x":2}}'
    doc = assert_problem(await answered_alike(api, post(body)), 422)
    assert [e["loc"] for e in doc["errors"]] == [["body", "amount"]]
    assert doc["errors"][0]["type"] != "duplicate_key"


async def test_a_colon_inside_a_string_is_no_repeat(api: Api) -> None:
    body = b'{"tx_id":"t:1","account_id":"alice","type":"deposit","amount":"1"}'
    doc = assert_problem(await answered_alike(api, post(body)), 422)
    assert [(e["loc"], e["type"]) for e in doc["errors"]] == [
        (["body", "tx_id"], "string_pattern_mismatch")
    ]


def _batch_items() -> list[bytes]:
    return [orjson.dumps(deposit(f"t{i}")) for i in range(4)]


async def test_batch_item_with_a_repeated_key_is_named_by_index_and_key(api: Api) -> None:
    items = _batch_items()
    items[2] = REPEATED_AMOUNT
    body = b"[" + b",".join(items) + b"]"
    response = await api.http.post(
        "/v1/transactions/batch", content=body, headers={"content-type": "application/json"}
    )

    doc = assert_problem(response, 422)
    assert doc["invalid_indices"] == [2]
    [error] = doc["errors"]
    assert (error["index"], error["loc"], error["type"]) == (
        2,
        ["body", 2, "amount"],
        "duplicate_key",
    )
    assert await api.total_entries() == 0


@pytest.mark.parametrize("content_type", ["application/x-ndjson", "application/ndjson"])
async def test_ndjson_line_with_a_repeated_key_is_named_by_index_and_key(
    api: Api, content_type: str
) -> None:
    items = _batch_items()
    items[1] = REPEATED_AMOUNT
    items[3] = b'{"tx_id":"t3","tx_id":"t3","account_id":"alice","type":"deposit","amount":"1"}'
    body = b"\n".join(items[:2]) + b"\n\n" + b"\n".join(items[2:])  # a blank line is no item
    response = await api.http.post(
        "/v1/transactions/batch", content=body, headers={"content-type": content_type}
    )

    doc = assert_problem(response, 422)
    assert doc["invalid_indices"] == [1, 3]
    assert [(e["index"], e["loc"][2]) for e in doc["errors"]] == [(1, "amount"), (3, "tx_id")]
    assert await api.total_entries() == 0


async def test_batch_with_repeats_and_other_errors_names_every_bad_item(api: Api) -> None:
    items = _batch_items()
    items[0] = orjson.dumps(deposit("t0", amount="-1"))
    items[3] = REPEATED_AMOUNT
    body = b"[" + b",".join(items) + b"]"
    response = await api.http.post(
        "/v1/transactions/batch", content=body, headers={"content-type": "application/json"}
    )
    doc = assert_problem(response, 422)
    assert doc["invalid_indices"] == [0, 3]


# The cheap bound: counting ':' can only ever flag more keys than were written.

KEYS = st.sampled_from(["a", "b", "amount", "a:b", 'q"', "\\", "é", ""])
VALUES = st.one_of(st.text(max_size=5), st.integers(), st.none(), st.booleans())


def _raw_object(pairs: list[tuple[str, Any]], spacing: str) -> bytes:
    members = [f"{json.dumps(k)}{spacing}:{spacing}{json.dumps(v)}" for k, v in pairs]
    return ("{" + ",".join(members) + "}").encode()


@given(pairs=st.lists(st.tuples(KEYS, VALUES), max_size=6), spacing=st.sampled_from(["", " \n"]))
def test_the_cheap_bound_never_misses_a_repeat_and_the_exact_look_names_it(
    pairs: list[tuple[str, Any]], spacing: str
) -> None:
    raw = _raw_object(pairs, spacing)
    kept = orjson.loads(raw)
    keys = [k for k, _ in pairs]
    repeated = sorted({k for i, k in enumerate(keys) if k in keys[:i]})

    if repeated:
        assert duplicates.possible(raw, len(kept))
    assert sorted(duplicates.in_object(raw)) == repeated
    if not duplicates.possible(raw, len(kept)):
        assert not repeated


def test_the_exact_look_finds_repeats_by_item() -> None:
    raw = b'[{"a":1},{"b":1,"b":2},3,{"c":{"d":1,"d":2}},{"e":1,"e":2,"e":3,"f":0,"f":0}]'
    assert duplicates.in_array(raw) == {1: ["b"], 4: ["e", "f"]}


@pytest.mark.parametrize("raw", [b"[", b"{", b"nope", b"[" * 5000 + b"]" * 5000, b"1" * 5000])
def test_what_the_exact_look_cannot_read_has_no_repeats(raw: bytes) -> None:
    assert duplicates.in_array(raw) == {}
    assert duplicates.in_object(raw) == []
