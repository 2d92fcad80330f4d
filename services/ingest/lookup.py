"""Reading what the worker wrote: an account's state, a transaction's record, progress,
parked accounts.

Each read is answered within ``deadline_s``, else ``StoreUnavailable`` (503).
"""

from __future__ import annotations

from typing import cast

from typing_extensions import TypedDict  # pydantic reads these (OpenAPI) on 3.11 too

from shared import keys
from shared.history import HistoryPage, page
from shared.keys import ShardKeys
from shared.records import STATE, AccountState, TxView, account_view, tx_view
from shared.sharding import shard_of
from shared.store import Client, translated


class ShardProgress(TypedDict):
    shard: int
    ckpt: str | None
    owner: str | None


class Shards(TypedDict):
    shards: list[ShardProgress]


async def account(
    client: Client, shards: int, account_id: str, *, deadline_s: float
) -> AccountState | None:
    """The account's state, or ``None`` before its first transaction is processed."""
    shard_keys = ShardKeys(shard_of(account_id, shards))
    async with translated(deadline_s):
        state = await client.hget(shard_keys.account(account_id), STATE)
    return account_view(account_id, str(state)) if state is not None else None


async def transaction(
    client: Client, shards: int, account_id: str, tx_id: str, *, deadline_s: float
) -> TxView | None:
    """The transaction's record, or ``None`` while it is not processed (or unknown)."""
    shard_keys = ShardKeys(shard_of(account_id, shards))
    async with translated(deadline_s):
        value = await client.hget(shard_keys.account(account_id), tx_id)
    return tx_view(account_id, tx_id, str(value)) if value is not None else None


async def history(
    client: Client,
    shards: int,
    account_id: str,
    *,
    cursor: str | None,
    limit: int,
    order: str,
    deadline_s: float,
) -> HistoryPage | None:
    """A page of the account's history (``shared.history``), or ``None`` when Redis
    holds nothing of it. Reads the whole account hash: the one read that does."""
    shard_keys = ShardKeys(shard_of(account_id, shards))
    async with translated(deadline_s):
        fields = await client.hgetall(shard_keys.account(account_id))
    if not fields:
        return None
    return page(account_id, cast(dict[str, str], fields), cursor=cursor, limit=limit, order=order)


async def shards(client: Client, count: int, *, deadline_s: float) -> Shards:
    """Each shard's checkpoint (the last committed stream ID) and owner.

    A client that remembers the stream IDs it was given knows its transactions
    are applied once every shard's checkpoint reached them.
    """
    every = keys.shard_keys(count)
    async with translated(deadline_s), client.pipeline(transaction=False) as pipe:
        for k in every:
            pipe.get(k.ckpt)
            pipe.get(k.lease)
        replies = await pipe.execute()
    return {
        "shards": [
            {"shard": k.shard, "ckpt": replies[2 * i], "owner": replies[2 * i + 1]}
            for i, k in enumerate(every)
        ]
    }


async def parking(client: Client, count: int, *, deadline_s: float) -> list[tuple[int, int]]:
    """Each shard's parked accounts and the entries they hold (two pipelines)."""
    every = keys.shard_keys(count)
    async with translated(deadline_s):
        async with client.pipeline(transaction=False) as pipe:
            for k in every:
                pipe.hkeys(k.parked)
            found = await pipe.execute()
        parked = [(k, a) for k, accounts in zip(every, found, strict=True) for a in accounts]
        lengths: list[int] = []
        if parked:
            async with client.pipeline(transaction=False) as pipe:
                for k, account in parked:
                    pipe.llen(k.held(account))
                lengths = await pipe.execute()
    held = [0] * count
    for (k, _), n in zip(parked, lengths, strict=True):
        held[k.shard] += int(n)
    return [(len(accounts), held[k.shard]) for k, accounts in zip(every, found, strict=True)]
