"""The owner's in-memory view of its shard's accounts.

Valid because the owner is the only writer of its shard; dropped whole when
the shard is lost or a commit's result is unknown. Accounts idle for longer
than ``idle_s``, and the least recently used beyond ``max_accounts`` or
while the cache holds more than ``max_records`` transaction records, are
evicted ("passivation"): Redis holds the state, so eviction costs a reload,
never a transaction. An account loaded again is incomplete: an id it does not
know is looked up in Redis before it is taken for new.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from services.worker.accounts import Account, TxRecord


@dataclass(slots=True)
class CachedAccount:
    """An account's state and the records of its transactions seen so far.

    ``complete`` is true when the account did not exist in Redis when it was
    loaded: every record it has was then made by this cache's owner, so an
    id absent from ``records`` is known to be new without asking Redis.
    """

    account: Account
    complete: bool
    records: dict[str, TxRecord] = field(default_factory=dict)
    used: float = 0.0


class AccountCache:
    def __init__(
        self,
        idle_s: float,
        max_accounts: int = 1_000_000,
        clock: Callable[[], float] = time.monotonic,
        max_records: int = 10_000_000,
    ) -> None:
        self._idle_s = idle_s
        self._max = max_accounts
        self._max_records = max_records
        self._clock = clock
        self._accounts: OrderedDict[str, CachedAccount] = OrderedDict()
        self._records = 0  # records held by every cached account together

    def get(self, account_id: str) -> CachedAccount | None:
        cached = self._accounts.get(account_id)
        if cached is not None:
            cached.used = self._clock()
            self._accounts.move_to_end(account_id)
        return cached

    def peek(self, account_id: str) -> CachedAccount | None:
        """Like ``get`` without counting as a use (for lookups inside a batch)."""
        return self._accounts.get(account_id)

    def put(self, account_id: str, cached: CachedAccount) -> None:
        cached.used = self._clock()
        replaced = self._accounts.get(account_id)
        if replaced is not None:
            self._records -= len(replaced.records)
        self._records += len(cached.records)
        self._accounts[account_id] = cached
        self._accounts.move_to_end(account_id)

    def forget(self, account_id: str) -> None:
        """Drop one account (its next use reads it from Redis again)."""
        cached = self._accounts.pop(account_id, None)
        if cached is not None:
            self._records -= len(cached.records)

    def add_records(self, account_id: str, records: Mapping[str, TxRecord]) -> None:
        """Records of a cached account (ignored if it is not cached)."""
        cached = self._accounts.get(account_id)
        if cached is not None:
            before = len(cached.records)
            cached.records.update(records)
            self._records += len(cached.records) - before

    @property
    def records(self) -> int:
        return self._records

    def install(
        self, accounts: Mapping[str, Account], records: Mapping[str, Mapping[str, TxRecord]]
    ) -> None:
        """Committed state: each account's new state (a use) and its changed records.

        An account not cached is new to Redis too (a batch's accounts are loaded
        before it is decided), so it is complete.
        """
        now = self._clock()
        entries = self._accounts
        for account_id, account in accounts.items():
            cached = entries.get(account_id)
            if cached is None:
                entries[account_id] = CachedAccount(account, complete=True, used=now)
            else:
                cached.account = account
                cached.used = now
                entries.move_to_end(account_id)
        for account_id, changed in records.items():
            self.add_records(account_id, changed)

    def missing(self, account_ids: Iterable[str]) -> list[str]:
        """The distinct ``account_ids`` not cached, in first-seen order."""
        entries = self._accounts
        return [a for a in dict.fromkeys(account_ids) if a not in entries]

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._accounts

    def __len__(self) -> int:
        return len(self._accounts)

    def evict_idle(self) -> int:
        """Drop accounts unused for ``idle_s``, and the least recently used ones
        beyond ``max_accounts`` or while all hold more than ``max_records``
        records: memory stays bounded however many accounts and transactions pass.
        """
        horizon = self._clock() - self._idle_s
        entries = self._accounts
        evicted = 0
        while entries:
            account_id, oldest = entries.popitem(last=False)
            if (
                oldest.used > horizon
                and len(entries) < self._max
                and self._records <= self._max_records
            ):
                entries[account_id] = oldest  # it stays, the oldest still
                entries.move_to_end(account_id, last=False)
                break
            self._records -= len(oldest.records)
            evicted += 1
        return evicted

    def clear(self) -> None:
        self._accounts.clear()
        self._records = 0
