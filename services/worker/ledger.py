"""One transaction's fate: idempotency, then validation, then the transition.

``decide`` is the pure core the worker runs over its cache; ``MemoryLedger``
runs it over plain dicts (the in-process engine of ``txflow replay`` and the
sequential model the tests compare the distributed system with).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from services.worker import accounts, validation
from services.worker.accounts import OUTCOME_AT, UNDECIDED, Account, PackedRecord
from shared import records
from shared.model import APPLIED, DUPLICATE, REJECTED, Outcome, Reason, Tx


class Decision(NamedTuple):
    """The outcome of one transaction and the state it leaves.

    ``record`` is the transaction's own record to store (``None`` for a
    duplicate, which changes nothing); ``ref`` the referenced deposit's new
    record when it changed.
    """

    outcome: Outcome
    reason: Reason | None
    account: Account
    record: PackedRecord | None
    ref: PackedRecord | None = None


_NEW_ACCOUNT = Account()
_new = tuple.__new__  # see accounts._new


def decide(
    account: Account | None,
    tx: Tx,
    own: PackedRecord | None,
    ref: PackedRecord | None,
    entry: str = "",
) -> Decision:
    """Decide ``tx`` given its account, any earlier record under its own id, and its ref;
    ``entry``: the stream entry it came from, for its record.

    A dead-lettered or parked record does not reserve its id: a replayed dead
    letter, a retried parked entry, is processed as if new.
    """
    current = account if account is not None else _NEW_ACCOUNT
    if own is not None and own[OUTCOME_AT] not in UNDECIDED:
        return _new(Decision, (DUPLICATE, None, current, None, None))
    reason = validation.check(current, tx, ref)
    if reason is None:
        after, new_ref = accounts.apply(current, tx, ref)
        if validation.fits(after):
            record = accounts.record_of(tx, APPLIED, entry)
            return _new(Decision, (APPLIED, None, after, record, new_ref))
        reason = Reason.BALANCE_OVERFLOW
    record = accounts.record_of(tx, REJECTED, entry, reason)
    return _new(Decision, (REJECTED, reason, current, record, None))


class MemoryLedger:
    """The whole ledger in process memory, applied strictly in call order."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.records: dict[str, dict[str, PackedRecord]] = {}  # packed (``record``: by name)

    def process(self, tx: Tx) -> Decision:
        records = self.records.setdefault(tx.account_id, {})
        ref = records.get(tx.ref_tx_id) if tx.ref_tx_id is not None else None
        d = decide(self.accounts.get(tx.account_id), tx, records.get(tx.tx_id), ref)
        self.accounts[tx.account_id] = d.account
        if d.record is not None:
            records[tx.tx_id] = d.record
        if d.ref is not None:
            assert tx.ref_tx_id is not None
            records[tx.ref_tx_id] = d.ref
        return d

    def record(self, account_id: str, tx_id: str) -> records.Record:
        """The record of ``tx_id`` on ``account_id``, its fields by name (``KeyError``: none)."""
        return records.unpack(self.records[account_id][tx_id])

    def __iter__(self) -> Iterator[tuple[str, Account]]:
        return iter(self.accounts.items())
