"""Fairness: how much of a shard's backlog one client holds, and a bound on it.

A shard's backlog is a FIFO: its ``lag`` entries are the most recent ``lag``
appended to it. So the part of it a client holds is the number of its own
entries among those. Each shard keeps the order of this process's appends as
runs of ``(client, count)``; when the shard's lag is read (``settle``), runs
older than the backlog are dropped, and what is left is, per client, its
share of the backlog. A client holding more than ``limit`` entries of a
shard is refused on that shard (``full``), while others are still admitted
until the shard's whole lag passes ``TXFLOW_MAX_LAG``.

Entries count from the moment they are admitted. The count errs on the side
of refusing: the lag ``settle`` is given was read a moment earlier, so it also
keeps the entries added since the previous reading and those whose append was
still unanswered then (either may have landed after the lag was read); and
entries another ingest process appended count in the lag but not in this
process's runs, so older runs of this one are kept in their place. A client
is therefore never let past its share by this process, and may be refused
somewhat early. (A client spreading its requests over several ingest
processes gets a share at each.)

Memory: each shard keeps at most ``capacity`` entries of runs, one run per
change of client, and the count of each client in them.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence

from starlette.types import Scope


def client_of(scope: Scope) -> str:
    """Who sent a request: its source address ("" when the server does not say).

    Behind a proxy, the server puts the address X-Forwarded-For names there,
    but only for the proxies ``TXFLOW_FORWARDED_ALLOW_IPS`` lists: anyone else
    could name any address. (With one token for every client, a token names
    none of them.)
    """
    client = scope.get("client")
    return str(client[0]) if client else ""


class ClientShares:
    """Per shard, who made the most recent appends; ``full`` says where a client is over."""

    def __init__(self, shards: int, *, limit: int, capacity: int) -> None:
        self.limit = limit
        self._logs = [_Log(capacity) for _ in range(shards)]

    def full(self, client: str, shards: Sequence[int]) -> frozenset[int]:
        """Those of ``shards`` in whose backlog ``client`` holds more than ``limit`` entries."""
        logs, limit = self._logs, self.limit
        if len(shards) == 1:  # a single POST: no set to build
            return _NONE if logs[shards[0]].held.get(client, 0) <= limit else frozenset(shards)
        return frozenset(s for s in set(shards) if logs[s].held.get(client, 0) > limit)

    def add(self, client: str, shards: Sequence[int]) -> None:
        """``client`` may append one entry to each of ``shards`` (a shard per transaction)."""
        if len(shards) == 1:  # a single POST: no Counter to build
            self._logs[shards[0]].add(client, 1)
            return
        for shard, count in Counter(shards).items():
            self._logs[shard].add(client, count)

    def answered(self, shards: Sequence[int]) -> None:
        """Redis answered (or failed) the appends ``add`` admitted for ``shards``."""
        if len(shards) == 1:
            self._logs[shards[0]].in_flight -= 1
            return
        for shard, count in Counter(shards).items():
            self._logs[shard].in_flight -= count

    def held(self, client: str, shard: int) -> int:
        """How many entries of ``shard``'s backlog ``client`` holds, as far as is known."""
        return self._logs[shard].held.get(client, 0)

    def settle(self, lags: Sequence[int]) -> None:
        """Every shard's lag was just read: forget what is no longer in its backlog."""
        for log, lag in zip(self._logs, lags, strict=True):
            log.settle(lag)


_NONE: frozenset[int] = frozenset()


class _Log:
    """One shard's appends, oldest first, as runs of one client's entries."""

    __slots__ = (
        "_capacity",
        "_clients",
        "_counts",
        "_recent",
        "_size",
        "_unanswered",
        "held",
        "in_flight",
    )

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._clients: deque[str] = deque()
        self._counts: deque[int] = deque()
        self._size = 0
        self._recent = 0
        """Entries added since the last ``settle``."""
        self.in_flight = 0
        """Entries added whose append Redis has not answered yet."""
        self._unanswered = 0
        """``in_flight`` at the last ``settle``."""
        self.held: dict[str, int] = {}

    def add(self, client: str, count: int) -> None:
        if self._clients and self._clients[-1] == client:
            self._counts[-1] += count
        else:
            self._clients.append(client)
            self._counts.append(count)
        self.held[client] = self.held.get(client, 0) + count
        self._size += count
        self._recent += count
        self.in_flight += count
        if self._size > self._capacity:
            self._keep(self._capacity)

    def settle(self, lag: int) -> None:
        # An entry not in ``lag`` landed after it was read: it was added since the
        # last settle, or its append was still unanswered then.
        self._keep(lag + self._recent + self._unanswered)
        self._recent = 0
        self._unanswered = self.in_flight

    def _keep(self, newest: int) -> None:
        """Drop the oldest entries until at most ``newest`` are left."""
        excess = self._size - newest
        while excess > 0:
            client, count = self._clients[0], self._counts[0]
            dropped = min(count, excess)
            if dropped == count:
                self._clients.popleft()
                self._counts.popleft()
            else:
                self._counts[0] = count - dropped
            left = self.held[client] - dropped
            if left:
                self.held[client] = left
            else:
                del self.held[client]
            self._size -= dropped
            excess -= dropped
