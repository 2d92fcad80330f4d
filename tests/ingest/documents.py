"""Transaction documents for the ingest tests, and the invalid ones, each named by its flaw."""

from __future__ import annotations

from typing import Any

from tests.apps import deposit

JSON = {"content-type": "application/json"}

DEPOSIT = deposit("t1", "alice", "10")
DISPUTE = {"tx_id": "d1", "account_id": "alice", "type": "dispute", "ref_tx_id": "t1"}


def changed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``base`` with ``changes``; a field changed to ``...`` is left out."""
    doc = {**base, **changes}
    return {k: v for k, v in doc.items() if v is not ...}


INVALID = {
    "amount zero": changed(DEPOSIT, amount="0"),
    "amount negative": changed(DEPOSIT, amount="-1"),
    "amount with five places by value": changed(DEPOSIT, amount="1.00005"),
    "amount as a JSON number": changed(DEPOSIT, amount=10),
    "amount not a number": changed(DEPOSIT, amount="ten"),
    "amount with an exponent": changed(DEPOSIT, amount="1e3"),
    "amount beyond 64 bits of units": changed(DEPOSIT, amount="922337203685478"),
    "amount after a space": changed(DEPOSIT, amount=" 1"),
    "amount before a newline": changed(DEPOSIT, amount="1\n"),
    "amount after an ideographic space": changed(DEPOSIT, amount="\u30001"),
    "amount before a no-break space": changed(DEPOSIT, amount="1\u00a0"),
    "deposit without amount": changed(DEPOSIT, amount=...),
    "withdrawal without amount": changed(DEPOSIT, type="withdrawal", amount=None),
    "deposit with a ref": changed(DEPOSIT, ref_tx_id="t0"),
    "dispute with an amount": changed(DISPUTE, amount="1"),
    "dispute without ref": changed(DISPUTE, ref_tx_id=...),
    "unknown type": changed(DEPOSIT, type="teleport"),
    "type missing": changed(DEPOSIT, type=...),
    "tx_id missing": changed(DEPOSIT, tx_id=...),
    "account_id missing": changed(DEPOSIT, account_id=...),
    "tx_id with a space": changed(DEPOSIT, tx_id="t 1"),
    "account_id with a colon": changed(DEPOSIT, account_id="a:b"),
    "account_id with braces": changed(DEPOSIT, account_id="a{1}"),
    "account_id empty": changed(DEPOSIT, account_id=""),
    "tx_id of 65 characters": changed(DEPOSIT, tx_id="x" * 65),
    "tx_id as a number": changed(DEPOSIT, tx_id=1),
    "ref_tx_id with a slash": changed(DISPUTE, ref_tx_id="a/b"),
    "unknown field": changed(DEPOSIT, note="hi"),
}
