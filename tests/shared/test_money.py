"""Money is integer units of 10⁻⁴; the wire form is a plain decimal string."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import InvalidAmount
from shared.money import MAX_UNITS, format_amount, parse_amount


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("1", 10_000),
        ("1.5", 15_000),
        ("1.50000", 15_000),  # four places *by value*
        ("0.0001", 1),
        (".5", 5_000),
        ("2.", 20_000),
        ("922337203685477.5807", MAX_UNITS),
    ],
)
def test_valid_amounts_parse_to_units(text: str, units: int) -> None:
    assert parse_amount(text) == units


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "0.0000",
        "-1",
        "+1",
        "1.00005",
        "1e3",
        "NaN",
        "inf",
        "",
        ".",
        "1,5",
        "0x10",
        "922337203685477.5808",
        "1" * 40,
        "\uff11",
        # no surrounding whitespace, ASCII or Unicode: an amount is exactly its digits
        " 3.25",
        "3.25 ",
        "\t1",
        "1\n",
        "\u30001",
        "1\u3000",
        "\u00a01",
        "1\u2009",
        "\u20281",
    ],
)
def test_invalid_amounts_are_rejected(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(text)


def test_format_has_exactly_four_places() -> None:
    assert format_amount(15_000) == "1.5000"
    assert format_amount(0) == "0.0000"
    assert format_amount(-1) == "-0.0001"


@given(st.integers(min_value=1, max_value=MAX_UNITS))
def test_format_then_parse_is_identity(units: int) -> None:
    assert parse_amount(format_amount(units)) == units


DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")  # DESIGN §1: digits and one point


@given(st.text(alphabet="0123456789.+-e \u0661\u00b2\uff11", max_size=24))
def test_an_amount_parses_exactly_when_it_is_digits_and_one_point(text: str) -> None:
    try:
        units = parse_amount(text)
    except InvalidAmount:
        units = None
    if DECIMAL.fullmatch(text) is None:
        assert units is None
    elif units is not None:
        whole, _, frac = text.partition(".")
        assert units == int(whole or "0") * 10_000 + int(frac.ljust(4, "0")[:4] or "0")
