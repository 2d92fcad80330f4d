"""The wire form of a transaction: one tagged union, validated by pydantic-core from bytes.

``TRANSACTION.validate_json(body)`` turns one JSON object into a ``Tx``, and
``batch(n).validate_json(body)`` a JSON array of at most ``n``; ``/openapi.json``
describes the same schema (DESIGN §1). The union is tagged by ``type``: a
deposit or withdrawal (``MoneyMovement``) carries an ``amount``, a dispute,
resolve or chargeback (``Claim``) a ``ref_tx_id``; the field a type does not
carry may be absent or ``null``, nothing else. Types are strict (no number for
a string), no other field is taken, and the amount string becomes integer units
through ``shared.money`` (never a float). pydantic-core's parser keeps the last
of repeated keys: ingest looks for those itself (``services/ingest/duplicates``).

Errors name the field, without the tag pydantic puts before it: ``untagged``.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    GetPydanticSchema,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    with_config,
)
from pydantic_core import PydanticCustomError
from pydantic_core import core_schema as cs
from typing_extensions import NotRequired, TypedDict  # noqa: UP035 (pydantic needs it before 3.12)

from shared.model import Id, Tx, TxType
from shared.money import parse_amount

MAX_AMOUNT_CHARS = 40
# The decimal strings a client should send; the validator also accepts
# trailing zeros past four places ("1.50000"), so this is documentation only.
AMOUNT_PATTERN = r"^[0-9]{1,14}(\.[0-9]{1,4})?$"
AMOUNT_SCHEMA = {
    "type": "string",
    "maxLength": MAX_AMOUNT_CHARS,
    "pattern": AMOUNT_PATTERN,
    "examples": ["10.5"],
}
MIN_KEYS = 4
"""The fewest members a valid transaction object has (ids, type, amount or ref)."""


def _units_schema(_: Any, __: Any) -> cs.CoreSchema:
    text = cs.str_schema(max_length=MAX_AMOUNT_CHARS)
    return cs.no_info_after_validator_function(parse_amount, text)


Amount = Annotated[int, GetPydanticSchema(_units_schema), WithJsonSchema(AMOUNT_SCHEMA)]
"""A decimal string on the wire, integer units of 10⁻⁴ once validated."""


def _absent(value: object, info: ValidationInfo) -> None:
    if value is not None:
        kind = info.data.get("type", "transaction")
        message = "a {kind} carries no {field}"
        raise PydanticCustomError("not_allowed", message, {"kind": kind, "field": info.field_name})
    return None


Absent = Annotated[None, BeforeValidator(_absent)]
"""The field a type does not carry: absent, or ``null``."""


@with_config(ConfigDict(strict=True, extra="forbid"))
class MoneyMovement(TypedDict):
    """A deposit or a withdrawal: moves amount (a decimal string, at most 4 places by value)."""

    tx_id: Id
    account_id: Id
    type: Literal[TxType.DEPOSIT, TxType.WITHDRAWAL]
    amount: Amount
    ref_tx_id: NotRequired[Absent]


@with_config(ConfigDict(strict=True, extra="forbid"))
class Claim(TypedDict):
    """A dispute, resolve or chargeback of the deposit ref_tx_id of the same account."""

    tx_id: Id
    account_id: Id
    type: Literal[TxType.DISPUTE, TxType.RESOLVE, TxType.CHARGEBACK]
    ref_tx_id: Id
    amount: NotRequired[Absent]


_new = tuple.__new__  # NamedTuple's constructor is a Python function; this is C


def _to_tx(doc: dict[str, Any]) -> Tx:
    get = doc.get
    return _new(
        Tx, (doc["account_id"], doc["tx_id"], doc["type"], get("amount"), get("ref_tx_id"), 0)
    )


def _tx_schema(_: Any, handler: Any) -> cs.CoreSchema:
    union = handler(Annotated[MoneyMovement | Claim, Field(discriminator="type")])
    return cs.no_info_after_validator_function(_to_tx, union)


Transaction = Annotated[Tx, GetPydanticSchema(_tx_schema)]
"""A transaction as a client sends it, validated into a ``Tx``."""

TRANSACTION: TypeAdapter[Tx] = TypeAdapter(Transaction)


@cache
def batch(max_items: int) -> TypeAdapter[list[Tx]]:
    """A JSON array of at most ``max_items`` transactions."""
    return TypeAdapter(Annotated[list[Transaction], Field(max_length=max_items)])


_TAG_MESSAGE = "Input should be 'deposit', 'withdrawal', 'dispute', 'resolve' or 'chargeback'"
_TAG_ERRORS = {
    "union_tag_not_found": {"loc": ("type",), "msg": "Field required", "type": "missing"},
    "union_tag_invalid": {"loc": ("type",), "msg": _TAG_MESSAGE, "type": "enum"},
}


def untagged(error: dict[str, Any]) -> dict[str, Any]:
    """An item's ``error`` as it would be without the union: named by its field.

    pydantic puts the tag before the field of an error inside a variant
    (``(tag, field)``); a missing or unknown tag is an error of ``type``.
    """
    tag_error = _TAG_ERRORS.get(error["type"])
    if tag_error is not None:
        return {**error, **tag_error}
    return {**error, "loc": error["loc"][1:]}
