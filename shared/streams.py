"""Redis stream IDs: ordering and trimming floors."""

from __future__ import annotations

import re

ID_PATTERN = r"^[0-9]{1,20}-[0-9]{1,20}$"
"""A complete stream ID, ``<ms>-<seq>``: what names one entry (a dead letter)."""


def is_id(text: str) -> bool:
    return re.fullmatch(ID_PATTERN, text) is not None


def id_key(stream_id: str) -> tuple[int, int]:
    """A stream ID as a sortable pair: ``"1700000000000-3"`` → ``(1700000000000, 3)``."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def trim_floor(ckpt: str, retention_ms: int) -> str:
    """The XTRIM MINID for ``:in``: at or below ``ckpt``, keeping ``retention_ms`` of history."""
    if retention_ms <= 0:
        return ckpt
    ms = id_key(ckpt)[0] - retention_ms
    return f"{ms}-0" if ms > 0 else ""
