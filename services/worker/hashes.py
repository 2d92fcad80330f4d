"""Account and transaction records as Redis hash fields (see ``shared.records``)."""

from __future__ import annotations

from services.worker.accounts import Account, TxRecord, TxState
from shared.model import Outcome, TxType
from shared.records import Hash


def account_fields(account: Account, last_tx: str) -> list[str]:
    """HSET's field and value arguments for an account."""
    locked = "1" if account.locked else "0"
    return ["available", str(account.available), "held", str(account.held), "locked", locked,
            "last_tx", last_tx]  # fmt: skip


def account_from(h: Hash) -> Account:
    return Account(int(h["available"]), int(h["held"]), h["locked"] == "1")


def record_fields(record: TxRecord, entry_id: str) -> list[str]:
    """HSET's field and value arguments for a transaction record."""
    fields = ["type", record.type, "state", record.state, "outcome", record.outcome,
              "entry", entry_id]  # fmt: skip
    if record.amount is not None:
        fields += ("amount", str(record.amount))
    if record.ref_tx_id is not None:
        fields += ("ref", record.ref_tx_id)
    if record.reason is not None:
        fields += ("reason", record.reason)
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
