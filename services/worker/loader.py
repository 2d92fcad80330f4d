"""What a batch needs from Redis, read into the owner's cache."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from services.worker.cache import AccountCache, CachedAccount
from services.worker.hashes import account_from, record_read
from shared.errors import InvalidInput
from shared.model import Tx
from shared.parking import Parked
from shared.records import STATE

if TYPE_CHECKING:
    from services.worker.shard_store import ShardStore

# What reading a corrupted hash raises: a field missing, not a number, not a known name.
UNREADABLE = (KeyError, ValueError, TypeError)


class Loader:
    __slots__ = ("cache", "store")

    def __init__(self, store: ShardStore, cache: AccountCache) -> None:
        self.store, self.cache = store, cache

    async def load(self, txs: list[Tx | InvalidInput], parked: dict[str, Parked]) -> dict[str, str]:
        """Fill the cache with what these transactions need: one round trip, the state
        of each account not cached and the records of the ids and refs it may hold.

        Entries of ``parked`` accounts are held, not decided: nothing of theirs
        is loaded. Returns the accounts whose state or records cannot be read
        (corrupted), with why: they are parked, their neighbours go on.
        """
        unreadable: dict[str, str] = {}
        wanted = wanted_fields(txs, self.cache, parked)
        if not wanted:
            return unreadable
        replies = await self.store.load(
            [self.store.keys.account(a) for a in wanted],
            [",".join(fields) for fields in wanted.values()],
        )
        for (account_id, fields), values in zip(wanted.items(), replies, strict=True):
            try:
                self._install(account_id, fields, values)
            except UNREADABLE as e:
                unreadable[account_id] = f"account hash unreadable: {e!r}"
        return unreadable

    def _install(self, account_id: str, fields: list[str], values: list[str | None] | str) -> None:
        if isinstance(values, str):  # not a hash
            raise TypeError(values)
        if fields[0] == STATE:  # not cached: its state was asked first
            if values[0] is None:
                # An account Redis does not hold stays out of the cache: the plan takes
                # an account it cannot find as new, and its commit caches it, complete.
                return
            self.cache.put(account_id, CachedAccount(account_from(values[0]), complete=False))
        records = {
            tx_id: record_read(value)
            for tx_id, value in zip(fields, values, strict=True)
            if value is not None and tx_id != STATE
        }
        if records:
            self.cache.add_records(account_id, records)


def wanted_fields(
    txs: list[Tx | InvalidInput], cache: AccountCache, parked: Mapping[str, object]
) -> dict[str, list[str]]:
    """The fields to read of each account of this batch that is not complete in the
    cache: its state when it is not cached, the ids and refs it may hold records of.
    Parked accounts are left out: their entries are held, not decided."""
    wanted: dict[str, dict[str, None]] = {}
    for tx in txs:
        if not isinstance(tx, Tx) or tx.account_id in parked:
            continue
        account_id = tx.account_id
        fields = wanted.get(account_id)
        if fields is None:
            cached = cache.peek(account_id)
            if cached is not None and cached.complete:
                continue
            fields = wanted[account_id] = {} if cached is not None else {STATE: None}
        else:
            cached = cache.peek(account_id)
        known = cached.records if cached is not None else {}
        for tx_id in (tx.tx_id, tx.ref_tx_id):
            if tx_id is not None and tx_id not in known:
                fields[tx_id] = None
    return {a: list(fields) for a, fields in wanted.items() if fields}
