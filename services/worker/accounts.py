"""Account state and its transitions (DESIGN §1), as pure functions.

Nothing here decides whether a transaction is allowed — that is
``validation.check`` — nor does any I/O. ``apply`` assumes ``check`` passed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from shared.model import DEPOSIT, WITHDRAWAL, Outcome, Reason, Tx, TxType


class Account(NamedTuple):
    """Balances in units of 10⁻⁴. ``available`` may go negative after a dispute."""

    available: int = 0
    held: int = 0
    locked: bool = False

    @property
    def total(self) -> int:
        return self.available + self.held


class TxState(StrEnum):
    """Where a transaction stands. Only a deposit moves past ``applied``."""

    APPLIED = "applied"
    REJECTED = "rejected"
    DISPUTED = "disputed"
    RESOLVED = "resolved"
    CHARGED_BACK = "charged_back"
    DEAD = "dead"
    PARKED = "parked"


class TxRecord(NamedTuple):
    """What is remembered of a transaction under ``(account_id, tx_id)``."""

    type: TxType
    state: TxState
    outcome: Outcome
    amount: int | None = None
    reason: Reason | str | None = None
    ref_tx_id: str | None = None


# NamedTuple's own constructor is a Python function; tuple.__new__ builds the
# same object in C, for less, for each of the records made per transaction.
_new = tuple.__new__

_STATE_OF = {
    Outcome.APPLIED: TxState.APPLIED,
    Outcome.REJECTED: TxState.REJECTED,
    Outcome.DEAD: TxState.DEAD,
    Outcome.PARKED: TxState.PARKED,
}

# A dead-lettered or parked transaction was never decided: its record does not
# reserve its id (the entry, replayed or retried, is processed as new) and a
# dispute cannot refer to it.
UNDECIDED = frozenset({Outcome.DEAD, Outcome.PARKED})


def record_of(tx: Tx, outcome: Outcome, reason: Reason | str | None = None) -> TxRecord:
    """The record a transaction leaves behind when it is first processed."""
    return _new(TxRecord, (tx.type, _STATE_OF[outcome], outcome, tx.amount, reason, tx.ref_tx_id))


def with_state(record: TxRecord, state: TxState) -> TxRecord:
    type_, _, outcome, amount, reason, ref_tx_id = record
    return _new(TxRecord, (type_, state, outcome, amount, reason, ref_tx_id))


def apply(account: Account, tx: Tx, ref: TxRecord | None) -> tuple[Account, TxRecord | None]:
    """The account after ``tx``, and the referenced deposit's new record (if any)."""
    available, held, locked = account.available, account.held, account.locked
    kind = tx.type
    if kind is DEPOSIT:
        assert tx.amount is not None
        return _new(Account, (available + tx.amount, held, locked)), None
    if kind is WITHDRAWAL:
        assert tx.amount is not None
        return _new(Account, (available - tx.amount, held, locked)), None
    assert ref is not None and ref.amount is not None
    amount = ref.amount
    if kind is TxType.DISPUTE:
        return Account(available - amount, held + amount, locked), with_state(ref, TxState.DISPUTED)
    if kind is TxType.RESOLVE:
        return Account(available + amount, held - amount, locked), with_state(ref, TxState.RESOLVED)
    # chargeback: the deposit is final and the account is locked
    return Account(available, held - amount, True), with_state(ref, TxState.CHARGED_BACK)
