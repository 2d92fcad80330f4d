"""The wire union (``shared.wire``) accepts exactly what DESIGN §1 says, from JSON bytes.

Documents are generated near the boundary: every field present or missing,
right or wrong in type, values valid or off by one rule, extra fields; and
arbitrary JSON. For each, the union validating the document's JSON must agree
with ``expected``, the rules written out by hand (they were the hand-written
validator ingest used before the union): the same ``Tx``, or both refusing.
A batch of them validates item by item the same.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.errors import InvalidInput
from shared.model import Tx, TxType, build_tx
from shared.wire import TRANSACTION, batch

FIELDS = ("tx_id", "account_id", "type", "amount", "ref_tx_id")

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
ids = st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)
bad_ids = st.sampled_from(["", "t 1", "a:b", "a{1}", "a/b", "x" * 65, "abc\n", "é", " t1"])
types = st.sampled_from([t.value for t in TxType])
bad_types = st.sampled_from(["Deposit", "deposit ", "teleport", ""])
amounts = st.from_regex(r"[0-9]{1,15}(\.[0-9]{0,6})?|\.[0-9]{1,5}", fullmatch=True)
odd_amounts = st.sampled_from(
    [
        "0",
        "0.0000",
        "-1",
        "+1",
        "1e3",
        "1.00005",
        "1.50000",
        " 10 ",
        "10\n",
        "\u0661",
        "NaN",
        "inf",
        "922337203685477.5807",
        "922337203685477.5808",
        "1." + "0" * 38,
        "1." + "0" * 39,
        " " * 39 + "1",
        " " * 40 + "1",
        "0" * 41,
        "\u30001",
        "1\u00a0",
    ]
)


def field_value(name: str) -> st.SearchStrategy[Any]:
    """Any value for field ``name``: right, nearly right, or of another JSON type."""
    if name in ("tx_id", "account_id", "ref_tx_id"):
        return st.one_of(ids, bad_ids, json_scalars)
    if name == "type":
        return st.one_of(types, bad_types, json_scalars)
    return st.one_of(amounts, odd_amounts, json_scalars)


@st.composite
def valid(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(types)
    doc: dict[str, Any] = {"tx_id": draw(ids), "account_id": draw(ids), "type": kind}
    if kind in ("deposit", "withdrawal"):
        doc["amount"] = draw(st.from_regex(r"[1-9][0-9]{0,13}(\.[0-9]{1,4})?", fullmatch=True))
    else:
        doc["ref_tx_id"] = draw(ids)
    return doc


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """A valid transaction with up to three changes: a field left out, set to
    another value (or null), or added (one of ours, or an unknown one)."""
    doc = draw(valid())
    for _ in range(draw(st.integers(0, 3))):
        change = draw(st.sampled_from(["drop", "set", "null", "extra"]))
        name = draw(st.sampled_from(FIELDS))
        if change == "drop":
            doc.pop(name, None)
        elif change == "set":
            doc[name] = draw(field_value(name))
        elif change == "null":
            doc[name] = None
        else:
            doc[draw(st.text(max_size=8))] = draw(json_scalars)
    return doc


ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def expected(doc: Any) -> Tx | None:
    """DESIGN §1 by hand: strict JSON types, no other field, ``null`` as absent,
    an amount string of at most 40 characters, then ``build_tx``'s rules."""
    if type(doc) is not dict or not set(FIELDS).issuperset(doc):
        return None
    fields = [doc.get(name) for name in FIELDS]
    if not all(type(v) is str for v in fields[:3]):
        return None
    if not all(v is None or type(v) is str for v in fields[3:]):
        return None
    if fields[3] is not None and len(fields[3]) > 40:
        return None
    tx_id, account_id, kind, amount, ref = fields
    try:
        return build_tx(account_id, tx_id, kind, amount, ref)
    except InvalidInput:
        return None


def union_answer(doc: Any) -> Tx | None:
    try:
        return TRANSACTION.validate_json(json.dumps(doc))
    except ValidationError:
        return None


@settings(max_examples=2000, deadline=None)
@given(st.one_of(near_valid(), json_values))
@example({"tx_id": "t1", "account_id": "a", "type": "dispute", "ref_tx_id": "t0", "amount": None})
@example({"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": "1", "ref_tx_id": None})
@example({"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": " 1.5 "})
@example({"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": "1." + "0" * 38})
@example({"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": "1." + "0" * 39})
@example({"tx_id": "abc\n", "account_id": "a", "type": "deposit", "amount": "1"})
def test_the_union_accepts_what_design_says(doc: Any) -> None:
    assert union_answer(doc) == expected(doc)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(valid(), near_valid()), min_size=1, max_size=8))
def test_a_batch_is_valid_when_every_item_is_and_keeps_their_order(docs: list[Any]) -> None:
    answers = [expected(doc) for doc in docs]
    try:
        txs = batch(8).validate_json(json.dumps(docs))
    except ValidationError as e:
        invalid = {error["loc"][0] for error in e.errors()}
        assert invalid == {i for i, answer in enumerate(answers) if answer is None}
    else:
        assert txs == answers


@pytest.mark.parametrize(
    ("doc", "expected_tx"),
    [
        (
            {"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": "10.25"},
            Tx("a", "t1", TxType.DEPOSIT, 102_500),
        ),
        (
            {"tx_id": "t2", "account_id": "a", "type": "withdrawal", "amount": "1.50000"},
            Tx("a", "t2", TxType.WITHDRAWAL, 15_000),
        ),
        (
            {"tx_id": "d1", "account_id": "a", "type": "chargeback", "ref_tx_id": "t1"},
            Tx("a", "d1", TxType.CHARGEBACK, None, "t1"),
        ),
    ],
)
def test_amounts_become_integer_units(doc: dict[str, Any], expected_tx: Tx) -> None:
    tx = TRANSACTION.validate_json(json.dumps(doc))
    assert tx == expected_tx
    assert type(tx.amount) is (int if tx.amount is not None else type(None))
