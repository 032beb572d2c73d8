"""The fields of a target as people write them (who, KPI, period, value), checked and resolved.

Every problem is reported by field, worded for the person who typed it: the Slack form shows each under its
input, a file import prints them with the line.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Protocol

from kpi.access import AccessDenied, check_may_set_target
from kpi.catalog import Catalog, UnknownKpi
from kpi.directory import Directory, Person, UnknownPerson
from kpi.formats import formatted
from kpi.grammar.lexicon import lexicon
from kpi.grammar.periods import parse_period
from kpi.periods import EARLIEST, LATEST, Calendar, Period, PeriodError
from kpi.types import ORG, Kpi, Who

ONE_DAY = dt.timedelta(days=1)
LARGEST = Decimal(10) ** 13
FIELDS = ("who", "kpi", "period", "value")
PRECISION = Decimal("0.0001")  # the targets column is Numeric(18, 4)


class Names(Protocol):
    """What a target's words are resolved against (the service, in practice)."""

    directory: Directory
    catalog: Catalog
    calendar: Calendar


class TargetErrors(ValueError):
    """What is wrong with a target, by field (``who``, ``kpi``, ``period``, ``value``), worded for people."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(self.errors[name] for name in FIELDS if name in self.errors))


def _problem(name: str, message: str) -> TargetErrors:
    return TargetErrors({name: message})


def resolve_who(directory: Directory, text: Any) -> Who:
    """``org`` (or company, all...), a team by name (``West 1``, ``team West 1``), or a person by email,
    name, first name or ``@handle``."""
    words = str(text if text is not None else "").strip()
    if not words:
        raise _problem("who", "Say who the target is for: a person's email or name, a team's name, or org.")
    lower = words.lower()
    if lower in lexicon().scopes.org:
        return ORG
    team = directory.find_team(lower) or directory.find_team(lower.removeprefix("team ").strip())
    if team is not None:
        return Who("team", team.id, team.name)
    try:
        person = directory.find_person(words)
    except UnknownPerson as exc:
        raise _problem("who", f"{exc} A target is for a person (email or name), a team, or org.") from None
    return Who("rep", person.id, person.name)


def who_from_key(directory: Directory, key: str) -> Who:
    """The inverse of :attr:`Who.key`, checked against the directory."""
    kind, _, number = key.partition(":")
    if kind == "org" and not number:
        return ORG
    if kind in ("rep", "team") and number.isdigit():
        if kind == "rep" and (person := directory.people.get(int(number))):
            return Who("rep", person.id, person.name)
        if kind == "team" and (team := directory.teams.get(int(number))):
            return Who("team", team.id, team.name)
    raise _problem("who", "That person or team is no longer in the directory; pick another.")


def resolve_kpi(catalog: Catalog, text: Any) -> Kpi:
    """A KPI by key, label or alias, exactly (no typo tolerance: a target must not land on the wrong KPI)."""
    words = str(text if text is not None else "").strip()
    if not words:
        raise _problem("kpi", "Say which KPI: its key, such as revenue or win-rate, or its name.")
    kpi = catalog.lookup(words)
    if kpi is not None:
        return kpi
    try:
        hint = f" Did you mean {catalog.find(words).key}?"
    except UnknownKpi as exc:
        hint = f" Did you mean {', '.join(exc.suggestions)}?" if exc.suggestions else ""
    raise _problem("kpi", f"I don't know the KPI '{words}'.{hint} `kpibot ask list` shows every KPI.")


_VALUE = re.compile(r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?P<unit>%|k|m|x|d|days?)?", re.IGNORECASE)
_EXAMPLES = {
    "currency": "120000, 120k or $120,000",
    "percent": "30% (or 0.3)",
    "days": "a number of days, e.g. 30",
    "ratio": "a ratio, e.g. 3 or 3x",
    "number": "a number, e.g. 25",
}


def parse_value(kpi: Kpi, raw: Any) -> Decimal:
    """A positive target value for ``kpi``: ``120000``, ``120k``, ``$120,000``; for a percentage KPI ``30%``
    or the fraction ``0.3`` (a bare number above 1 is refused as ambiguous: 30 would be 3,000%)."""
    example = f"Enter {_EXAMPLES[kpi.format]}."
    if raw is None or isinstance(raw, bool) or not str(raw).strip():
        raise _problem("value", f"Enter a target value for {kpi.label.lower()}: {_EXAMPLES[kpi.format]}.")
    text = str(raw).strip()
    cleaned = re.sub(r"[\s,_\u00a0]", "", text).lstrip("$€£¥₹")
    match = _VALUE.fullmatch(cleaned)
    if match is None:
        raise _problem("value", f"'{text}' is not a number. {example}")
    try:
        number = Decimal(match["number"])
    except InvalidOperation:
        raise _problem("value", f"'{text}' is not a number. {example}") from None
    unit = (match["unit"] or "").lower()
    if kpi.format == "percent":
        if unit == "%":
            number /= 100
        elif unit or number > 1:
            raise _problem("value", f"{kpi.label} is a percentage: write 30% (or the fraction 0.3), not '{text}'.")
    elif unit == "%":
        raise _problem("value", f"{kpi.label} is not a percentage. {example}")
    elif unit in ("k", "m") and kpi.format in ("currency", "number"):
        number *= 1000 if unit == "k" else 1000000
    elif unit and not (unit == "x" and kpi.format == "ratio") and not (unit[0] == "d" and kpi.format == "days"):
        raise _problem("value", f"'{text}' is not a value for {kpi.label.lower()}. {example}")
    if number <= 0:
        raise _problem("value", f"A target must be more than 0, not '{text}'.")
    if number >= LARGEST:
        raise _problem("value", f"'{text}' is too large for a target.")
    value = number.quantize(PRECISION, ROUND_HALF_UP)
    if value <= 0:
        raise _problem("value", f"'{text}' is too small for a target.")
    return value


_EXAMPLE_PERIODS = "2026-Q4, November 2026, FY2026 or 2026-10-01 to 2026-12-31"
# Two as-of days far apart: a phrase naming the same period on both does not depend on today.
_FAR = (dt.date(2150, 1, 1), dt.date(2151, 7, 15))


def parse_target_period(calendar: Calendar, raw: Any) -> tuple[dt.date, dt.date]:
    """``(start, end)`` with ``end`` exclusive, from a period phrase that does not depend on today, or from
    ``{start, end}`` inclusive dates (strings or dates)."""
    if isinstance(raw, Mapping):
        try:
            start, last = (_date(raw.get(name)) for name in ("start", "end"))
        except (TypeError, ValueError):
            raise _problem(
                "period", "Write {start, end} as dates, e.g. {start: 2026-10-01, end: 2026-12-31}."
            ) from None
        return in_range(start, last + ONE_DAY)
    text = str(raw if raw is not None else "").strip()
    if not text:
        raise _problem("period", f"Say which period: e.g. {_EXAMPLE_PERIODS}.")
    try:
        first, second = (parse_period(text, calendar, as_of) for as_of in _FAR)
    except PeriodError as exc:
        reason = str(exc).split(" I understand:")[0]
        raise _problem("period", f"{reason} Write e.g. {_EXAMPLE_PERIODS}.") from None
    if (first.start, first.full_end) != (second.start, second.full_end):
        raise _problem(
            "period",
            f"'{text}' depends on today; name the period itself, e.g. {_EXAMPLE_PERIODS}.",
        )
    return first.start, first.full_end


def in_range(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """``(start, end)`` (end exclusive) when it is a period kpibot can measure: it ends after it starts, within
    the calendar's range (a target for 1900-9999 is a typo, and would be summed into every period)."""
    if end <= start:
        raise _problem("period", f"The period {start} to {end - ONE_DAY} ends before it starts.")
    if start < EARLIEST or end > LATEST or end - start > MAX_TARGET_SPAN:
        raise _problem(
            "period",
            f"The period {start} to {end - ONE_DAY} is out of range: a target's period lies between "
            f"{EARLIEST.year} and {LATEST.year - 1} and lasts at most {MAX_TARGET_SPAN.days // 366} years.",
        )
    return start, end


#: The longest period a target may cover: a multi-year plan, not "forever".
MAX_TARGET_SPAN = dt.timedelta(days=5 * 366)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip())


def period_label(calendar: Calendar, start: dt.date, end: dt.date) -> str:
    """How the calendar names ``[start, end)``: ``November 2026``, ``2026-Q4``, ``FY2026``, or the dates."""
    return _named(calendar, start, end)[0]


def _named(calendar: Calendar, start: dt.date, end: dt.date) -> tuple[str, str]:
    for grain in ("month", "quarter", "half", "year", "week", "day"):
        first, full_end, label = calendar.containing(grain, start)
        if (first, full_end) == (start, end):
            return label, grain
    last = end - ONE_DAY
    return (start.isoformat() if last == start else f"{start} to {last}"), "range"


def target_period(calendar: Calendar, start: dt.date, end: dt.date, as_of: dt.date) -> Period:
    """The period of a stored target, measured to the as-of day when it is still running."""
    label, grain = _named(calendar, start, end)
    return Period(label, start, max(start, min(end, as_of + ONE_DAY)), end, grain, calendar)


def upcoming_periods(calendar: Calendar, today: dt.date) -> list[tuple[str, str, dt.date, dt.date]]:
    """What a target is usually set for: ``(choice, label, start, end)`` for this month, quarter and year,
    and next month and quarter."""
    periods = []
    for grain, nxt in (("month", False), ("quarter", False), ("year", False), ("month", True), ("quarter", True)):
        start, end, label = calendar.containing(grain, today)
        if nxt:
            start, end, label = calendar.containing(grain, end)
        periods.append((f"{'Next' if nxt else 'This'} {grain}", label, start, end))
    return periods


@dataclass(frozen=True)
class TargetSpec:
    """A validated target, ready to store: ``end`` is exclusive."""

    kpi: Kpi
    who: Who
    start: dt.date
    end: dt.date
    value: Decimal

    @property
    def natural_key(self) -> tuple[str, str, int | None, dt.date, dt.date]:
        return (self.kpi.key, self.who.type, self.who.id, self.start, self.end)

    def describe(self, calendar: Calendar, currency: str) -> str:
        """``Revenue target for Alice Adams, 2026-Q4: $120,000.00``."""
        value = formatted(self.value, self.kpi.format, currency)
        return f"{self.kpi.label} target for {self.who.name}, {period_label(calendar, self.start, self.end)}: {value}"


def validate(
    names: Names,
    who: Any,
    kpi: Any,
    period: Any,
    value: Any,
    *,
    setter: Person | None = None,
) -> TargetSpec:
    """Check every field and, when ``setter`` is given, that they may set it. ``who`` and ``kpi`` may be
    text or already resolved (:class:`Who`, :class:`Kpi`); ``period`` a phrase, ``{start, end}`` or a
    ``(start, end)`` tuple with an exclusive end. Raises :class:`TargetErrors` with every problem found."""
    errors: dict[str, str] = {}
    found: dict[str, Any] = {}
    steps = {
        "who": lambda: who if isinstance(who, Who) else resolve_who(names.directory, who),
        "kpi": lambda: kpi if isinstance(kpi, Kpi) else resolve_kpi(names.catalog, kpi),
        "period": lambda: (
            in_range(*period) if isinstance(period, tuple) else parse_target_period(names.calendar, period)
        ),
    }
    for name, step in steps.items():
        try:
            found[name] = step()
        except TargetErrors as exc:
            errors.update(exc.errors)
    if "kpi" in found:
        try:
            found["value"] = parse_value(found["kpi"], value)
        except TargetErrors as exc:
            errors.update(exc.errors)
    if setter is not None and "who" in found:
        try:
            check_may_set_target(names.directory, setter, found["who"])
        except AccessDenied as exc:
            errors["who"] = str(exc)
    if errors:
        raise TargetErrors(errors)
    start, end = found["period"]
    return TargetSpec(found["kpi"], found["who"], start, end, found["value"])
