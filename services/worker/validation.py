"""Whether a well-formed transaction may be applied (DESIGN §1), as pure functions.

A rejection is an outcome, not an error: ``check`` returns the reason, and
``fits`` says whether the state a transaction would leave is one balances can
hold (``ledger.decide`` rejects it with ``balance_overflow`` otherwise).
"""

from __future__ import annotations

from services.worker.accounts import (
    CHARGED_BACK_CODE,
    DEPOSIT_CODE,
    DISPUTED_CODE,
    OUTCOME_AT,
    REJECTED_CODE,
    STATE_AT,
    TYPE_AT,
    UNDECIDED,
    Account,
    PackedRecord,
)
from shared.model import DEPOSIT, DISPUTE, WITHDRAWAL, Reason, Tx

LOWEST, HIGHEST = -(2**63), 2**63 - 1
"""The balances a signed 64-bit integer of units holds (DESIGN §1)."""


def check(account: Account, tx: Tx, ref: PackedRecord | None) -> Reason | None:
    """The reason ``tx`` is rejected, or ``None`` when it applies (if its result ``fits``).

    ``ref`` is the record of ``tx.ref_tx_id`` on the same account (``None`` when
    unknown); it is ignored for deposits and withdrawals.
    """
    kind = tx.type
    if kind is DEPOSIT:
        return Reason.ACCOUNT_LOCKED if account.locked else None
    if kind is WITHDRAWAL:
        assert tx.amount is not None
        if account.locked:
            return Reason.ACCOUNT_LOCKED
        return Reason.INSUFFICIENT_FUNDS if account.available < tx.amount else None
    if kind is DISPUTE:
        if account.locked:
            return Reason.ACCOUNT_LOCKED
        return _disputable(ref)
    # resolve and chargeback act only on an open dispute, locked or not
    if ref is None or ref[OUTCOME_AT] in UNDECIDED:
        return Reason.UNKNOWN_REF
    return None if ref[STATE_AT] == DISPUTED_CODE else Reason.NOT_DISPUTED


def _disputable(ref: PackedRecord | None) -> Reason | None:
    if ref is None or ref[OUTCOME_AT] in UNDECIDED:
        return Reason.UNKNOWN_REF
    if ref[TYPE_AT] != DEPOSIT_CODE:
        return Reason.REF_NOT_DEPOSIT
    state = ref[STATE_AT]
    if state == REJECTED_CODE:
        return Reason.REF_NOT_APPLIED
    if state == DISPUTED_CODE:
        return Reason.ALREADY_DISPUTED
    if state == CHARGED_BACK_CODE:
        return Reason.CHARGED_BACK
    return None


def fits(account: Account) -> bool:
    """Whether ``available``, ``held`` and ``total`` are all within a signed 64-bit integer.

    A balance is a signed 64-bit integer of units (DESIGN §1), and so may any
    reader of an account's hash take it to be: an effect that would leave one
    of the three outside is rejected instead of applied.
    """
    available, held = account.available, account.held
    return (
        LOWEST <= available <= HIGHEST
        and LOWEST <= held <= HIGHEST
        and (LOWEST <= available + held <= HIGHEST)
    )
