"""The hashes the worker writes and the API reads: field names and views.

Account hash ``txflow:{s}:acct:<account>``: ``available``, ``held`` (units of
10⁻⁴), ``locked`` (``0``/``1``), ``last_tx``.

Transaction hash ``txflow:{s}:tx:<account>:<tx_id>``: ``type``, ``amount``
(units; deposits and withdrawals), ``ref`` (disputes, resolves, chargebacks),
``state`` (applied / rejected / disputed / resolved / charged_back / dead),
``outcome`` (applied / rejected / dead, fixed when first processed),
``reason`` (rejections and dead letters), ``entry`` (the stream ID it came
from).
"""

from __future__ import annotations

from typing import Any

from shared.money import format_amount

Hash = dict[str, str]


def account_view(account_id: str, h: Hash) -> dict[str, Any]:
    available, held = int(h.get("available", 0)), int(h.get("held", 0))
    return {
        "account_id": account_id,
        "available": format_amount(available),
        "held": format_amount(held),
        "total": format_amount(available + held),
        "locked": h.get("locked") == "1",
    }


def tx_view(account_id: str, tx_id: str, h: Hash) -> dict[str, Any]:
    amount = h.get("amount")
    return {
        "account_id": account_id,
        "tx_id": tx_id,
        "type": h.get("type"),
        "amount": None if amount is None else format_amount(int(amount)),
        "ref_tx_id": h.get("ref"),
        "status": h.get("outcome"),
        "state": h.get("state"),
        "reason": h.get("reason"),
        "stream_id": h.get("entry"),
    }
