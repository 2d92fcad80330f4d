"""``from_wire`` (ingest's validation without pydantic) accepts exactly what ``TransactionIn`` does.

Documents are generated near the boundary: every field present or missing,
right or wrong in type, values valid or off by one rule, extra fields; and
arbitrary JSON. For each, both must agree: the same ``Tx``, or both refusing.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.model import TransactionIn, Tx, TxType, from_wire

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
odd_amounts = st.sampled_from([
    "0", "0.0000", "-1", "+1", "1e3", "1.00005", "1.50000", " 10 ", "10\n", "\u0661", "NaN", "inf",
    "922337203685477.5807", "922337203685477.5808", "1." + "0" * 38, "1." + "0" * 39,
    " " * 39 + "1", " " * 40 + "1", "0" * 41, "\u30001", "1\u00a0",
])  # fmt: skip


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


def pydantic_answer(doc: Any) -> Tx | None:
    try:
        return TransactionIn.model_validate(doc).to_tx()
    except ValidationError:
        return None


@settings(max_examples=2000, deadline=None)
@given(st.one_of(near_valid(), json_values))
@example({"tx_id": "t1", "account_id": "a", "type": "dispute", "ref_tx_id": "t0", "amount": None})
@example({"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": "1", "ref_tx_id": None})
@example({"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": " 1.5 "})
@example({"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": "1." + "0" * 38})
@example({"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": "1." + "0" * 39})
def test_from_wire_agrees_with_the_pydantic_model(doc: Any) -> None:
    assert from_wire(doc) == pydantic_answer(doc)


@settings(max_examples=300, deadline=None)
@given(valid())
def test_every_valid_transaction_takes_the_fast_way(doc: dict[str, Any]) -> None:
    tx = from_wire(doc)
    assert tx is not None
    assert tx == TransactionIn.model_validate(doc).to_tx()


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"tx_id": "t1", "account_id": "a", "type": "deposit", "amount": "10.25"},
         Tx("a", "t1", TxType.DEPOSIT, 102_500)),
        ({"tx_id": "t2", "account_id": "a", "type": "withdrawal", "amount": "1.50000"},
         Tx("a", "t2", TxType.WITHDRAWAL, 15_000)),
        ({"tx_id": "d1", "account_id": "a", "type": "chargeback", "ref_tx_id": "t1"},
         Tx("a", "d1", TxType.CHARGEBACK, None, "t1")),
    ],
)  # fmt: skip
def test_from_wire_reads_amounts_as_integer_units(doc: dict[str, Any], expected: Tx) -> None:
    assert from_wire(doc) == expected
