"""Intake: validated transactions in, stream entries appended, receipts out."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from typing_extensions import TypedDict  # pydantic reads it (OpenAPI) on 3.11 too

from services.ingest import problems
from services.ingest.appender import Appender
from services.ingest.backpressure import LagMonitor
from services.ingest.fairness import ClientShares
from shared import keys
from shared.model import Tx
from shared.sharding import shard_of


class Receipt(TypedDict):
    """The ``202`` answer for one transaction: where it was appended."""

    tx_id: str
    account_id: str
    shard: int
    stream_id: str


class Intake:
    """Routes each transaction to its shard's stream, unless that shard is behind
    or the client already holds its share of the shard's backlog."""

    def __init__(
        self,
        shards: int,
        appender: Appender,
        monitor: LagMonitor,
        client_shares: ClientShares,
        on_accepted: Callable[[int], None] | None = None,
    ) -> None:
        self._shards = shards
        self._inboxes = [k.inbox.encode() for k in keys.shard_keys(shards)]
        self._appender = appender
        self._monitor = monitor
        self._client_shares = client_shares
        self._on_accepted = on_accepted

    async def accept(self, txs: Sequence[Tx], client: str = "") -> list[Receipt]:
        """Append ``txs`` in order, stamped with the time of acceptance; one receipt
        each once Redis has answered.

        All or nothing at the door: when any of their shards is over its lag
        limit, or holds more than its share of entries from ``client`` (its
        address), nothing is appended and ``429`` is raised. The entries count
        towards the client's share from the moment they are admitted.
        """
        shards = [shard_of(tx.account_id, self._shards) for tx in txs]
        hot = self._monitor.over_limit(shards)
        if hot:
            raise problems.throttled(hot)
        full = self._client_shares.full(client, shards)
        if full:
            raise problems.over_share(full, self._client_shares.limit)
        accepted_at = time.time_ns() // 1_000_000
        inboxes = self._inboxes
        entries = [
            (inboxes[shard], tx._replace(accepted_at=accepted_at).encode())
            for tx, shard in zip(txs, shards, strict=True)
        ]
        self._client_shares.add(client, shards)
        try:
            ids = await self._appender.append(entries)
        finally:
            self._client_shares.answered(shards)
        if self._on_accepted is not None:
            self._on_accepted(len(ids))
        return [
            {"tx_id": tx.tx_id, "account_id": tx.account_id, "shard": shard, "stream_id": sid}
            for tx, shard, sid in zip(txs, shards, ids, strict=True)
        ]
