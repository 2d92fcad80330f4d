"""A stateful property test: the ledger against a small independent model."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.worker.ledger import MemoryLedger
from shared.model import Outcome, Tx, TxType

ACCOUNTS = st.sampled_from(["a", "b", "c"])
TX_IDS = st.integers(min_value=1, max_value=25).map(str)
# Small amounts, and amounts near the largest one, whose sums leave 64 bits.
LARGEST = 2**63 - 1
AMOUNTS = st.one_of(
    st.integers(min_value=1, max_value=10_000),
    st.integers(min_value=LARGEST - 10_000, max_value=LARGEST),
    st.integers(min_value=LARGEST // 2 - 10_000, max_value=LARGEST // 2 + 10_000),
)


class Model:
    """Written from DESIGN §1 independently of services/worker."""

    def __init__(self) -> None:
        self.available: dict[str, int] = {}
        self.held: dict[str, int] = {}
        self.locked: dict[str, bool] = {}
        self.seen: set[tuple[str, str]] = set()
        self.deposits: dict[tuple[str, str], int] = {}  # applied deposits' amounts
        self.status: dict[tuple[str, str], str] = {}  # open / disputed / final

    def step(self, tx: Tx) -> Outcome:
        a = tx.account_id
        self.available.setdefault(a, 0)
        self.held.setdefault(a, 0)
        self.locked.setdefault(a, False)
        key = (a, tx.tx_id)
        if key in self.seen:
            return Outcome.DUPLICATE
        self.seen.add(key)
        ref = (a, tx.ref_tx_id or "")
        amount = tx.amount or 0
        available, held, status = self.available[a], self.held[a], self.status.get(ref)
        disputed = self.deposits.get(ref, 0)
        if tx.type is TxType.DEPOSIT and not self.locked[a]:
            available += amount
        elif tx.type is TxType.WITHDRAWAL and not self.locked[a] and available >= amount:
            available -= amount
        elif tx.type is TxType.DISPUTE and not self.locked[a] and status == "open":
            available, held, status = available - disputed, held + disputed, "disputed"
        elif tx.type is TxType.RESOLVE and status == "disputed":
            available, held, status = available + disputed, held - disputed, "open"
        elif tx.type is TxType.CHARGEBACK and status == "disputed":
            held, status = held - disputed, "final"
        else:
            return Outcome.REJECTED
        if not all(-(2**63) <= n < 2**63 for n in (available, held, available + held)):
            return Outcome.REJECTED  # balance_overflow: nothing changes
        self.available[a], self.held[a] = available, held
        if tx.type is TxType.DEPOSIT:
            self.deposits[key], self.status[key] = amount, "open"
        elif tx.type is not TxType.WITHDRAWAL:
            self.status[ref] = status
        self.locked[a] = self.locked[a] or tx.type is TxType.CHARGEBACK
        return Outcome.APPLIED


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = MemoryLedger()
        self.model = Model()
        self.flows: dict[str, int] = {}  # applied deposits - withdrawals - chargebacks
        self.chargebacks: set[str] = set()

    def _check(self, tx: Tx) -> None:
        decision = self.ledger.process(tx)
        assert decision.outcome is self.model.step(tx)
        if decision.outcome is Outcome.APPLIED:
            a = tx.account_id
            if tx.type is TxType.DEPOSIT:
                self.flows[a] = self.flows.get(a, 0) + (tx.amount or 0)
            elif tx.type is TxType.WITHDRAWAL:
                self.flows[a] = self.flows.get(a, 0) - (tx.amount or 0)
            elif tx.type is TxType.CHARGEBACK:
                assert tx.ref_tx_id is not None
                ref = self.ledger.record(a, tx.ref_tx_id)
                self.flows[a] = self.flows.get(a, 0) - (ref.amount or 0)
                self.chargebacks.add(a)

    @rule(account=ACCOUNTS, tx_id=TX_IDS, amount=AMOUNTS, withdraw=st.booleans())
    def move_money(self, account: str, tx_id: str, amount: int, withdraw: bool) -> None:
        kind = TxType.WITHDRAWAL if withdraw else TxType.DEPOSIT
        self._check(Tx(account, tx_id, kind, amount))

    @rule(
        account=ACCOUNTS,
        tx_id=TX_IDS,
        ref=TX_IDS,
        kind=st.sampled_from([TxType.DISPUTE, TxType.RESOLVE, TxType.CHARGEBACK]),
    )
    def act_on_deposit(self, account: str, tx_id: str, ref: str, kind: TxType) -> None:
        self._check(Tx(account, f"r{tx_id}", kind, None, ref))

    @invariant()
    def states_equal_the_model(self) -> None:
        for account, state in self.ledger:
            assert state.available == self.model.available[account]
            assert state.held == self.model.held[account]
            assert state.locked == self.model.locked[account]

    @invariant()
    def total_is_available_plus_held(self) -> None:
        for _, state in self.ledger:
            assert state.total == state.available + state.held

    @invariant()
    def locked_only_after_a_chargeback(self) -> None:
        for account, state in self.ledger:
            assert state.locked == (account in self.chargebacks)

    @invariant()
    def no_money_is_created_or_lost(self) -> None:
        for account, state in self.ledger:
            assert state.total == self.flows.get(account, 0)
            assert state.held >= 0


LedgerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)
TestLedgerAgainstModel = LedgerMachine.TestCase
