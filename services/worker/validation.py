"""Whether a well-formed transaction may be applied (DESIGN §1), as a pure function.

A rejection is an outcome, not an error: ``check`` returns the reason.
"""

from __future__ import annotations

from services.worker.accounts import UNDECIDED, Account, TxRecord, TxState
from shared.model import DEPOSIT, DISPUTE, WITHDRAWAL, Reason, Tx


def check(account: Account, tx: Tx, ref: TxRecord | None) -> Reason | None:
    """The reason ``tx`` is rejected, or ``None`` when it applies.

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
    if ref is None or ref.outcome in UNDECIDED:
        return Reason.UNKNOWN_REF
    return None if ref.state is TxState.DISPUTED else Reason.NOT_DISPUTED


def _disputable(ref: TxRecord | None) -> Reason | None:
    if ref is None or ref.outcome in UNDECIDED:
        return Reason.UNKNOWN_REF
    if ref.type is not DEPOSIT:
        return Reason.REF_NOT_DEPOSIT
    if ref.state is TxState.REJECTED:
        return Reason.REF_NOT_APPLIED
    if ref.state is TxState.DISPUTED:
        return Reason.ALREADY_DISPUTED
    if ref.state is TxState.CHARGED_BACK:
        return Reason.CHARGED_BACK
    return None
