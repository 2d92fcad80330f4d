"""What the console shows, read from Redis in one go.

Blocking, through the same functions as the CLI (``txflow status``, ``txflow
dlq``, ``txflow parked``): the console runs ``Board.read`` in a thread. Each read is also a
sample of the history: the counters of ``status.snapshot`` and the outcomes
committed since the read before (the first few commits of each shard's
``:out`` since then, never more than ``TXFLOW_CONSOLE_LATENCY_COMMITS`` in all).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from services.cli import dlq, parked, status
from services.console.history import History, Sample
from services.console.schemas import ShardRates, Status
from shared.keys import shard_keys
from shared.outcomes import unpack
from shared.settings import Settings
from shared.store import SyncClient
from shared.streams import id_key

Entries = Sequence[tuple[str, dict[str, Any]]]


def latencies(entries: Entries) -> list[int]:
    """Accepted → committed, in ms, of every outcome in these ``:out`` entries.

    An entry's ID dates its commit; each outcome carries when ingest accepted
    it (``at``; 0 for an entry that never went through ingest: skipped).
    """
    found = []
    for entry_id, fields in entries:
        committed_ms = id_key(entry_id)[0]
        found += [max(0, committed_ms - o["at"]) for o in unpack(fields) if o.get("at")]
    return found


class Board:
    """Reads the console's document; keeps the history and where each ``:out`` was read to."""

    def __init__(self, settings: Settings) -> None:
        self.history = History(settings.console_history)
        self._rows = settings.console_rows
        self._commits = settings.console_latency_commits
        self._interval_ms = settings.console_sample_ms
        self._actions = settings.api_token is not None  # with a token, actions are taken
        self._cursors: dict[int, str] = {}  # shard → the newest :out entry already read

    def read(self, client: SyncClient) -> Status:
        """The document of ``GET /v1/status``: ``txflow status --json`` and more."""
        snap = status.snapshot(client)
        at_ms = int(time.time() * 1000)
        rows = snap["shards"]
        self.history.add(
            Sample(
                at_ms=at_ms,
                monotonic_s=time.monotonic(),
                appended=sum(r["appended"] or 0 for r in rows),
                committed=tuple(r["committed"] or 0 for r in rows),
                latencies_ms=self._latencies(client, len(rows)),
            )
        )
        rated: list[ShardRates] = [
            {**row, "commit_rate": rate}
            for row, rate in zip(rows, self.history.commit_rates, strict=True)
        ]
        return {
            "at": at_ms,
            "actions": self._actions,
            "shards": rated,
            "workers": snap["workers"],
            "dead_letters": dlq.letters(client, self._rows),
            "parked": parked.accounts(client)[: self._rows],
            "history": {"interval_ms": self._interval_ms, "points": list(self.history.points)},
        }

    def _latencies(self, client: SyncClient, shards: int) -> list[int]:
        """Latencies of the first outcomes each shard committed since the last read.

        The first, not the newest: after a takeover they are the entries that
        waited for it, the ones p99 is for. The cursor then skips to the log's
        end, so that a page opened after a quiet hour, or a load faster than
        the bound, reads what happens now, not a backlog of the past.
        """
        per_shard = -(-self._commits // shards)
        every = shard_keys(shards)
        pipe = client.pipeline(transaction=False)
        for k in every:
            cursor = self._cursors.get(k.shard)
            if cursor is not None:
                pipe.xrange(k.outbox, min=f"({cursor}", count=per_shard)
            pipe.xrevrange(k.outbox, count=1)
        replies = iter(pipe.execute())
        found: list[int] = []
        for k in every:
            if k.shard in self._cursors:  # the first read only finds where the log ends
                found += latencies(next(replies))
            newest = next(replies)
            self._cursors[k.shard] = newest[0][0] if newest else "0-0"
        return found
