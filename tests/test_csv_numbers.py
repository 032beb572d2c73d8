"""Numbers as exports and APIs write them: one parser (crm.values.number) for every connector.

The cases are data beside the test (tests/data/number_formats.csv): what the cell says, the decimal mark
the mapping declares, whether the field is a rate, and the number read or the reject reason.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from crm.csv_values import NumberFormat, _decimal, _integer
from crm.values import number, probability

CASES = Path(__file__).parent / "data/number_formats.csv"


def cases() -> list[tuple[str, str, bool, str]]:
    with CASES.open(newline="", encoding="utf-8") as handle:
        return [
            (row["written"], row["decimal_mark"], row["rate"] == "yes", row["read"]) for row in csv.DictReader(handle)
        ]


@pytest.mark.parametrize(("written", "mark", "rate", "expected"), cases())
def test_a_number_is_read_as_written_or_refused_with_its_value(written, mark, rate, expected):
    try:
        read = number(written, "", decimal_mark=mark, rate=rate)
    except ValueError as error:
        assert str(error) == expected
    else:
        assert read == Decimal(expected) and str(read) == expected


def test_an_api_probability_in_percent_and_a_written_percentage_agree():
    assert probability("40", percent=True) == probability("40%", percent=False) == Decimal("0.4")


def test_a_reject_names_the_field_it_came_from():
    with pytest.raises(ValueError, match=r"^amount: 'abc' is not a number$"):
        number("abc")


def test_a_blank_whole_number_is_empty_like_a_blank_amount():
    # A value map or a constant may hand the converter blank text: an integer column reads it as None like a
    # decimal one (it used to fail on None.to_integral_value(), an AttributeError instead of a reject)
    assert _decimal(NumberFormat(), " ") is None
    assert _integer(NumberFormat(), " ") is None
    assert _integer(NumberFormat(), "12") == 12
