"""Which shard an account lives on."""

from __future__ import annotations

import zlib


def shard_of(account_id: str, shards: int) -> int:
    """``crc32(account_id) mod shards``: stable across processes and languages."""
    return zlib.crc32(account_id.encode()) % shards
