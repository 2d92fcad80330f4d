"""Stream IDs and the replies of the stream commands the worker uses."""

from __future__ import annotations

from typing import Any

from services.worker.batch import Entry


def id_key(stream_id: str) -> tuple[int, int]:
    """A stream ID as a sortable pair: ``"1700000000000-3"`` → ``(1700000000000, 3)``."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def entries_of(rows: list[Any]) -> list[Entry]:
    """``[(id, {field: value})]`` as returned by XRANGE / XAUTOCLAIM / XREADGROUP."""
    return [Entry(entry_id, fields.get("d") if fields else None) for entry_id, fields in rows]


def trim_floor(ckpt: str, retention_ms: int) -> str:
    """The XTRIM MINID for ``:in``: at or below ``ckpt``, keeping ``retention_ms`` of history."""
    if retention_ms <= 0:
        return ckpt
    ms = id_key(ckpt)[0] - retention_ms
    return f"{ms}-0" if ms > 0 else ""
