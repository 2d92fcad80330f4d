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

from services.worker.accounts import Account, PackedRecord


@dataclass(slots=True)
class CachedAccount:
    """An account's state and the records of its transactions seen so far.

    ``complete`` is true when the account did not exist in Redis when it was
    loaded: every record it has was then made by this cache's owner, so an
    id absent from ``records`` is known to be new without asking Redis.
    """

    account: Account
    complete: bool
    records: dict[str, PackedRecord] = field(default_factory=dict)  # tx id → its packed record
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
        # Like ``get`` without counting as a use (lookups inside a batch): the
        # dict's own ``get``, for the hot path.
        self.peek: Callable[[str], CachedAccount | None] = self._accounts.get

    def get(self, account_id: str) -> CachedAccount | None:
        cached = self._accounts.get(account_id)
        if cached is not None:
            cached.used = self._clock()
            self._accounts.move_to_end(account_id)
        return cached

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

    def add_records(self, account_id: str, records: Mapping[str, PackedRecord]) -> None:
        """Records of a cached account (ignored if it is not cached)."""
        cached = self._accounts.get(account_id)
        if cached is not None:
            self._add(cached, records)

    def _add(self, cached: CachedAccount, records: Mapping[str, PackedRecord]) -> None:
        before = len(cached.records)
        cached.records.update(records)
        self._records += len(cached.records) - before

    @property
    def records(self) -> int:
        return self._records

    def install(
        self, accounts: Mapping[str, Account], records: dict[str, dict[str, PackedRecord]]
    ) -> None:
        """Committed state: each account's new state (a use) and its new or changed records.

        An account not cached is new to Redis too (a batch's accounts are loaded
        before it is decided), so it is complete: its dict of ``records`` becomes
        its cache entry's. Records of an account neither cached nor in
        ``accounts`` (a dead letter's) are left to Redis.
        """
        now = self._clock()
        entries = self._accounts
        for account_id, changed in records.items():
            cached = entries.get(account_id)
            account = accounts.get(account_id)
            if cached is None:
                if account is not None:
                    entries[account_id] = CachedAccount(account, True, changed, now)
                    self._records += len(changed)
                continue
            if account is not None:
                cached.account = account
                cached.used = now
                entries.move_to_end(account_id)
            if changed:
                self._add(cached, changed)

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
