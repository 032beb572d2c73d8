"""Reading the values CRM APIs send: times, dates, amounts and ids, as the canonical records want them.

APIs send numbers as text ("1,200.50"), empty strings for "no value", and times as ISO 8601 with an
offset or as epoch milliseconds. Each function here turns one such value into the canonical type (naive
UTC ``datetime``, ``Decimal``, ``str`` id) or None, and raises ``ValueError`` with words fit for a reject
("amount: 'abc' is not a number") when the value makes no sense. The runner checks ranges and lengths.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
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


def amount(value: Any, what: str = "amount") -> Decimal | None:
    """A money amount: 1200.5, "1200.50", "1,200.50" or " 1 200.50 "; None for null or ""."""
    if empty(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{what}: {value!r} is not a number")
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    text = str(value).strip().replace(",", "").replace(" ", "").replace("\u00a0", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what}: {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{what}: {value!r} is not a number")
    return number


def probability(value: Any, *, percent: bool) -> Decimal | None:
    """A win probability as a share of 1; ``percent`` when the API sends 0..100."""
    number = amount(value, "probability")
    return None if number is None else number / 100 if percent else number


def lead_source(value: Any) -> str | None:
    """The canonical lead source: lower case, and "referral" for any kind of referral (the referrals KPI)."""
    if empty(value):
        return None
    text = str(value).strip().lower().replace("_", " ")
    return "referral" if "referral" in text else text
