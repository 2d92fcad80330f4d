"""Account and transaction records as Redis hash fields (see ``shared.records``)."""

from __future__ import annotations

from services.worker.accounts import Account, TxRecord, TxState
from shared.model import Outcome, TxType
from shared.records import Hash


def account_fields(account: Account, last_tx: str) -> dict[str, str]:
    return {
        "available": str(account.available),
        "held": str(account.held),
        "locked": "1" if account.locked else "0",
        "last_tx": last_tx,
    }


def account_from(h: Hash) -> Account:
    return Account(int(h["available"]), int(h["held"]), h["locked"] == "1")


def record_fields(record: TxRecord, entry_id: str) -> dict[str, str]:
    fields: dict[str, str] = {"type": record.type, "state": record.state}
    fields["outcome"] = record.outcome
    fields["entry"] = entry_id
    if record.amount is not None:
        fields["amount"] = str(record.amount)
    if record.ref_tx_id is not None:
        fields["ref"] = record.ref_tx_id
    if record.reason is not None:
        fields["reason"] = str(record.reason)
    return fields


def record_from(h: Hash) -> TxRecord:
    amount = h.get("amount")
    return TxRecord(
        TxType(h["type"]),
        TxState(h["state"]),
        Outcome(h["outcome"]),
        None if amount is None else int(amount),
        h.get("reason"),
        h.get("ref"),
    )
