"""The transaction: its wire form (validated with pydantic) and its internal form.

``TransactionIn`` is what a client sends (amount as a decimal string). ``Tx`` is
the frozen envelope that travels through the stream (amount in integer units)
with ``encode()`` / ``decode()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.errors import InvalidInput
from shared.money import format_amount, parse_amount

ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
Id = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=64)]


class TxType(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    DISPUTE = "dispute"
    RESOLVE = "resolve"
    CHARGEBACK = "chargeback"

    @property
    def moves_money(self) -> bool:
        """Deposits and withdrawals carry an amount; the others carry a ref."""
        return self in (TxType.DEPOSIT, TxType.WITHDRAWAL)


class Outcome(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    DEAD = "dead"


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


class TransactionIn(BaseModel):
    """A transaction as a client sends it (DESIGN §1)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    tx_id: Id
    account_id: Id
    type: TxType
    amount: str | None = Field(default=None, examples=["10.5"], max_length=40)
    ref_tx_id: Id | None = None

    @model_validator(mode="after")
    def _fields_match_type(self) -> Self:
        if self.type.moves_money:
            if self.amount is None:
                raise ValueError(f"amount is required for a {self.type}")
            parse_amount(self.amount)  # raises InvalidAmount, a ValueError
            if self.ref_tx_id is not None:
                raise ValueError(f"ref_tx_id is not allowed for a {self.type}")
        else:
            if self.amount is not None:
                raise ValueError(f"amount is not allowed for a {self.type}")
            if self.ref_tx_id is None:
                raise ValueError(f"ref_tx_id is required for a {self.type}")
        return self

    def to_tx(self, accepted_at: int = 0) -> Tx:
        amount = parse_amount(self.amount) if self.amount is not None else None
        return Tx(self.account_id, self.tx_id, self.type, amount, self.ref_tx_id, accepted_at)


@dataclass(frozen=True, slots=True)
class Tx:
    """A validated transaction; ``amount`` in units of 10⁻⁴.

    ``accepted_at`` is the ingest server's clock in ms when it was accepted
    (0 when it never went through ingest, as in the in-memory engine).
    """

    account_id: str
    tx_id: str
    type: TxType
    amount: int | None = None
    ref_tx_id: str | None = None
    accepted_at: int = 0

    def encode(self) -> bytes:
        """The stream entry's single field ``d``: compact JSON."""
        doc: dict[str, Any] = {"a": self.account_id, "t": self.tx_id, "y": self.type.value}
        if self.amount is not None:
            doc["m"] = self.amount
        if self.ref_tx_id is not None:
            doc["r"] = self.ref_tx_id
        doc["at"] = self.accepted_at
        return orjson.dumps(doc)

    @classmethod
    def decode(cls, data: bytes | str) -> Tx:
        """Inverse of ``encode``; raises ``InvalidInput`` for anything malformed."""
        try:
            doc = orjson.loads(data)
            amount = doc.get("m")
            if amount is not None and (type(amount) is not int or amount <= 0):
                raise InvalidInput(f"amount {amount!r} is not a positive integer of units")
            wire = TransactionIn(
                tx_id=doc["t"],
                account_id=doc["a"],
                type=TxType(doc["y"]),
                amount=None if amount is None else format_amount(amount),
                ref_tx_id=doc.get("r"),
            )
            accepted_at = doc.get("at", 0)
            if not isinstance(accepted_at, int):
                raise InvalidInput("accepted_at is not an integer")
        except InvalidInput:
            raise
        except Exception as e:  # anything malformed: JSON, keys, types, rules
            raise InvalidInput(f"undecodable entry: {e}") from None
        return wire.to_tx(accepted_at)
