"""CSV cells to canonical values: a column's text read as the kind the canonical schema wants (text, a moment,
a date, a decimal, an integer, a yes/no), in the formats, time zone and number format its mapping declares.
:mod:`crm.csv_source` picks the converter of each mapped column once and applies it to every row."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

from crm import values
from crm.canonical import Problem

TRUE = {"true", "yes", "y", "1"}
FALSE = {"false", "no", "n", "0"}


class NumberFormat(NamedTuple):
    """How a number column is written: its decimal mark ("." or ","), and whether "40%" may mean 0.4."""

    decimal_mark: str = "."
    rate: bool = False


def converter(kind: str, formats: list[str], timezone: zoneinfo.ZoneInfo, number: NumberFormat) -> Callable[[str], Any]:
    """The function turning a cell's text into the canonical value of ``kind`` (cached for dates)."""
    if kind in ("text", "json", "reference"):
        return identity
    if kind == "datetime":
        return functools.lru_cache(maxsize=4096)(functools.partial(_datetime, formats, timezone))
    if kind == "date":
        return functools.lru_cache(maxsize=4096)(functools.partial(_date, formats))
    if kind == "decimal":
        return functools.partial(_decimal, number)
    if kind == "integer":
        return functools.partial(_integer, number)
    return _boolean


def identity(text: str) -> str:
    return text


def _datetime(formats: list[str], timezone: zoneinfo.ZoneInfo, text: str) -> dt.datetime:
    """A moment as naive UTC; a date alone, or a time without zone, is local to ``timezone``."""
    moment = _parse(text, formats, dt.datetime.fromisoformat, "a date or date and time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone)
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _date(formats: list[str], text: str) -> dt.date:
    """A calendar date (hire date, period start): no time zone applies."""
    value = _parse(text, formats, dt.date.fromisoformat, "a date")
    return value.date() if isinstance(value, dt.datetime) else value


def _parse(text: str, formats: list[str], iso: Callable[[str], Any], what: str) -> Any:
    for fmt in formats:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    if formats:
        raise Problem(f"{text!r} is not {what} in the format {' or '.join(formats)}")
    try:
        return iso(text)
    except ValueError:
        raise Problem(f"{text!r} is not {what} (expected YYYY-MM-DD or YYYY-MM-DD HH:MM)") from None


def _decimal(number: NumberFormat, text: str) -> Decimal | None:
    """A number as exports write it ("12,500.00", "$1,200", "(300)"): :func:`crm.values.number`; None for
    blank text (a value map or a constant may give one)."""
    try:
        return values.number(text, "", decimal_mark=number.decimal_mark, rate=number.rate)
    except ValueError as error:
        raise Problem(str(error)) from None


def _integer(number: NumberFormat, text: str) -> int | None:
    parsed = _decimal(number, text)
    if parsed is None:
        return None
    if parsed != parsed.to_integral_value():
        raise Problem(f"{text!r} is not a whole number")
    return int(parsed)


def _boolean(text: str) -> bool:
    folded = text.casefold()
    if folded in TRUE or folded in FALSE:
        return folded in TRUE
    raise Problem(f"{text!r} is not yes or no")
