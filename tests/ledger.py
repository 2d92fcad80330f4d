"""Replaying transactions on the pure ledger core, for the tests of its rules."""

from __future__ import annotations

from services.worker.accounts import Account
from services.worker.ledger import MemoryLedger
from shared.model import Outcome, Reason, Tx, TxType

D, W = TxType.DEPOSIT, TxType.WITHDRAWAL
DISPUTE, RESOLVE, CHARGEBACK = TxType.DISPUTE, TxType.RESOLVE, TxType.CHARGEBACK


def run(*txs: tuple[TxType, str, int | str], account: str = "a") -> MemoryLedger:
    """Replay ``(type, tx_id, amount-or-ref)`` tuples on one account."""
    ledger = MemoryLedger()
    for n, (kind, tx_id, arg) in enumerate(txs):
        ledger.process(tx(kind, tx_id, arg, account, n))
    return ledger


def tx(kind: TxType, tx_id: str, arg: int | str, account: str = "a", n: int = 0) -> Tx:
    if kind.moves_money:
        assert isinstance(arg, int)
        return Tx(account, tx_id, kind, arg)
    assert isinstance(arg, str)
    return Tx(account, f"{tx_id}", kind, None, arg)


def last(
    ledger: MemoryLedger, kind: TxType, tx_id: str, arg: int | str
) -> tuple[Outcome, Reason | None]:
    d = ledger.process(tx(kind, tx_id, arg))
    return d.outcome, d.reason


def state(ledger: MemoryLedger, account: str = "a") -> Account:
    return ledger.accounts[account]
