"""How numbers look to people, and the raw values machines get (``--json``)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

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


def money(value: Decimal, currency: str = "USD") -> str:
    symbol = CURRENCY_SYMBOLS.get(currency)
    amount = f"{abs(value).quantize(CENT, ROUND_HALF_UP):,.2f}"
    sign = "-" if value < 0 else ""
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def formatted(value: Decimal | None, fmt: str, currency: str = "USD") -> str:
    """``$1,234.50``, ``61.5%``, ``42.3 days``, ``1,204``, ``2.4x``; ``n/a`` when there is no value."""
    if value is None:
        return "n/a"
    match fmt:
        case "currency":
            return money(value, currency)
        case "percent":
            return f"{value * 100:.1f}%"
        case "days":
            return f"{value:.1f} days"
        case "ratio":
            return f"{value:.2f}x"
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def change(current: Decimal | None, previous: Decimal | None, fmt: str) -> tuple[float | None, str]:
    """The change from ``previous``: relative for amounts and counts, in points for percentages."""
    if current is None or previous is None:
        return None, "no comparison"
    if fmt == "percent":
        points = (current - previous) * 100
        return raw(current - previous, fmt), f"{points:+.1f} pts"
    if previous == 0:
        return None, "new" if current else "no change"
    relative = (current - previous) / abs(previous)
    return raw(relative, "percent"), f"{relative * 100:+.1f}%"
