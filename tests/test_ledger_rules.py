"""Every rule of DESIGN §1, one named test each, on the pure ledger core."""

from __future__ import annotations

from services.worker import validation
from services.worker.accounts import Account, TxState
from shared import records
from shared.model import Outcome, Reason
from tests.ledger import CHARGEBACK, DISPUTE, RESOLVE, D, W, last, run, state, tx


# deposit
def test_deposit_adds_to_available() -> None:
    assert state(run((D, "1", 100), (D, "2", 50))) == Account(150, 0, False)


def test_deposit_into_locked_account_is_rejected() -> None:
    ledger = run((D, "1", 100), (DISPUTE, "x", "1"), (CHARGEBACK, "y", "1"))
    assert last(ledger, D, "2", 10) == (Outcome.REJECTED, Reason.ACCOUNT_LOCKED)
    assert state(ledger) == Account(0, 0, True)


# withdrawal
def test_withdrawal_subtracts_from_available() -> None:
    assert state(run((D, "1", 100), (W, "2", 40))) == Account(60, 0, False)


def test_withdrawal_of_exactly_available_is_applied() -> None:
    assert state(run((D, "1", 100), (W, "2", 100))) == Account(0, 0, False)


def test_withdrawal_beyond_available_is_rejected() -> None:
    ledger = run((D, "1", 100))
    assert last(ledger, W, "2", 101) == (Outcome.REJECTED, Reason.INSUFFICIENT_FUNDS)
    assert state(ledger) == Account(100, 0, False)


def test_withdrawal_from_locked_account_is_rejected() -> None:
    ledger = run((D, "1", 100), (D, "2", 100), (DISPUTE, "x", "1"), (CHARGEBACK, "y", "1"))
    assert last(ledger, W, "3", 10) == (Outcome.REJECTED, Reason.ACCOUNT_LOCKED)


# dispute
def test_dispute_moves_the_deposit_from_available_to_held() -> None:
    assert state(run((D, "1", 100), (D, "2", 30), (DISPUTE, "x", "1"))) == Account(30, 100, False)


def test_dispute_may_drive_available_negative() -> None:
    assert state(run((D, "1", 100), (W, "2", 80), (DISPUTE, "x", "1"))) == Account(-80, 100, False)


def test_dispute_on_locked_account_is_rejected() -> None:
    ledger = run((D, "1", 100), (D, "2", 5), (DISPUTE, "x", "1"), (CHARGEBACK, "y", "1"))
    assert last(ledger, DISPUTE, "z", "2") == (Outcome.REJECTED, Reason.ACCOUNT_LOCKED)


def test_dispute_of_unknown_ref_is_rejected() -> None:
    assert last(run((D, "1", 100)), DISPUTE, "x", "9") == (Outcome.REJECTED, Reason.UNKNOWN_REF)


def test_dispute_of_another_accounts_deposit_is_rejected() -> None:
    ledger = run((D, "1", 100), account="b")
    d = ledger.process(tx(DISPUTE, "x", "1", account="a"))
    assert (d.outcome, d.reason) == (Outcome.REJECTED, Reason.UNKNOWN_REF)
    assert state(ledger, "b") == Account(100, 0, False)


def test_dispute_of_a_withdrawal_is_rejected() -> None:
    ledger = run((D, "1", 100), (W, "2", 10))
    assert last(ledger, DISPUTE, "x", "2") == (Outcome.REJECTED, Reason.REF_NOT_DEPOSIT)


def test_dispute_of_a_rejected_deposit_is_rejected() -> None:
    # Deposits are rejected only on locked accounts, where disputes are refused
    # first; the rule still holds on its own.
    rejected = records.pack(
        D, TxState.REJECTED, Outcome.REJECTED, 100, "1-0", None, Reason.ACCOUNT_LOCKED
    )
    assert validation.check(Account(), tx(DISPUTE, "x", "1"), rejected) is Reason.REF_NOT_APPLIED


def test_dispute_of_a_deposit_under_dispute_is_rejected() -> None:
    ledger = run((D, "1", 100), (DISPUTE, "x", "1"))
    assert last(ledger, DISPUTE, "y", "1") == (Outcome.REJECTED, Reason.ALREADY_DISPUTED)
    assert state(ledger) == Account(0, 100, False)


def test_dispute_of_a_charged_back_deposit_is_rejected() -> None:
    ledger = run((D, "1", 100), (DISPUTE, "x", "1"), (CHARGEBACK, "y", "1"))
    # the account is locked, which is checked first; the record says charged back
    assert ledger.record("a", "1").state == TxState.CHARGED_BACK
    assert last(ledger, DISPUTE, "z", "1")[0] is Outcome.REJECTED


# resolve
def test_resolve_moves_held_back_to_available() -> None:
    assert state(run((D, "1", 100), (DISPUTE, "x", "1"), (RESOLVE, "y", "1"))) == Account(
        100, 0, False
    )


def test_resolved_deposit_may_be_disputed_again() -> None:
    ledger = run((D, "1", 100), (DISPUTE, "x", "1"), (RESOLVE, "y", "1"))
    assert last(ledger, DISPUTE, "z", "1") == (Outcome.APPLIED, None)
    assert state(ledger) == Account(0, 100, False)


def test_resolve_without_dispute_is_rejected() -> None:
    ledger = run((D, "1", 100))
    assert last(ledger, RESOLVE, "y", "1") == (Outcome.REJECTED, Reason.NOT_DISPUTED)
    assert last(ledger, RESOLVE, "z", "404") == (Outcome.REJECTED, Reason.UNKNOWN_REF)


def test_resolve_of_an_open_dispute_on_a_locked_account_is_applied() -> None:
    ledger = run(
        (D, "1", 100),
        (D, "2", 40),
        (DISPUTE, "x", "1"),
        (DISPUTE, "x2", "2"),
        (CHARGEBACK, "y", "1"),
    )
    assert last(ledger, RESOLVE, "z", "2") == (Outcome.APPLIED, None)
    assert state(ledger) == Account(40, 0, True)


# chargeback
def test_chargeback_removes_held_and_locks() -> None:
    assert state(
        run((D, "1", 100), (D, "2", 5), (DISPUTE, "x", "1"), (CHARGEBACK, "y", "1"))
    ) == Account(5, 0, True)


def test_chargeback_without_dispute_is_rejected() -> None:
    ledger = run((D, "1", 100))
    assert last(ledger, CHARGEBACK, "y", "1") == (Outcome.REJECTED, Reason.NOT_DISPUTED)
    assert state(ledger) == Account(100, 0, False)


def test_chargeback_after_resolve_is_rejected() -> None:
    ledger = run((D, "1", 100), (DISPUTE, "x", "1"), (RESOLVE, "y", "1"))
    assert last(ledger, CHARGEBACK, "z", "1") == (Outcome.REJECTED, Reason.NOT_DISPUTED)


# idempotency
def test_same_key_twice_is_a_duplicate_whatever_its_fields() -> None:
    ledger = run((D, "1", 100))
    assert last(ledger, W, "1", 5) == (Outcome.DUPLICATE, None)
    assert last(ledger, D, "1", 100) == (Outcome.DUPLICATE, None)
    assert state(ledger) == Account(100, 0, False)


def test_a_rejected_transaction_also_reserves_its_key() -> None:
    ledger = run((W, "1", 100))
    assert last(ledger, D, "1", 100) == (Outcome.DUPLICATE, None)
    assert state(ledger) == Account(0, 0, False)


def test_same_tx_id_on_another_account_is_not_a_duplicate() -> None:
    ledger = run((D, "1", 100))
    assert ledger.process(tx(D, "1", 7, account="b")).outcome is Outcome.APPLIED


def test_an_account_exists_from_its_first_rejected_transaction() -> None:
    ledger = run((W, "1", 100), account="new")
    assert state(ledger, "new") == Account(0, 0, False)
