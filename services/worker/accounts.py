"""Account state and its transitions (DESIGN §1), as pure functions.

Nothing here decides whether a transaction is allowed — that is
``validation.check`` — nor does any I/O. ``apply`` assumes ``check`` passed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from shared.model import Outcome, Reason, Tx, TxType


@dataclass(frozen=True, slots=True)
class Account:
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


@dataclass(frozen=True, slots=True)
class TxRecord:
    """What is remembered of a transaction under ``(account_id, tx_id)``."""

    type: TxType
    state: TxState
    outcome: Outcome
    amount: int | None = None
    reason: Reason | str | None = None
    ref_tx_id: str | None = None


def record_of(tx: Tx, outcome: Outcome, reason: Reason | str | None = None) -> TxRecord:
    """The record a transaction leaves behind when it is first processed."""
    state = {
        Outcome.APPLIED: TxState.APPLIED,
        Outcome.REJECTED: TxState.REJECTED,
        Outcome.DEAD: TxState.DEAD,
    }[outcome]
    return TxRecord(tx.type, state, outcome, tx.amount, reason, tx.ref_tx_id)


def apply(account: Account, tx: Tx, ref: TxRecord | None) -> tuple[Account, TxRecord | None]:
    """The account after ``tx``, and the referenced deposit's new record (if any)."""
    match tx.type:
        case TxType.DEPOSIT:
            assert tx.amount is not None
            return replace(account, available=account.available + tx.amount), None
        case TxType.WITHDRAWAL:
            assert tx.amount is not None
            return replace(account, available=account.available - tx.amount), None
    assert ref is not None and ref.amount is not None
    amount = ref.amount
    match tx.type:
        case TxType.DISPUTE:
            moved = replace(account, available=account.available - amount, held=account.held + amount)
            return moved, replace(ref, state=TxState.DISPUTED)
        case TxType.RESOLVE:
            moved = replace(account, available=account.available + amount, held=account.held - amount)
            return moved, replace(ref, state=TxState.RESOLVED)
        case _:  # chargeback: the deposit is final and the account is locked
            moved = replace(account, held=account.held - amount, locked=True)
            return moved, replace(ref, state=TxState.CHARGED_BACK)
