"""How numbers look to people, and the raw values machines get (``--json``)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kpi.periods import Period

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "AUD": "A$", "CAD": "C$"}
CENT = Decimal("0.01")


def raw(value: Decimal | None, fmt: str = "number") -> float | int | None:
    """The JSON value at full precision (rounding belongs to :func:`formatted`, a consumer cannot undo it):
    whole numbers as integers, fractions for percentages, money in currency units."""
    if value is None:
        return None
    if fmt == "number" and value == value.to_integral_value():
        return int(value)
    return float(value)


def period_json(period: Period) -> dict[str, Any]:
    """A period for machines: its label, first and last measured day, and whether it is cut to date."""
    last = period.end - dt.timedelta(days=1)
    return {
        "label": period.label,
        "start": period.start.isoformat(),
        "end": last.isoformat(),
        "to_date": period.to_date,
    }


def money(value: Decimal, currency: str = "USD") -> str:
    symbol = CURRENCY_SYMBOLS.get(currency)
    amount = f"{abs(value).quantize(CENT, ROUND_HALF_UP):,.2f}"
    sign = "-" if value < 0 else ""
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


#: Units of compact money, largest first.
UNITS = ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k"))


def compact_money(value: Decimal, currency: str = "USD") -> str:
    """``$4.44M``, ``$83.9k``, ``$950``: three significant digits, for places a person scans (a leaderboard, a
    scorecard, a chart's axis), where ``$4,437,912.18`` would be read as a row of digits."""
    text = compact_number(abs(value))
    symbol = CURRENCY_SYMBOLS.get(currency)
    sign = "-" if value < 0 else ""
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def compact_number(value: Decimal) -> str:
    """``4.44M``, ``83.9k``, ``950``: a number to three significant digits with its unit, whole below a thousand."""
    amount = abs(value)
    if amount >= 1000:
        exponent = amount.adjusted() - 2  # keep three significant digits
        amount = amount.scaleb(-exponent).quantize(Decimal(1), ROUND_HALF_UP).scaleb(exponent)
    sign = "-" if value < 0 else ""
    for size, suffix in UNITS:
        if amount >= size:
            return f"{sign}{(amount / size).normalize():f}{suffix}"
    return f"{sign}{amount.quantize(Decimal(1), ROUND_HALF_UP):,}"


def formatted(value: Decimal | None, fmt: str, currency: str = "USD", *, compact: bool = False) -> str:
    """``$1,234.50``, ``61.5%``, ``42.3 days``, ``1,204``, ``2.4x``; ``n/a`` when there is no value. Money is
    compact (``$1.23k``) with ``compact``."""
    if value is None:
        return "n/a"
    match fmt:
        case "currency":
            return compact_money(value, currency) if compact else money(value, currency)
        case "percent":
            return f"{value * 100:.1f}%"
        case "days":
            return f"{value:.1f} days"
        case "ratio":
            return f"{value:.2f}x"
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def change(
    current: Decimal | None, previous: Decimal | None, fmt: str, *, points: bool | None = None
) -> tuple[float | None, str]:
    """The change from ``previous``: relative for amounts and counts, in points for scores and rates (``points``;
    by default for percentages): a win rate from 40% to 45% is "+5.0 pts", not "+12.5%"."""
    if current is None or previous is None:
        return None, "no comparison"
    if points if points is not None else fmt == "percent":
        shown = (current - previous) * (100 if fmt == "percent" else 1)
        return raw(current - previous, fmt if fmt == "percent" else "number"), f"{shown:+.1f} pts"
    if previous == 0:
        return None, "new" if current else "no change"
    relative = (current - previous) / abs(previous)
    return raw(relative, "percent"), f"{relative * 100:+.1f}%"
