"""A shard's lag: the entries its workers still owe (undelivered + pending).

Exact: the stream's ``entries-added`` minus the shard's count of committed
entries (``txflow:{s}:committed``, kept by the commit script), whatever
restarts Redis went through. The consumer group's own ``lag`` (XINFO GROUPS)
is not: a reload of the AOF can leave its ``entries-read`` behind for good
(Redis 7.0), and a drained shard then shows a lag that never drains. That
figure stands in only where no count exists yet (a deployment from before it,
until a worker has owned the shard).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared import keys


def backlog(info: Mapping[str, Any] | BaseException, committed: object) -> int | None:
    """Lag of one shard from its XINFO STREAM reply and its committed count, if both exist."""
    if isinstance(info, BaseException) or not isinstance(committed, str | bytes | int):
        return None
    added = info.get("entries-added")
    return None if added is None else max(0, int(added) - int(committed))


def shard_lag(groups: Sequence[Mapping[str, Any]] | BaseException, length: int) -> int:
    """Lag of one shard from its XINFO GROUPS reply and XLEN (no committed count yet).

    Undelivered entries are the group's ``lag``; Redis reports ``None`` when it
    cannot tell (entries deleted in the middle of the stream) and then the
    whole stream length stands in for it, erring on the side of throttling.
    With no ``workers`` group at all nothing has been delivered.
    """
    group = None
    if not isinstance(groups, BaseException):
        group = next((g for g in groups if g.get("name") == keys.GROUP), None)
    if group is None:
        return length
    undelivered = group.get("lag")
    return (length if undelivered is None else int(undelivered)) + int(group.get("pending", 0))
