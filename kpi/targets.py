"""Targets: who, which KPI, which period and how much; validated, stored, loaded from YAML and CSV, listed.

A target is one row of the ``targets`` table: a KPI of the catalog, a scope (a person, a team or the whole
organisation), a period ``[start, end)`` and a value, with who set it and when. Setting a target again for
the same KPI, scope and period changes its value; setting the same value again changes nothing.

Targets come from three places, which all go through :func:`validate` and :func:`save`:

* ``config/targets.yaml`` (:func:`load_yaml`): applied whole or not at all, so a typo never half-applies;
* a CSV file (:func:`import_csv`): bad rows are reported with their line number, the others imported;
* Slack (bot/targets_modal.py), where the person setting it must be allowed to (:func:`check_access`):
  admins for anyone, managers for the people and teams they manage, never for themselves.

Periods are named as in questions, but must not depend on today: ``2026-Q4``, ``November 2026``,
``2026-11``, ``FY2026``, ``H1 2026``, ``2026-10-01 to 2026-12-31`` or ``{start, end}`` (inclusive dates).
No Slack here: the bot and the command line translate to and from these functions.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from kpi import access
from kpi.access import ORG_WORDS, AccessDenied
from kpi.catalog import Kpi, UnknownKpi
from kpi.compiler import ScopeFilter
from kpi.config import ConfigError, Strict, explain, read_yaml
from kpi.directory import Directory, Person, UnknownPerson
from kpi.formats import formatted, raw
from kpi.pacing import Pace
from kpi.periods import EARLIEST, LATEST, Calendar, Period, PeriodError, parse_period, utc_now
from kpi.schema import Target

if TYPE_CHECKING:
    from kpi.catalog import Catalog
    from kpi.service import Kpibot

ONE_DAY = dt.timedelta(days=1)
PRECISION = Decimal("0.0001")  # the column is Numeric(18, 4)
LARGEST = Decimal(10) ** 13
FIELDS = ("who", "kpi", "period", "value")
ScopeType = Literal["rep", "team", "org"]


class TargetErrors(ValueError):
    """What is wrong with a target, by field (``who``, ``kpi``, ``period``, ``value``), worded for people."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(self.errors[name] for name in FIELDS if name in self.errors))


def _problem(name: str, message: str) -> TargetErrors:
    return TargetErrors({name: message})


# --------------------------------------------------------------------------------------------------------
# Who, which KPI, which period, how much


@dataclass(frozen=True)
class Who:
    """The scope of a target: a person (``rep``, whatever their role), a team, or the organisation."""

    type: ScopeType
    id: int | None
    name: str

    @property
    def key(self) -> str:
        """``rep:12``, ``team:3`` or ``org``: how a choice travels through a Slack option."""
        return "org" if self.type == "org" else f"{self.type}:{self.id}"


ORG = Who("org", None, "the whole organisation")


def resolve_who(directory: Directory, text: Any) -> Who:
    """``org`` (or company, all...), a team by name (``West 1``, ``team West 1``), or a person by email,
    name, first name or ``@handle``."""
    words = str(text if text is not None else "").strip()
    if not words:
        raise _problem("who", "Say who the target is for: a person's email or name, a team's name, or org.")
    lower = words.lower()
    if lower in ORG_WORDS:
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


# --------------------------------------------------------------------------------------------------------
# Who may set what


def check_access(directory: Directory, setter: Person, who: Who) -> None:
    """Admins set any target; managers the targets of the people and teams they manage (not their own)."""
    if setter.role == "admin":
        return
    if who.type == "org":
        raise AccessDenied("Organisation targets are set by admins.")
    managed = directory.managed_teams(setter)
    if not managed:
        raise AccessDenied("Targets are set by managers, for the people and teams they manage, and by admins.")
    if who.type == "team":
        if who.id not in managed:
            raise AccessDenied(f"{who.name} is not a team you manage.")
        return
    if who.id == setter.id:
        raise AccessDenied("Your own targets are set by your manager or an admin.")
    person = directory.people.get(who.id) if who.id is not None else None
    if person is None or person.team_id not in managed:
        raise AccessDenied(f"{who.name} is not in a team you manage.")


def settable(directory: Directory, setter: Person, today: dt.date) -> list[Who]:
    """Every scope ``setter`` may set targets for: the organisation (admins), teams, then people still
    working on ``today``, each group by name."""
    if setter.role == "admin":
        teams = list(directory.teams.values())
        people = [p for p in directory.people.values() if p.left_at is None or p.left_at > today]
        scopes = [ORG]
    else:
        managed = directory.managed_teams(setter)
        teams = [directory.teams[team_id] for team_id in managed]
        people = [
            p
            for p in directory.people.values()
            if p.team_id in managed and p.id != setter.id and (p.left_at is None or p.left_at > today)
        ]
        scopes = []
    scopes += [Who("team", t.id, t.name) for t in sorted(teams, key=lambda t: (t.name.lower(), t.id))]
    scopes += [Who("rep", p.id, p.name) for p in sorted(people, key=lambda p: (p.name.lower(), p.id))]
    return scopes


# --------------------------------------------------------------------------------------------------------
# Validation and storage


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
    kpibot: Kpibot,
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
        "who": lambda: who if isinstance(who, Who) else resolve_who(kpibot.directory, who),
        "kpi": lambda: kpi if isinstance(kpi, Kpi) else resolve_kpi(kpibot.catalog, kpi),
        "period": lambda: (
            in_range(*period) if isinstance(period, tuple) else parse_target_period(kpibot.calendar, period)
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
            check_access(kpibot.directory, setter, found["who"])
        except AccessDenied as exc:
            errors["who"] = str(exc)
    if errors:
        raise TargetErrors(errors)
    start, end = found["period"]
    return TargetSpec(found["kpi"], found["who"], start, end, found["value"])


@dataclass
class Report:
    """What a load or an import did."""

    source: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def lines(self) -> list[str]:
        summary = f"{self.source}: {self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        if self.errors:
            summary += f", {len(self.errors)} rejected"
        return [summary + ".", *self.errors]


def _matching(spec: TargetSpec) -> Any:
    kpi, kind, scope_id, start, end = spec.natural_key
    same_scope = Target.scope_id.is_(None) if scope_id is None else Target.scope_id == scope_id
    return and_(
        Target.kpi == kpi,
        Target.scope_type == kind,
        same_scope,
        Target.period_start == start,
        Target.period_end == end,
    )


def _save_one(connection: Connection, spec: TargetSpec, set_by: str | None, now: dt.datetime) -> str:
    current = connection.execute(select(Target.value).where(_matching(spec))).first()
    if current is None:
        kpi, kind, scope_id, start, end = spec.natural_key
        connection.execute(
            insert(Target).values(
                kpi=kpi,
                scope_type=kind,
                scope_id=scope_id,
                period_start=start,
                period_end=end,
                value=spec.value,
                set_by=set_by,
                set_at=now,
            )
        )
        return "created"
    if Decimal(str(current.value)).quantize(PRECISION) == spec.value:
        return "unchanged"
    connection.execute(update(Target).where(_matching(spec)).values(value=spec.value, set_by=set_by, set_at=now))
    return "updated"


def save(
    engine: Engine,
    specs: Iterable[TargetSpec],
    set_by: str | None,
    *,
    now: dt.datetime | None = None,
    report: Report | None = None,
) -> Report:
    """Store targets in one transaction: create, update the value, or leave an equal one untouched.

    Two people saving the same new target at once: the second insert breaks the unique key, and the
    transaction is run again, finding the first one's row to update.
    """
    report = report or Report("targets")
    stamp, specs = now or utc_now(), list(specs)
    for attempt in (1, 2):
        try:
            with engine.begin() as connection:
                outcomes = [_save_one(connection, spec, set_by, stamp) for spec in specs]
            break
        except IntegrityError:
            if attempt == 2:
                raise
    for outcome in outcomes:
        report.count(outcome)
    return report


def set_target(kpibot: Kpibot, spec: TargetSpec, set_by: str | None, now: dt.datetime | None = None) -> str:
    """Store one target; ``created``, ``updated`` or ``unchanged``."""
    report = save(kpibot.engine, [spec], set_by, now=now)
    return "created" if report.created else "updated" if report.updated else "unchanged"


# --------------------------------------------------------------------------------------------------------
# config/targets.yaml


class _Dates(Strict):
    start: dt.date
    end: dt.date


class _Entry(Strict):
    who: str
    kpi: str
    period: _Dates | dt.date | int | str
    value: int | float | str


class _TargetsFile(Strict):
    targets: list[_Entry] = []


def load_yaml(kpibot: Kpibot, path: Path, *, now: dt.datetime | None = None) -> Report:
    """Apply ``targets.yaml``: every entry is checked first, and the file is applied whole or not at all
    (raises :class:`ConfigError` listing every problem). Applying it again changes nothing; targets that
    are not in the file (set in Slack, imported) are left alone."""
    data = read_yaml(path) if path.exists() else None
    try:
        parsed = _TargetsFile.model_validate(data or {})
    except ValidationError as exc:
        raise explain(path, exc, model=_TargetsFile) from None
    problems: list[str] = []
    specs: dict[tuple, tuple[int, TargetSpec]] = {}
    for index, entry in enumerate(parsed.targets):
        where = f"{path}: targets[{index}] ({entry.who}, {entry.kpi})"
        period: Any = entry.period
        if isinstance(period, _Dates):
            period = period.model_dump()
        elif isinstance(period, dt.date):
            period = period.isoformat()
        try:
            spec = validate(kpibot, entry.who, entry.kpi, period, entry.value)
        except TargetErrors as exc:
            problems.append(f"{where}: {exc}")
            continue
        if spec.natural_key in specs:
            earlier = specs[spec.natural_key][0]
            problems.append(f"{where}: the same target as targets[{earlier}]; keep one of them.")
            continue
        specs[spec.natural_key] = (index, spec)
    if problems:
        raise ConfigError("\n".join(problems))
    return save(kpibot.engine, (spec for _, spec in specs.values()), str(path), now=now, report=Report(str(path)))


# --------------------------------------------------------------------------------------------------------
# CSV import


class CsvError(ValueError):
    """A CSV file that cannot be read at all (missing columns, not a file)."""


def import_csv(kpibot: Kpibot, path: Path, *, set_by: str | None = None, now: dt.datetime | None = None) -> Report:
    """Import ``who,kpi,period,value`` (or ``who,kpi,start,end,value``, inclusive dates) rows. Bad rows are
    reported with their line number and the reason; the others are imported (a later row for the same
    target wins)."""
    report = Report(path.name)
    specs: list[TargetSpec] = []
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CsvError(f"{path}: cannot be read ({exc.strerror}).") from None
    with handle:
        reader = csv.DictReader(handle)
        columns = {(name or "").strip().lower() for name in reader.fieldnames or []}
        has_period = "period" in columns or {"start", "end"} <= columns
        missing = sorted({"who", "kpi", "value"} - columns) + ([] if has_period else ["period (or start and end)"])
        if missing:
            raise CsvError(
                f"{path}: missing column(s) {', '.join(missing)}. The first line must name the columns "
                "who,kpi,period,value (or who,kpi,start,end,value)."
            )
        for row in reader:
            cells = {(name or "").strip().lower(): (value or "").strip() for name, value in row.items() if name}
            if not any(cells.values()):
                continue
            period: Any = cells.get("period") or {"start": cells.get("start"), "end": cells.get("end")}
            try:
                specs.append(validate(kpibot, cells.get("who"), cells.get("kpi"), period, cells.get("value")))
            except TargetErrors as exc:
                report.errors.append(f"{path.name}, line {reader.line_num}: {exc}")
    return save(kpibot.engine, specs, set_by or f"import {path.name}", now=now, report=report)


# --------------------------------------------------------------------------------------------------------
# Listing with progress


@dataclass(frozen=True)
class Progress:
    """A stored target and how it is going on the as-of day."""

    who: Who
    kpi: Kpi
    start: dt.date
    end: dt.date
    label: str
    target: Decimal
    set_by: str | None
    value: Decimal | None = None
    pace: Pace | None = None
    started: bool = True

    @property
    def status(self) -> str:
        if not self.started:
            return "not started"
        return self.pace.status if self.pace else "no value"

    def to_json(self, currency: str) -> dict[str, Any]:
        fmt = self.kpi.format
        return {
            "kpi": self.kpi.key,
            "scope": {"type": self.who.type, "name": self.who.name},
            "period": {"label": self.label, "start": self.start.isoformat(), "end": (self.end - ONE_DAY).isoformat()},
            "value": raw(self.value, fmt),
            "formatted": formatted(self.value, fmt, currency) if self.started else None,
            "target": self.pace.to_json(self.kpi, currency)
            if self.pace
            else {"value": float(self.target), "formatted": formatted(self.target, fmt, currency)},
            "status": self.status,
            "set_by": self.set_by,
        }


def stored(
    engine: Engine,
    *,
    kpi: str | None = None,
    who: Who | None = None,
    period: tuple[dt.date, dt.date] | None = None,
    running_on: dt.date | None = None,
) -> list[Any]:
    """Rows of the targets table, filtered."""
    query = select(Target)
    if kpi:
        query = query.where(Target.kpi == kpi)
    if who is not None:
        query = query.where(Target.scope_type == who.type)
        query = query.where(Target.scope_id.is_(None) if who.id is None else Target.scope_id == who.id)
    if period is not None:
        query = query.where(Target.period_start == period[0], Target.period_end == period[1])
    if running_on is not None:
        query = query.where(Target.period_start <= running_on, Target.period_end > running_on)
    with engine.connect() as connection:
        return list(connection.execute(query).all())


def _who_of(directory: Directory, row: Any) -> tuple[Who, access.Scope] | None:
    if row.scope_type == "org":
        return ORG, access.org_scope()
    if row.scope_type == "team" and (team := directory.teams.get(row.scope_id)):
        return Who("team", team.id, team.name), access.team_scope(directory, [team], team.name)
    if row.scope_type == "rep" and (person := directory.people.get(row.scope_id)):
        return Who("rep", person.id, person.name), access.rep_scope(person)
    return None  # a person or team deleted since


def progress(kpibot: Kpibot, rows: Iterable[Any], as_of: dt.date) -> list[Progress]:
    """Each target's actual value for its own scope and period on ``as_of``, with pace.

    People's targets of the same KPI and period are measured by one query (a leaderboard's); a team's or
    the organisation's by one query each.
    """
    pacing = kpibot.pacing
    directory, calendar = kpibot.directory, kpibot.calendar
    found: list[tuple[Any, Who, access.Scope, Kpi]] = []
    for row in rows:
        kpi = kpibot.catalog.kpis.get(row.kpi)
        scoped = _who_of(directory, row)
        if kpi is not None and scoped is not None:
            found.append((row, *scoped, kpi))
    values: dict[int, Decimal | None] = {}
    groups: dict[tuple[str, dt.date, dt.date], dict[int, access.Scope]] = {}
    for row, who, scope, kpi in found:
        if row.period_start > as_of:
            continue
        if who.type == "rep":
            groups.setdefault((kpi.key, row.period_start, row.period_end), {})[row.id] = scope
        else:
            period = target_period(calendar, row.period_start, row.period_end, as_of)
            values[row.id] = kpibot.metrics.result(kpi, period, scope, as_of).value
    for (key, start, end), members in groups.items():
        period = target_period(calendar, start, end, as_of)
        by_person = {scope.rep_id: scope for scope in members.values() if scope.rep_id is not None}
        everyone = access.Scope("team", "targets", ScopeFilter(frozenset(by_person), frozenset()))
        results = kpibot.metrics.results_by_owner(kpibot.catalog[key], period, by_person, everyone, as_of)
        for row_id, scope in members.items():
            values[row_id] = results[scope.rep_id].value  # type: ignore[index]
    listed = []
    for row, who, _scope, kpi in found:
        target = Decimal(str(row.value))
        label = period_label(calendar, row.period_start, row.period_end)
        item = Progress(who, kpi, row.period_start, row.period_end, label, target, row.set_by)
        if row.period_start > as_of:
            listed.append(replace(item, started=False))
            continue
        period = target_period(calendar, row.period_start, row.period_end, as_of)
        value = values.get(row.id)
        listed.append(replace(item, value=value, pace=pacing.of(kpi, value, target, period)))
    order = {"org": 0, "team": 1, "rep": 2}
    return sorted(listed, key=lambda p: (p.start, -(p.end - p.start).days, p.kpi.key, order[p.who.type], p.who.name))
