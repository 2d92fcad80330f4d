"""Account state and transaction records as fields of the account hash (``shared.records``)."""

from __future__ import annotations

from services.worker.accounts import Account, TxRecord, TxState
from shared import records
from shared.model import Outcome, TxType


def account_value(account: Account) -> str:
    """The value of the account hash's ``STATE`` field."""
    return records.pack_state(account.available, account.held, account.locked)


def account_from(value: str) -> Account:
    """Raises ``ValueError`` when ``value`` is not a packed state."""
    return Account(*records.unpack_state(value))


def record_value(record: TxRecord, entry_id: str) -> str:
    """The value of a transaction's field in the account hash."""
    type_, state, outcome, amount, reason, ref = record
    return records.pack(type_, state, outcome, amount, entry_id, ref, reason)


def record_from(value: str) -> TxRecord:
    """Raises ``KeyError`` or ``ValueError`` when ``value`` is not a packed record."""
    r = records.unpack(value)
    return TxRecord(TxType(r.type), TxState(r.state), Outcome(r.outcome), r.amount, r.reason, r.ref)
