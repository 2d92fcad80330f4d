"""The transaction's internal form and the rules on its fields.

``Tx`` is the frozen envelope that travels through the stream (amount in
integer units) with ``encode()`` / ``decode()``. What a client sends (amount as
a decimal string) is validated into a ``Tx`` by ``shared.wire``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, NamedTuple, NotRequired

import orjson
from pydantic import Field
from typing_extensions import TypedDict  # pydantic reads it (OpenAPI) on 3.11 too

from shared.errors import InvalidInput
from shared.money import MAX_UNITS, format_amount, parse_amount

ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
Id = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=64)]
_ID = re.compile(ID_PATTERN)
_valid_id = _ID.fullmatch


class TxType(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    DISPUTE = "dispute"
    RESOLVE = "resolve"
    CHARGEBACK = "chargeback"

    @property
    def moves_money(self) -> bool:
        """Deposits and withdrawals carry an amount; the others carry a ref."""
        return self._value_ in ("deposit", "withdrawal")  # (no class lookup: see DEPOSIT below)


_TYPES = {t.value: t for t in TxType}
_MOVES_MONEY = {t: t.moves_money for t in TxType}
_new = tuple.__new__  # NamedTuple's constructor is a Python function; this is C


class Outcome(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    DEAD = "dead"
    PARKED = "parked"  # set aside behind an entry of its account that could not be applied


# A member read from its enum class costs several times a module global's
# read: code run once per transaction uses these names.
DEPOSIT, WITHDRAWAL, DISPUTE, RESOLVE, CHARGEBACK = TxType
APPLIED, REJECTED, DUPLICATE, DEAD, PARKED = Outcome


class Reason(StrEnum):
    """Why a transaction was rejected (or dead-lettered)."""

    ACCOUNT_LOCKED = "account_locked"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    UNKNOWN_REF = "unknown_ref"
    REF_NOT_DEPOSIT = "ref_not_deposit"
    REF_NOT_APPLIED = "ref_not_applied"
    ALREADY_DISPUTED = "already_disputed"
    CHARGED_BACK = "charged_back"
    NOT_DISPUTED = "not_disputed"
    BALANCE_OVERFLOW = "balance_overflow"


def check_id(field: str, value: object) -> str:
    if type(value) is not str or _ID.fullmatch(value) is None:
        raise InvalidInput(f"{field} {value!r} must match [A-Za-z0-9._-]{{1,64}}")
    return value


def check_shape(tx_type: TxType, amount: str | None, ref_tx_id: str | None) -> int | None:
    """The rule tying fields to the type; returns the amount in units (or ``None``)."""
    check_fields(tx_type, amount is not None, ref_tx_id is not None)
    return None if amount is None else parse_amount(amount)


def check_fields(tx_type: TxType, has_amount: bool, has_ref: bool) -> None:
    """Deposits and withdrawals carry an amount and no ref; the others the reverse."""
    if tx_type.moves_money:
        if not has_amount:
            raise InvalidInput(f"amount is required for a {tx_type}")
        if has_ref:
            raise InvalidInput(f"ref_tx_id is not allowed for a {tx_type}")
    elif has_amount:
        raise InvalidInput(f"amount is not allowed for a {tx_type}")
    elif not has_ref:
        raise InvalidInput(f"ref_tx_id is required for a {tx_type}")


def build_tx(
    account_id: str,
    tx_id: str,
    tx_type: str,
    amount: str | None = None,
    ref_tx_id: str | None = None,
) -> Tx:
    """Validate plain fields into a ``Tx``; raises ``InvalidInput`` naming the problem.

    The rules of ``shared.wire`` on plain fields, for the CSV replay, whose
    rows are no JSON (and whose errors name the line).
    """
    try:
        kind = TxType(tx_type)
    except ValueError:
        raise InvalidInput(f"unknown transaction type {tx_type!r}") from None
    units = check_shape(kind, amount, ref_tx_id)
    ref = None if ref_tx_id is None else check_id("ref_tx_id", ref_tx_id)
    return Tx(check_id("account_id", account_id), check_id("tx_id", tx_id), kind, units, ref)


class PostedTx(TypedDict):
    """A transaction as a client POSTs it (``Tx.to_wire``): the amount a decimal string."""

    tx_id: str
    account_id: str
    type: str
    amount: NotRequired[str]
    ref_tx_id: NotRequired[str]


class Tx(NamedTuple):
    """A validated transaction; ``amount`` in units of 10⁻⁴.

    ``accepted_at`` is the ingest server's clock in ms when it was accepted
    (0 when it never went through ingest, as in the in-memory engine).
    """

    account_id: str
    tx_id: str
    type: Annotated[TxType, Field(strict=False)]  # a string on the wire
    amount: int | None = None
    ref_tx_id: str | None = None
    accepted_at: int = 0

    def to_wire(self) -> PostedTx:
        """The JSON object a client would POST for this transaction."""
        doc: PostedTx = {
            "tx_id": self.tx_id,
            "account_id": self.account_id,
            "type": self.type.value,
        }
        if self.amount is not None:
            doc["amount"] = format_amount(self.amount)
        if self.ref_tx_id is not None:
            doc["ref_tx_id"] = self.ref_tx_id
        return doc

    def encode(self, accepted_at: int | None = None) -> bytes:
        """The stream entry's single field ``d``: compact JSON; stamped ``accepted_at``
        when given (ingest's clock), else with its own."""
        doc: dict[str, Any] = {"a": self.account_id, "t": self.tx_id, "y": self.type}
        if self.amount is not None:
            doc["m"] = self.amount
        if self.ref_tx_id is not None:
            doc["r"] = self.ref_tx_id
        doc["at"] = self.accepted_at if accepted_at is None else accepted_at
        return orjson.dumps(doc)

    @classmethod
    def decode(cls, data: bytes | str) -> Tx:
        """Inverse of ``encode``; raises ``InvalidInput`` for anything malformed.

        Hand-written, not a pydantic schema like the client's form
        (``shared.wire``): the data is ingest's own, and on the worker's hot
        path a pydantic union of this form measured slower, an entry at a time
        and a whole batch at once alike.
        """
        try:
            doc = orjson.loads(data)
            kind, amount, ref = _TYPES[doc["y"]], doc.get("m"), doc.get("r")
            if amount is not None and (type(amount) is not int or not 0 < amount <= MAX_UNITS):
                raise InvalidInput(f"amount {amount!r} is not a positive integer of units")
            moves_money = _MOVES_MONEY[kind]
            if (amount is not None) is not moves_money or (ref is not None) is moves_money:
                check_fields(kind, amount is not None, ref is not None)  # raises, saying why
            accepted_at = doc.get("at", 0)
            if type(accepted_at) is not int:
                raise InvalidInput("accepted_at is not an integer")
            account_id, tx_id = doc["a"], doc["t"]
            # check_id's test inline (a call less per id); check_id says what is wrong
            if not (type(account_id) is str and _valid_id(account_id)):
                check_id("account_id", account_id)
            if not (type(tx_id) is str and _valid_id(tx_id)):
                check_id("tx_id", tx_id)
            if ref is not None and not (type(ref) is str and _valid_id(ref)):
                check_id("ref_tx_id", ref)
            return _new(cls, (account_id, tx_id, kind, amount, ref, accepted_at))
        except InvalidInput:
            raise
        except Exception as e:  # anything malformed: JSON, keys, types
            # what is wrong, not that it is undecodable: the caller says that once
            raise InvalidInput(f"{type(e).__name__}: {e}") from None
