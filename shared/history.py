"""An account's history: its records in the order they were appended, a page at a time.

The account hash does not order its fields, so a page is cut from the whole
hash (one HGETALL, the only read of a whole hash) sorted by each record's
stream ID, then its tx id. A cursor names the last record of a page
(``<stream id>_<tx id>``): the next page starts after it, whatever was added
since (new records come after it, newest-first pages never show them).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from typing_extensions import TypedDict  # pydantic reads it (OpenAPI) on 3.11 too

from shared.records import TxView, tx_view
from shared.streams import id_key

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
CURSOR_PATTERN = r"^(\d{1,20}-\d{1,20})?_[A-Za-z0-9._-]{1,64}$"
ORDERS = ("newest", "oldest")

SortKey = tuple[tuple[int, int], str]


class HistoryPage(TypedDict):
    """One page of an account's history; ``next_cursor`` names the next (``None``: no more)."""

    account_id: str
    order: str
    transactions: list[TxView]
    next_cursor: str | None


def sort_key(entry: str, tx_id: str) -> SortKey:
    return (id_key(entry) if entry else (0, 0)), tx_id


def page(
    account_id: str,
    fields: dict[str, str],
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    order: str = "newest",
) -> HistoryPage:
    """One page of ``account_id``'s history from its whole hash ``fields``.

    ``cursor`` must match ``CURSOR_PATTERN`` (checked by the caller).
    """
    found = sorted(
        (sort_key(value.split("|", 2)[1], tx_id), tx_id, value)
        for tx_id, value in fields.items()
        if not tx_id.startswith(":")  # reserved fields: the account's state
    )
    keys = [key for key, _, _ in found]
    if order == "newest":
        end = len(found) if cursor is None else bisect_left(keys, _after(cursor))
        chosen = found[max(0, end - limit) : end][::-1]
        more = end - limit > 0
    else:
        start = 0 if cursor is None else bisect_right(keys, _after(cursor))
        chosen = found[start : start + limit]
        more = start + limit < len(found)
    last = chosen[-1] if chosen else None
    return {
        "account_id": account_id,
        "order": order,
        "transactions": [tx_view(account_id, tx_id, value) for _, tx_id, value in chosen],
        "next_cursor": cursor_of(last[0]) if last is not None and more else None,
    }


def cursor_of(key: SortKey) -> str:
    (ms, seq), tx_id = key
    return f"{ms}-{seq}_{tx_id}" if (ms, seq) != (0, 0) else f"_{tx_id}"


def _after(cursor: str) -> SortKey:
    entry, _, tx_id = cursor.partition("_")
    return sort_key(entry, tx_id)
