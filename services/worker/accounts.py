"""Account state and its transitions (DESIGN §1), as pure functions.

Nothing here decides whether a transaction is allowed — that is
``validation.check`` — nor does any I/O. ``apply`` assumes ``check`` passed.

A transaction's record is kept in the form it is stored in: its value in the
account hash, packed as ``shared.records`` says (one character each for its
type, state and outcome, then its amount, the stream entry it came from, its
ref and its reason). The worker's cache holds these strings as Redis does, and
a commit writes the ones a batch made as they are: nothing is converted on the
way in or out. The rules read the codes at ``TYPE_AT``, ``STATE_AT`` and
``OUTCOME_AT``; ``shared.records.unpack`` gives a record's fields by name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from shared import records
from shared.model import DEPOSIT, WITHDRAWAL, Outcome, Tx, TxType


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


PackedRecord = str
"""A transaction's record: its packed value in the account hash (``shared.records``)."""

TYPE_AT, STATE_AT, OUTCOME_AT = 0, 1, 2
"""Where a record's type, state and outcome codes are."""

# The codes the rules compare (shared.records.CODES)
DEPOSIT_CODE = records.TYPE[DEPOSIT]
REJECTED_CODE, DISPUTED_CODE, RESOLVED_CODE, CHARGED_BACK_CODE = (
    records.STATE_OF[state]
    for state in (TxState.REJECTED, TxState.DISPUTED, TxState.RESOLVED, TxState.CHARGED_BACK)
)

# A dead-lettered or parked transaction was never decided: its record does not
# reserve its id (the entry, replayed or retried, is processed as new) and a
# dispute cannot refer to it. (``record[OUTCOME_AT] in UNDECIDED``)
UNDECIDED = records.OUTCOME[Outcome.DEAD] + records.OUTCOME[Outcome.PARKED]

_STATE_OF = {
    Outcome.APPLIED: TxState.APPLIED,
    Outcome.REJECTED: TxState.REJECTED,
    Outcome.DEAD: TxState.DEAD,
    Outcome.PARKED: TxState.PARKED,
}
# The three codes a record starts with, by its outcome and type
_CODES = {
    outcome: {
        kind: records.TYPE[kind] + records.STATE_OF[state] + records.OUTCOME[outcome]
        for kind in TxType
    }
    for outcome, state in _STATE_OF.items()
}

# NamedTuple's own constructor is a Python function; tuple.__new__ builds the
# same object in C, for less, for each account state made per transaction.
_new = tuple.__new__


def record_of(tx: Tx, outcome: Outcome, entry: str, reason: str | None = None) -> PackedRecord:
    """The record ``tx`` leaves when it is first processed, from stream entry ``entry``."""
    codes, amount = _CODES[outcome][tx.type], tx.amount
    if reason is None and amount is not None:  # most records: a deposit or withdrawal applied
        return f"{codes}{amount}|{entry}"
    return records.packed(codes, amount, entry, tx.ref_tx_id, reason)


def apply(
    account: Account, tx: Tx, ref: PackedRecord | None
) -> tuple[Account, PackedRecord | None]:
    """The account after ``tx``, and the referenced deposit's new record (if any)."""
    available, held, locked = account
    kind = tx.type
    if kind is DEPOSIT:
        assert tx.amount is not None
        return _new(Account, (available + tx.amount, held, locked)), None
    if kind is WITHDRAWAL:
        assert tx.amount is not None
        return _new(Account, (available - tx.amount, held, locked)), None
    assert ref is not None
    amount = records.amount_of(ref)
    if kind is TxType.DISPUTE:
        after = _new(Account, (available - amount, held + amount, locked))
        return after, _restated(ref, DISPUTED_CODE)
    if kind is TxType.RESOLVE:
        after = _new(Account, (available + amount, held - amount, locked))
        return after, _restated(ref, RESOLVED_CODE)
    # chargeback: the deposit is final and the account is locked
    return _new(Account, (available, held - amount, True)), _restated(ref, CHARGED_BACK_CODE)


def _restated(record: PackedRecord, state_code: str) -> PackedRecord:
    return f"{record[0]}{state_code}{record[2:]}"
