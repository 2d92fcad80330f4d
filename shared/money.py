"""Money: decimal strings on the wire, integer units of 10⁻⁴ inside.

A float never touches an amount. Parsing is done on the string itself so that
``1.50000`` is accepted (four places by value) and ``1.00005`` is not. An
amount is exactly its ASCII digits and point: no sign, exponent, separator or
whitespace around it (a reader that trims, like the CSV reader, trims first).
"""

from __future__ import annotations

from shared.errors import InvalidAmount

SCALE = 10_000
PLACES = 4
MAX_UNITS = 2**63 - 1
_SCALE_OF_PLACES = (10_000, 1_000, 100, 10, 1)  # units of one digit, by the places given


def parse_amount(text: str) -> int:
    """Return ``text`` in units of 10⁻⁴; it must be a positive plain decimal.

    Raises ``InvalidAmount`` for signs, exponents, NaN/inf, whitespace, more
    than four significant decimal places, zero, or more than a signed 64-bit
    integer holds.
    """
    whole, _, frac = text.partition(".")
    digits = whole + frac
    # ASCII digits only (str.isdigit alone takes superscripts and other scripts'
    # digits); "2." and ".5" are decimals, "." is not
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidAmount(f"amount {text!r} is not a plain positive decimal")
    frac = frac.rstrip("0")
    if len(frac) > PLACES:
        raise InvalidAmount(f"amount {text!r} has more than {PLACES} decimal places")
    if len(whole.lstrip("0")) > 19:  # cheap guard before building a huge int
        raise InvalidAmount(f"amount {text!r} is too large")
    units = int(whole + frac or "0") * _SCALE_OF_PLACES[len(frac)]
    if units <= 0:
        raise InvalidAmount(f"amount {text!r} must be greater than zero")
    if units > MAX_UNITS:
        raise InvalidAmount(f"amount {text!r} is too large")
    return units


def parse_balance(text: str) -> int:
    """Inverse of ``format_amount`` (a balance may be negative or zero)."""
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text)
    whole, _, frac = digits.partition(".")
    if not whole.isdigit() or len(frac) != PLACES or not frac.isdigit():
        raise InvalidAmount(f"balance {text!r} is not in the form 0.0000")
    return sign * (int(whole) * SCALE + int(frac))


def format_amount(units: int) -> str:
    """Render units of 10⁻⁴ as a decimal string with exactly four places."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), SCALE)
    return f"{sign}{whole}.{frac:04d}"
