"""The account hash the worker writes and the API reads: its fields and their packing.

One hash per account, ``txflow:{s}:acct:<account>`` (schema 2):

- ``STATE`` (``:s``, a name no tx id can take: ids are ``[A-Za-z0-9._-]``):
  ``<available>|<held>|<locked>`` (units of 10⁻⁴; locked ``0``/``1``);
- one field per transaction id, its record packed as
  ``<type><state><outcome><amount>|<entry>[|<ref>[|<reason>]]``: one character
  each for type, state and outcome (``CODES``), the amount in units (deposits
  and withdrawals, empty otherwise), the stream ID it came from (the record's
  place in the account's history), the deposit a dispute, resolve or
  chargeback refers to, and the reason of a rejection or dead letter.

Short values keep the hash a listpack (Redis's compact encoding) while it has
at most ``hash-max-listpack-entries`` fields of at most
``hash-max-listpack-value`` bytes.
"""

from __future__ import annotations

from typing import NamedTuple

from typing_extensions import TypedDict  # pydantic reads these (OpenAPI) on 3.11 too

from shared.money import format_amount

STATE = ":s"
"""The field holding the account's balances and lock."""

# Each code is one character; every name of a kind has its own.
CODES: dict[str, dict[str, str]] = {
    "type": {"deposit": "d", "withdrawal": "w", "dispute": "p", "resolve": "r", "chargeback": "c"},
    "state": {
        "applied": "a",
        "rejected": "r",
        "disputed": "d",
        "resolved": "s",
        "charged_back": "c",
        "dead": "x",
        "parked": "p",
    },
    "outcome": {"applied": "a", "rejected": "r", "dead": "x", "parked": "p"},
}
NAMES: dict[str, dict[str, str]] = {
    kind: {code: name for name, code in codes.items()} for kind, codes in CODES.items()
}
TYPE, STATE_OF, OUTCOME = CODES["type"], CODES["state"], CODES["outcome"]


class Record(NamedTuple):
    """A transaction's record as stored (names, amount in units)."""

    type: str
    state: str
    outcome: str
    amount: int | None
    entry: str
    ref: str | None = None
    reason: str | None = None


def pack_state(available: int, held: int, locked: bool) -> str:
    return f"{available}|{held}|{1 if locked else 0}"


def unpack_state(value: str) -> tuple[int, int, bool]:
    """Raises ``ValueError`` when ``value`` is not a packed state."""
    available, held, locked = value.split("|")
    if locked not in ("0", "1"):
        raise ValueError(f"locked is {locked!r}")
    return int(available), int(held), locked == "1"


def pack(
    type_: str,
    state: str,
    outcome: str,
    amount: int | None,
    entry: str,
    ref: str | None = None,
    reason: str | None = None,
) -> str:
    return packed(f"{TYPE[type_]}{STATE_OF[state]}{OUTCOME[outcome]}", amount, entry, ref, reason)


def packed(
    codes: str, amount: int | None, entry: str, ref: str | None = None, reason: str | None = None
) -> str:
    """``pack`` given the three codes already (the worker's hot path)."""
    head = codes if amount is None else f"{codes}{amount}"
    if reason is not None:
        return f"{head}|{entry}|{ref or ''}|{reason}"
    if ref is not None:
        return f"{head}|{entry}|{ref}"
    return f"{head}|{entry}"


def unpack(value: str) -> Record:
    """Raises ``KeyError`` or ``ValueError`` when ``value`` is not a packed record."""
    parts = value.split("|", 3)
    head, entry = parts[0], parts[1]
    amount = head[3:]
    return Record(
        NAMES["type"][head[0]],
        NAMES["state"][head[1]],
        NAMES["outcome"][head[2]],
        int(amount) if amount else None,
        entry,
        (parts[2] or None) if len(parts) > 2 else None,
        parts[3] if len(parts) > 3 else None,
    )


def amount_of(value: str) -> int:
    """The amount of a packed deposit or withdrawal record (``ValueError`` for others)."""
    return int(value[3 : value.index("|")])


class AccountState(TypedDict):
    """An account's balances (decimal strings) and lock, as the API answers them."""

    account_id: str
    available: str
    held: str
    total: str
    locked: bool


class TxView(TypedDict):
    """A transaction's record as the API answers it (``status``: its outcome)."""

    account_id: str
    tx_id: str
    type: str
    amount: str | None
    ref_tx_id: str | None
    status: str
    state: str
    reason: str | None
    stream_id: str


def account_view(account_id: str, state: str) -> AccountState:
    available, held, locked = unpack_state(state)
    return {
        "account_id": account_id,
        "available": format_amount(available),
        "held": format_amount(held),
        "total": format_amount(available + held),
        "locked": locked,
    }


def tx_view(account_id: str, tx_id: str, value: str) -> TxView:
    r = unpack(value)
    return {
        "account_id": account_id,
        "tx_id": tx_id,
        "type": r.type,
        "amount": None if r.amount is None else format_amount(r.amount),
        "ref_tx_id": r.ref,
        "status": r.outcome,
        "state": r.state,
        "reason": r.reason,
        "stream_id": r.entry,
    }
