"""Account state and transaction records as fields of the account hash (``shared.records``)."""

from __future__ import annotations

from services.worker.accounts import Account, PackedRecord
from shared import records


def account_from(value: str) -> Account:
    """Raises ``ValueError`` when ``value`` is not a packed state."""
    return Account(*records.unpack_state(value))


def record_read(value: str) -> PackedRecord:
    """A record as read from Redis, checked: raises ``KeyError`` or ``ValueError``
    when ``value`` is not a packed record (a corrupted hash)."""
    records.unpack(value)
    return value
