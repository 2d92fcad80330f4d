"""Balances stay signed 64-bit integers of units: the ``balance_overflow`` rejection (DESIGN §1).

Any effect that would take ``available``, ``held`` or ``total`` outside
[-2⁶³, 2⁶³ - 1] is rejected, recorded and acknowledged like any other
rejection; the account is left as it was. The rule lives in the ledger core,
so the memory engine (replay, the fault checker's oracle) and the worker agree;
the last test runs a real worker.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.cli.__main__ import main
from services.worker import validation
from services.worker.accounts import Account, PackedRecord, TxState
from services.worker.ledger import decide
from shared import records
from shared.model import Outcome, Reason, Tx, TxType
from shared.money import MAX_UNITS
from tests.ledger import CHARGEBACK, DISPUTE, RESOLVE, D, W, last, run, state
from tests.worker.support import account, append, deposit, drain, init, outcomes

MAX = MAX_UNITS  # 2**63 - 1
MIN = -(2**63)
OVERFLOW = (Outcome.REJECTED, Reason.BALANCE_OVERFLOW)


@pytest.mark.parametrize(
    ("available", "held", "fits"),
    [
        (MAX, 0, True),
        (MAX + 1, 0, False),
        (MIN, 0, True),
        (MIN - 1, 0, False),
        (0, MAX, True),
        (0, MAX + 1, False),
        (-MAX, MAX, True),
        (MAX, 1, False),  # each fits, the total does not
        (1, MAX, False),
        (MIN, -1, False),
    ],
)
def test_a_balance_fits_when_available_held_and_total_are_64_bit(
    available: int, held: int, fits: bool
) -> None:
    assert validation.fits(Account(available, held)) is fits


def test_deposit_up_to_the_limit_is_applied_and_one_unit_more_is_rejected() -> None:
    ledger = run((D, "1", MAX - 1))
    assert last(ledger, D, "2", 1) == (Outcome.APPLIED, None)
    assert state(ledger) == Account(MAX, 0, False)

    assert last(ledger, D, "3", 1) == OVERFLOW
    assert state(ledger) == Account(MAX, 0, False)
    assert ledger.record("a", "3").reason == Reason.BALANCE_OVERFLOW
    assert last(ledger, D, "3", 1) == (Outcome.DUPLICATE, None)  # a rejection reserves its id


def test_two_deposits_of_the_largest_amount_apply_once() -> None:
    ledger = run((D, "1", MAX))
    assert last(ledger, D, "2", MAX) == OVERFLOW
    assert state(ledger) == Account(MAX, 0, False)


def test_deposit_taking_the_total_past_the_limit_is_rejected_though_available_fits() -> None:
    ledger = run((D, "1", MAX - 1), (DISPUTE, "x", "1"))  # available 0, held MAX - 1
    assert last(ledger, D, "2", 1) == (Outcome.APPLIED, None)  # total MAX
    assert last(ledger, D, "3", 1) == OVERFLOW
    assert state(ledger) == Account(1, MAX - 1, False)


def test_dispute_may_take_available_negative_but_not_held_past_the_limit() -> None:
    ledger = run((D, "1", MAX), (W, "2", MAX), (D, "3", 1))
    assert last(ledger, DISPUTE, "x", "1") == (Outcome.APPLIED, None)
    assert state(ledger) == Account(1 - MAX, MAX, False)

    assert last(ledger, DISPUTE, "y", "3") == OVERFLOW  # held would be MAX + 1
    assert state(ledger) == Account(1 - MAX, MAX, False)
    assert ledger.record("a", "3").state == TxState.APPLIED  # the deposit is not disputed
    assert last(ledger, RESOLVE, "z", "1") == (Outcome.APPLIED, None)  # and nothing is stuck
    assert state(ledger) == Account(1, 0, False)


def _deposit_record(amount: int, state: TxState = TxState.APPLIED) -> PackedRecord:
    return records.pack(TxType.DEPOSIT, state, Outcome.APPLIED, amount, "1-0")


@pytest.mark.parametrize(("amount", "applied"), [(5, True), (6, False)])
def test_dispute_taking_available_to_the_lowest_balance_is_the_boundary(
    amount: int, applied: bool
) -> None:
    dispute = Tx("a", "x", TxType.DISPUTE, None, "1")
    d = decide(Account(MIN + 5, 0), dispute, None, _deposit_record(amount))
    if applied:
        assert (d.outcome, d.account) == (Outcome.APPLIED, Account(MIN + 5 - amount, amount))
    else:
        assert (d.outcome, d.reason, d.account) == (*OVERFLOW, Account(MIN + 5, 0))
        assert d.ref is None


@pytest.mark.parametrize(("kind", "start"), [(RESOLVE, Account(MAX)), (CHARGEBACK, Account(MIN))])
def test_resolve_and_chargeback_are_held_to_the_same_bounds(kind: TxType, start: Account) -> None:
    # Unreachable from an empty account (the total bounds them), but the rule is one rule.
    d = decide(start, Tx("a", "y", kind, None, "1"), None, _deposit_record(1, TxState.DISPUTED))
    assert (d.outcome, d.reason, d.account) == (*OVERFLOW, start)


def test_other_reasons_come_before_the_overflow() -> None:
    ledger = run((D, "1", MAX), (W, "2", MAX), (DISPUTE, "x", "1"), (CHARGEBACK, "y", "1"))
    assert last(ledger, D, "4", MAX) == (Outcome.REJECTED, Reason.ACCOUNT_LOCKED)


def test_replay_prints_the_largest_balance_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in.csv"
    largest = "922337203685477.5807"
    path.write_text(f"type,client,tx,amount\ndeposit,1,1,{largest}\ndeposit,1,2,{largest}\n")
    assert main(["replay", "--engine", "memory", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == f"1,{largest},0.0000,{largest},false"


async def test_a_worker_rejects_the_overflow_and_stores_the_largest_balance(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    init(client)
    append(client, [deposit("a", "1", MAX), deposit("a", "2", MAX), deposit("a", "3", 1)])
    await drain(redis_url)
    assert account(client, "a") == Account(MAX, 0, False)
    seen = [(o["t"], o["o"], o.get("r")) for o in outcomes(client) if o["a"] == "a"]
    assert seen == [
        ("1", "applied", None),
        ("2", "rejected", "balance_overflow"),
        ("3", "rejected", "balance_overflow"),
    ]
    client.close()
