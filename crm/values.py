"""Reading the values CRM APIs send: times, dates, amounts and ids, as the canonical records want them.

APIs send numbers as text ("1,200.50"), empty strings for "no value", and times as ISO 8601 with an
offset or as epoch milliseconds. Each function here turns one such value into the canonical type (naive
UTC ``datetime``, ``Decimal``, ``str`` id) or None, and raises ``ValueError`` with words fit for a reject
("amount: 'abc' is not a number") when the value makes no sense. The runner checks ranges and lengths.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

#: Epoch milliseconds as text: 12 or 13 digits covers 1973 to 2286.
_EPOCH_MS = re.compile(r"^\d{12,13}$")


def empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def crm_id(value: Any) -> str | None:
    """An id as text ("123" for 123); None for no id."""
    return None if empty(value) else str(value).strip()


def parse_time(value: Any, what: str = "time") -> dt.datetime | None:
    """ISO 8601 ("2026-05-01T10:00:00.000Z", "2026-05-01 10:00:00", offsets) or epoch ms, as naive UTC.

    A time without an offset is taken as UTC, as Pipedrive's v1 and Salesforce's ``CloseDate``-style
    values are.
    """
    if empty(value):
        return None
    if (isinstance(value, int | float) and not isinstance(value, bool)) or _EPOCH_MS.match(str(value).strip()):
        return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC).replace(tzinfo=None)
    if not isinstance(value, str):
        raise ValueError(f"{what}: {value!r} is not a date and time")
    text = value.strip().replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):  # Salesforce writes offsets without a colon: +0000
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not a date and time") from None
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def parse_date(value: Any, what: str = "date") -> dt.datetime | None:
    """A calendar date ("2026-05-01"), or a time whose date is taken, as midnight of that day."""
    moment = parse_time(value, what)
    return None if moment is None else dt.datetime.combine(moment.date(), dt.time())


#: Currency symbols and ISO codes an export may write beside a number ("$1,200", "12 500 €", "USD 1,200.50").
_SYMBOLS = "[$€£¥₹₩₽₺₪₫฿₦₱]|[A-Z]{1,2}\\$|kr|zł"
_CURRENCY = re.compile(rf"^(?:[A-Z]{{3}}|{_SYMBOLS}|Fr\.?)\s*|\s*(?:[A-Z]{{3}}|{_SYMBOLS})$")
#: Spaces people and spreadsheets put between thousands: plain, no-break, narrow no-break, thin.
_SPACES = str.maketrans("", "", " \u00a0\u202f\u2009")
#: A number as people write it once signs, currency and spaces are gone, for each decimal mark: digits
#: with an optional fraction, or thousands grouped by threes with the other mark (or an apostrophe).
_WRITTEN = {
    ".": re.compile(r"^(?:\d+|\d{1,3}(?:([,'])\d{3})(?:\1\d{3})*)(?:\.\d+)?$|^\.\d+$"),
    ",": re.compile(r"^(?:\d+|\d{1,3}(?:([.'])\d{3})(?:\1\d{3})*)(?:,\d+)?$|^,\d+$"),
}
#: The fast path: what most exports and every API write.
_PLAIN = re.compile(r"^-?\d+(?:\.\d+)?$")


def number(value: Any, what: str = "amount", *, decimal_mark: str = ".", rate: bool = False) -> Decimal | None:
    """A number written the way exports and APIs write it; None for null or "".

    Reads ``1200.5``, ``"12,500.00"``, ``"$12,500"``, ``"12 500 €"``, ``"USD 1,200.50"``, ``"(1,200)"``
    (a negative, as accountants write it), ``"-5"``, ``" 42 "``; with ``decimal_mark=","`` also
    ``"1.234,50"``. A percentage (``"40%"``) is read as a share of 1 (0.4) where the field is a
    ``rate`` and refused elsewhere. Anything else (``"1,2,3"``, ``"12abc"``, ``"$"``) raises
    ``ValueError`` naming the value: a number is never guessed, because a wrong guess is a wrong revenue.
    """
    if empty(value):
        return None
    if isinstance(value, bool):
        raise _not_a_number(what, value)
    if isinstance(value, int | float | Decimal):
        parsed = Decimal(str(value))
        if not parsed.is_finite():
            raise _not_a_number(what, value)
        return parsed
    text = str(value).strip()
    if decimal_mark == "." and _PLAIN.match(text):
        return Decimal(text)
    return _written(text, what, decimal_mark, rate)


def _written(text: str, what: str, decimal_mark: str, rate: bool) -> Decimal:
    original = text
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1].strip()
    percent = text.endswith("%")
    if percent:
        if not rate:
            raise _not_a_number(what, original, ": a percentage where an amount belongs")
        text = text[:-1].strip()
    if text.startswith("-") and not negative:
        negative, text = True, text[1:].strip()
    text = _CURRENCY.sub("", text, count=2)
    if text.startswith("-") and not negative:  # "$-12" and "USD -12"
        negative, text = True, text[1:]
    text = text.translate(_SPACES)
    if not _WRITTEN[decimal_mark].match(text):
        hint = ""
        if decimal_mark == "." and re.fullmatch(r"\d+,\d{1,2}|\d{1,3}(?:\.\d{3})+,\d+", text):
            hint = ' (if the export writes a decimal comma, declare decimal: "," in the mapping)'
        raise _not_a_number(what, original, hint)
    if decimal_mark == ",":
        text = text.replace(".", "").replace("'", "").replace(",", ".")
    else:
        text = text.replace(",", "").replace("'", "")
    parsed = Decimal(text)
    if percent:
        parsed /= 100
    return -parsed if negative else parsed


def _not_a_number(what: str, value: Any, why: str = "") -> ValueError:
    """The reject reason for a value that is not a number; ``what`` names the field when the caller has not."""
    return ValueError(f"{what + ': ' if what else ''}{value!r} is not a number{why}")


def amount(value: Any, what: str = "amount") -> Decimal | None:
    """A money amount as an API sends it (see :func:`number`)."""
    return number(value, what)


def probability(value: Any, *, percent: bool) -> Decimal | None:
    """A win probability as a share of 1; ``percent`` when the API sends 0..100 ("40%" is always 0.4)."""
    text = value.strip() if isinstance(value, str) else None
    if text and text.endswith("%"):
        return number(value, "probability", rate=True)
    parsed = number(value, "probability")
    return None if parsed is None else parsed / 100 if percent else parsed


def lead_source(value: Any) -> str | None:
    """The canonical lead source: lower case, and "referral" for any kind of referral (the referrals KPI)."""
    if empty(value):
        return None
    text = str(value).strip().lower().replace("_", " ")
    return "referral" if "referral" in text else text
