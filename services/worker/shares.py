"""How many shards a worker should own, and which to take or give up. Pure."""

from __future__ import annotations

import zlib
from collections.abc import Collection
from dataclasses import dataclass


def target_share(shards: int, live_workers: int) -> int:
    """``ceil(shards / live_workers)``: every shard has an owner once all reach it."""
    return -(-shards // max(1, live_workers))


def preference(worker_id: str, shards: int) -> list[int]:
    """All shards, starting at a point derived from the worker's id.

    Workers scan from different places, so concurrent starters rarely race for
    the same free shard.
    """
    start = zlib.crc32(worker_id.encode()) % shards
    return [(start + i) % shards for i in range(shards)]


@dataclass(frozen=True, slots=True)
class Moves:
    acquire: list[int]
    release: list[int]


def plan(owned: Collection[int], free: Collection[int], target: int, order: list[int]) -> Moves:
    """Shards to try to acquire (free ones, in preference order) or to release.

    Releases give up the owned shards that come last in preference order, so a
    worker keeps the shards it would pick first.
    """
    if len(owned) < target:
        wanted = [s for s in order if s in free and s not in owned]
        return Moves(wanted[: target - len(owned)], [])
    if len(owned) > target:
        ranked = [s for s in order if s in owned]
        return Moves([], ranked[target:])
    return Moves([], [])
