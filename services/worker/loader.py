"""What a batch needs from Redis, read into the owner's cache; the shard's parked accounts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.commands.core import AsyncScript

from services.worker.cache import AccountCache, CachedAccount
from services.worker.hashes import account_from, record_from
from services.worker.scripts import evalsha
from shared.errors import InvalidInput
from shared.keys import ShardKeys
from shared.model import Tx
from shared.parking import Parked
from shared.store import Client

# What reading a corrupted hash raises: a field missing, not a number, not a known name.
UNREADABLE = (KeyError, ValueError, TypeError)


class Loader:
    __slots__ = ("cache", "client", "keys", "script")

    def __init__(
        self, client: Client, script: AsyncScript, keys: ShardKeys, cache: AccountCache
    ) -> None:
        self.client, self.script, self.keys, self.cache = client, script, keys, cache

    async def load(self, txs: list[Tx | InvalidInput], parked: dict[str, Parked]) -> dict[str, str]:
        """Fill the cache with what these transactions need: at most two round trips.

        Entries of ``parked`` accounts are held, not decided: nothing of theirs
        is loaded. Returns the accounts whose state or records cannot be read
        (corrupted), with why: they are parked, their neighbours go on.
        """
        unreadable: dict[str, str] = {}
        accounts = missing_accounts(txs, self.cache, parked)
        if accounts:
            found = await self.hashes([self.keys.account(a) for a in accounts])
            for account_id, h in zip(accounts, found, strict=True):
                # An account Redis does not hold stays out of the cache: the plan takes
                # an account it cannot find as new, and its commit caches it, complete.
                try:
                    if h:
                        account = account_from(readable(h))
                        self.cache.put(account_id, CachedAccount(account, complete=False))
                except UNREADABLE as e:
                    unreadable[account_id] = f"account state unreadable: {e!r}"
        wanted = missing_records(txs, self.cache, parked)
        if wanted:
            found = await self.hashes([self.keys.tx(a, t) for a, t in wanted])
            for (account_id, tx_id), h in zip(wanted, found, strict=True):
                try:
                    if h:
                        self.cache.add_records(account_id, {tx_id: record_from(readable(h))})
                except UNREADABLE as e:
                    unreadable.setdefault(account_id, f"record {tx_id} unreadable: {e!r}")
        return unreadable

    async def hashes(self, keys: list[str]) -> list[dict[str, str] | str]:
        """HGETALL of each key, in one command (``lua/load.lua``); a str says why a key
        cannot be read as a hash."""
        replies = await evalsha(self.client, self.script, keys, ())
        return [
            flat if isinstance(flat, str) else dict(zip(flat[::2], flat[1::2], strict=True))
            for flat in replies
        ]

    async def parked(self) -> dict[str, Parked]:
        found: Any = await self.client.hgetall(self.keys.parked)
        return {str(a): Parked.decode(info) for a, info in found.items()}


def missing_accounts(
    txs: list[Tx | InvalidInput], cache: AccountCache, parked: Mapping[str, object]
) -> list[str]:
    """Accounts of this batch that must be loaded from Redis first (not parked ones:
    their entries are held, not decided)."""
    return cache.missing(
        tx.account_id for tx in txs if isinstance(tx, Tx) and tx.account_id not in parked
    )


def missing_records(
    txs: list[Tx | InvalidInput], cache: AccountCache, parked: Mapping[str, object]
) -> list[tuple[str, str]]:
    """(account, tx id) pairs whose records may exist in Redis but not in the cache."""
    wanted: dict[tuple[str, str], None] = {}
    for tx in txs:
        if not isinstance(tx, Tx) or tx.account_id in parked:
            continue
        cached = cache.peek(tx.account_id)
        if cached is None or cached.complete:
            continue
        for tx_id in (tx.tx_id, tx.ref_tx_id):
            if tx_id is not None and tx_id not in cached.records:
                wanted[(tx.account_id, tx_id)] = None
    return list(wanted)


def readable(h: dict[str, str] | str) -> dict[str, str]:
    """A hash read by ``Loader.hashes``; raises ``TypeError`` for one that cannot be."""
    if isinstance(h, str):
        raise TypeError(h)
    return h
