"""Digest content: who gets which digest (:func:`plan`) and what it says (:func:`build_digest`).

Every number comes from :meth:`kpi.service.Kpibot.ask`, as a question in the public grammar
(``"team West 1 revenue 2017-Q2"``, ``"leaderboard team West 1 calls 2017-05-29 to 2017-06-04"``), through
:class:`Numbers`, which remembers the answers of one run. Nothing here computes a KPI: a :class:`Digest`
only selects, orders and formats what the answers hold.

Per-rep numbers, target progress included, come from one leaderboard per KPI and period for the whole
audience, asked with each member's pace: a team of any size costs the same few questions, and a rep's DM reuses its
team's leaderboards (a question per rep made the weekly digests of a 2,000-rep company take minutes).

Periods are whole, finished days. A digest sent on ``as_of`` reports:

* daily: the day before ``as_of``, and month-to-date pace through that day;
* weekly: the last full week before the week of ``as_of`` (as of Monday 2017-06-05: 2017-05-29..06-04),
  against the week before, and target progress for the fiscal quarter in which that week started, through
  the week's last day (on a quarter's first Monday, the quarter that just ended, final);
* monthly: the month before the month of ``as_of``, against the month before it, and a 6-month trend.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal

from crm.status import ago, freshness, last_successful_sync, local_moment
from digests.config import EACH_TEAM, MANAGER, ORG, REPS, DigestsConfig, DigestSpec
from kpi import access
from kpi.answers import Answer, Help, Leaderboard, Row
from kpi.config import WEEKDAYS
from kpi.directory import Person
from kpi.formats import change, formatted
from kpi.grammar.queries import KpiQuery, LeaderboardQuery, ValueQuery, words
from kpi.metrics import Result
from kpi.pacing import Pace
from kpi.periods import Calendar, Period, calendar_period, date_range, utc_now
from kpi.service import Kpibot
from kpi.types import WHOLE_ORG, Kpi, ScopeRef
from slackui.text import arrow, escape, mention

log = logging.getLogger("kpibot.digests")

ONE_DAY = dt.timedelta(days=1)
DEFAULT_STALE_HOURS = 26.0
WEEKS_IN_TREND, MONTHS_IN_TREND, TOP = 8, 6, 3
MAX_STREAK_WEEKS = 13
#: Pace statuses that count as on pace, and those that earn a (constructive) call-out.
ON_PACE = frozenset({"ahead", "on track", "reached"})
BEHIND = frozenset({"behind", "at risk"})
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # not %b: locale

#: Who asks the questions of team and org digests: an admin principal that exists only for digests, so
#: that a team's digest never depends on who manages it. Rep digests ask as the rep ("my revenue").
DIGESTS = Person(0, "kpibot digests", None, "admin", None, None, None, None)


class DigestError(Exception):
    """A digest cannot be built (an unknown or ambiguous team, a question the core refused)."""


# ------------------------------------------------------------------------------------------------------
# Audiences, recipients and the delivery plan


@dataclass(frozen=True)
class Audience:
    """Whose numbers a digest reports: one team (with its sub-teams) or the whole organisation."""

    kind: Literal["team", "org"]
    name: str
    team_id: int | None = None
    manager: Person | None = None

    @property
    def key(self) -> str:
        return f"team:{self.team_id}" if self.kind == "team" else "org"

    @property
    def ref(self) -> ScopeRef:
        """The audience as a query's scope."""
        return ScopeRef("team", self.team_id, self.name) if self.kind == "team" else WHOLE_ORG


@dataclass(frozen=True)
class Recipient:
    """Where a digest goes: a channel (by id or ``#name``), or a person by DM (their Slack user id)."""

    kind: Literal["channel", "manager", "rep"]
    channel: str
    person: Person | None = None

    @property
    def key(self) -> str:
        return f"channel:{self.channel}" if self.kind == "channel" else f"user:{self.channel}"

    @property
    def personal(self) -> bool:
        """A rep's DM carries their own numbers, not the team's per-rep table."""
        return self.kind == "rep"


@dataclass(frozen=True)
class Delivery:
    """One digest to send: the scheduler records ``key`` before and after posting, so it posts once."""

    spec: DigestSpec
    audience: Audience
    recipient: Recipient
    period: str  # the reported period ("2017-05-29..2017-06-04"), or the run's date for cron digests

    @property
    def key(self) -> str:
        return f"digest:{self.spec.name}:{self.audience.key}:{self.recipient.key}:{self.period}"


def audiences(spec: DigestSpec, kpibot: Kpibot) -> list[Audience]:
    """``each team``: every team with a manager, by name; ``org``; or the team named by ``audience``."""
    directory = kpibot.directory
    if spec.audience == ORG:
        return [Audience("org", access.org_scope().name)]
    if spec.audience == EACH_TEAM:
        teams = [t for t in directory.teams.values() if t.manager_id in directory.people]
        return [
            Audience("team", t.name, t.id, directory.people[t.manager_id])  # type: ignore[index]
            for t in sorted(teams, key=lambda t: (t.name.lower(), t.id))
        ]
    team = directory.find_team(spec.audience)
    if team is None:
        same = sorted(t.name for t in directory.teams.values() if t.name.lower() == spec.audience.lower())
        why = "several teams have that name" if same else "no team has that name"
        names = ", ".join(sorted(t.name for t in directory.teams.values())[:10]) or "none"
        raise DigestError(f"Digest '{spec.name}': audience '{spec.audience}': {why}. Teams: {names}.")
    return [Audience("team", team.name, team.id, directory.people.get(team.manager_id or -1))]


def members(kpibot: Kpibot, audience: Audience, day: dt.date) -> list[Person]:
    """The audience's reps working on ``day``, by name."""
    directory = kpibot.directory
    team = {audience.team_id} if audience.team_id is not None else set()
    ids = set(directory.people) if audience.kind == "org" else directory.members(directory.subtree(team))
    people = [directory.people[i] for i in ids]
    working = [p for p in people if p.role == "rep" and p.active_during(day, day + ONE_DAY)]
    return sorted(working, key=lambda p: (p.name.lower(), p.id))


def home_team(kpibot: Kpibot, person: Person) -> int | None:
    """The nearest team with a manager that ``person`` belongs to: their own team, else the closest above it."""
    teams, people = kpibot.directory.teams, kpibot.directory.people
    team_id, seen = person.team_id, set()
    while team_id is not None and team_id in teams and team_id not in seen:
        seen.add(team_id)
        if teams[team_id].manager_id in people:
            return team_id
        team_id = teams[team_id].parent_id
    return None


def recipients(spec: DigestSpec, audience: Audience, kpibot: Kpibot, as_of: dt.date) -> list[Recipient]:
    """The spec's recipients for one audience; people Slack cannot reach are logged and left out."""
    found: list[Recipient] = []
    for value in spec.recipients:
        if value == MANAGER:
            manager = audience.manager
            if manager is None:
                log.warning("digest %s: %s has no manager to send to", spec.name, audience.name)
            elif not manager.slack_user_id:
                log.warning("digest %s: manager %s has no Slack user id", spec.name, manager.name)
            else:
                found.append(Recipient("manager", manager.slack_user_id, manager))
        elif value == REPS:
            for rep in members(kpibot, audience, as_of):
                if spec.audience == EACH_TEAM and home_team(kpibot, rep) != audience.team_id:
                    continue  # a rep's DM comes from their own team's digest, not from every team above it
                if rep.slack_user_id:
                    found.append(Recipient("rep", rep.slack_user_id, rep))
                else:
                    log.warning("digest %s: rep %s has no Slack user id", spec.name, rep.name)
        else:
            found.append(Recipient("channel", value))
    return list({r.key: r for r in found}.values())


def plan(
    specs: DigestsConfig | Iterable[DigestSpec], kpibot: Kpibot, as_of: dt.date, *, team: str | None = None
) -> list[Delivery]:
    """Every delivery of ``specs`` run on ``as_of`` (the local date of the run in the digest's time zone).

    The scheduler calls it with the specs that are due; ``team`` keeps one audience (for the CLI).
    """
    specs = specs.digests if isinstance(specs, DigestsConfig) else list(specs)
    deliveries = []
    for spec in specs:
        if not spec.enabled:
            continue
        period = period_key(spec, as_of, kpibot.calendar)
        for audience in audiences(spec, kpibot):
            if team is not None and audience.name.lower() != team.lower():
                continue
            for recipient in recipients(spec, audience, kpibot, as_of):
                deliveries.append(Delivery(spec, audience, recipient, period))
    return deliveries


def delivery_from_key(
    key: str, specs: DigestsConfig | Iterable[DigestSpec], kpibot: Kpibot
) -> tuple[Delivery, dt.date] | None:
    """The delivery a :attr:`Delivery.key` names, and the date to build it as of (to rebuild a post left
    pending by a crash); None when the digest, the audience or the recipient no longer exists."""
    name, _, rest = key.removeprefix("digest:").partition(":")
    spec = next((s for s in (specs.digests if isinstance(specs, DigestsConfig) else specs) if s.name == name), None)
    recipient_key, _, period = rest.rpartition(":")
    if spec is None or not recipient_key:
        return None
    try:
        last = period.split("..")[-1]
        as_of = dt.date.fromisoformat(last) + (ONE_DAY if ".." in period else dt.timedelta(0))
    except ValueError:
        return None
    for audience in audiences(spec, kpibot):
        if not recipient_key.startswith(audience.key + ":"):
            continue
        wanted = recipient_key.removeprefix(audience.key + ":")
        if wanted.startswith("channel:"):
            return Delivery(spec, audience, Recipient("channel", wanted.removeprefix("channel:")), period), as_of
        for recipient in recipients(spec, audience, kpibot, as_of):
            if recipient.key == wanted:
                return Delivery(spec, audience, recipient, period), as_of
    return None


# ------------------------------------------------------------------------------------------------------
# Periods


@dataclass(frozen=True)
class Span:
    """A calendar period (``grain`` day, week, month or quarter) or a range of days, asked as of ``as_of``."""

    grain: str
    start: dt.date
    last: dt.date
    label: str
    as_of: dt.date

    @property
    def dates(self) -> str:
        return self.start.isoformat() if self.start == self.last else f"{self.start} to {self.last}"

    def period(self, calendar: Calendar) -> Period:
        """The core's period for this span, as the core measures it on ``as_of``."""
        if self.grain == "range":
            return date_range(self.start, self.last, calendar, self.as_of)
        return calendar_period(self.grain, self.start, calendar, self.as_of)


@dataclass(frozen=True)
class Windows:
    main: Span
    previous: Span
    progress: Span | None
    trend: list[Span]


def _day(calendar: Calendar, day: dt.date, as_of: dt.date) -> Span:
    return Span("day", day, day, f"{WEEKDAYS[day.weekday()].capitalize()} {day}", as_of)


def _week(calendar: Calendar, start: dt.date, as_of: dt.date) -> Span:
    last = start + dt.timedelta(days=6)
    return Span("range", start, last, calendar.containing("week", start)[2], as_of)


def _calendar_span(calendar: Calendar, grain: str, day: dt.date, as_of: dt.date) -> Span:
    start, full_end, label = calendar.containing(grain, day)
    return Span(grain, start, full_end - ONE_DAY, label, as_of)


def windows(kind: str, as_of: dt.date, calendar: Calendar) -> Windows:
    """The periods a digest of ``kind`` sent on ``as_of`` reports (see the module docstring)."""
    day = as_of - ONE_DAY
    if kind == "daily":
        progress = _calendar_span(calendar, "month", day, day)
        return Windows(_day(calendar, day, as_of), _day(calendar, day - ONE_DAY, as_of), progress, [])
    if kind == "weekly":
        start = calendar.week_start_of(as_of) - dt.timedelta(days=7)
        weeks = [_week(calendar, start - dt.timedelta(days=7 * k), as_of) for k in range(WEEKS_IN_TREND)]
        progress = _calendar_span(calendar, "quarter", start, weeks[0].last)
        return Windows(weeks[0], weeks[1], progress, weeks[::-1])
    start = (as_of.replace(day=1) - ONE_DAY).replace(day=1)
    months, first = [], start
    for _ in range(MONTHS_IN_TREND):
        months.append(_calendar_span(calendar, "month", first, as_of))
        first = (first - ONE_DAY).replace(day=1)
    return Windows(months[0], months[1], months[0], months[::-1])


def period_key(spec: DigestSpec, as_of: dt.date, calendar: Calendar) -> str:
    """What a run reports, for idempotency keys: the same period is never posted twice to one recipient.

    A cron digest may run several times for one period (say weekly content on Mondays and Thursdays),
    so its runs are told apart by date.
    """
    if spec.cadence not in ("daily", "weekly", "monthly"):
        return as_of.isoformat()
    main = windows(spec.kind, as_of, calendar).main
    return f"{main.start}..{main.last}"


# ------------------------------------------------------------------------------------------------------
# Asking the core


class Numbers:
    """The answers of one digest run, asked of the core as typed queries and remembered.

    Share one instance across the deliveries of a run: the leaderboards of a team are then asked once for
    the team's digest and every rep's DM.
    """

    def __init__(self, kpibot: Kpibot) -> None:
        self.kpibot = kpibot
        self.asked: list[tuple[str, str, dt.date]] = []  # (query in words, asker, as of) sent to the core, in order
        self._answers: dict[tuple[KpiQuery, dt.date], tuple[Answer | Leaderboard, bool]] = {}  # and with pace?

    def answer(self, kpi: str, span: Span, audience: Audience, *, pace: bool = False) -> Answer:
        """The KPI for an audience, asked as the digests' admin; with its target progress when ``pace``."""
        result = self._run(ValueQuery(self._kpi(kpi), span.period(self.kpibot.calendar), audience.ref), span, pace)
        assert isinstance(result, Answer)
        return result

    def leaderboard(self, kpi: str, span: Span, audience: Audience, *, pace: bool = False) -> Leaderboard:
        """Every member's value; with each one's progress against their own target when ``pace``."""
        query = LeaderboardQuery(self._kpi(kpi), span.period(self.kpibot.calendar), audience.ref)
        result = self._run(query, span, pace)
        assert isinstance(result, Leaderboard)
        return result

    def _kpi(self, key: str) -> Kpi:
        kpi = self.kpibot.catalog.lookup(key)
        if kpi is None:  # digests.yaml is checked against the catalog when loaded: a KPI gone since
            raise DigestError(f"The digest names the KPI '{key}', which is not in the catalog.")
        return kpi

    def _run(self, query: KpiQuery, span: Span, pace: bool) -> Answer | Leaderboard:
        """Ask once per query and day: an answer with pace also serves a request without."""
        memo = (query, span.as_of)
        known = self._answers.get(memo)
        if known is not None and (known[1] or not pace):
            return known[0]
        self.asked.append((words(query), DIGESTS.name, span.as_of))
        try:
            result = self.kpibot.run(query, DIGESTS, span.as_of, pace=pace)
        except (access.AccessDenied, LookupError) as exc:
            raise DigestError(f"The digest's '{words(query)}' (as of {span.as_of}) failed: {exc}") from exc
        assert not isinstance(result, Help)
        self._answers[memo] = (result, pace)
        return result


# ------------------------------------------------------------------------------------------------------
# Content


@dataclass(frozen=True)
class PeriodInfo:
    label: str
    start: dt.date
    last: dt.date
    to_date: bool = False

    @property
    def dates(self) -> str:
        return self.start.isoformat() if self.start == self.last else f"{self.start} to {self.last}"

    @classmethod
    def of(cls, period: Period, label: str | None = None) -> PeriodInfo:
        return cls(label or period.label, period.start, period.end - ONE_DAY, period.to_date)

    @classmethod
    def of_span(cls, span: Span) -> PeriodInfo:
        return cls(span.label, span.start, span.last)


@dataclass(frozen=True)
class Figure:
    """One KPI for the audience (or the rep) in the period, against the previous period."""

    key: str
    label: str
    value: Decimal | None
    formatted: str
    parts: str | None
    reason: str | None
    previous: Decimal | None
    previous_formatted: str
    change: float | None
    change_text: str
    better: bool | None
    arrow: str

    @classmethod
    def of(cls, answer: Answer) -> Figure:
        kpi = answer.kpi
        delta, text = answer.change
        better = None if not delta else (delta > 0) == kpi.higher_is_better
        previous = answer.previous.value
        return cls(
            kpi.key,
            kpi.label,
            answer.result.value,
            answer.formatted,
            answer.parts,
            answer.result.reason,
            previous,
            formatted(previous, kpi.format, answer.currency),
            delta,
            text,
            better,
            arrow(delta),
        )


@dataclass(frozen=True)
class Ranked:
    rank: int
    person_id: int
    name: str
    mention: str
    value: Decimal | None
    formatted: str


@dataclass(frozen=True)
class Mover:
    """The rep whose KPI improved most against the previous period."""

    person_id: int
    name: str
    mention: str
    label: str
    formatted: str
    previous_formatted: str
    change_text: str


@dataclass(frozen=True)
class Win:
    person_id: int
    name: str
    mention: str
    deals: Decimal
    deals_formatted: str
    revenue: Decimal | None
    revenue_formatted: str


@dataclass(frozen=True)
class Progress:
    """Progress against a target: one rep's, or the audience's (``person_id`` None)."""

    person_id: int | None
    name: str
    mention: str
    value: Decimal | None
    formatted: str
    target: Decimal
    target_formatted: str
    attainment: Decimal | None
    attainment_text: str
    expected: Decimal | None
    expected_formatted: str | None
    projection: Decimal | None
    projection_formatted: str | None
    status: str
    catch_up: str | None  # how much more puts them back on pace, when behind
    streak: int = 0  # consecutive weeks on pace, ending with the reported week (weekly digests)

    @property
    def on_pace(self) -> bool:
        return self.status in ON_PACE

    @property
    def behind(self) -> bool:
        return self.status in BEHIND

    @classmethod
    def of(cls, answer: Answer, person: Person | None) -> Progress | None:
        """The audience's progress (``person`` None) or a person's, from an answer."""
        return cls.of_result(answer.result, answer.pace, answer.currency, person, answer.scope.name)

    @classmethod
    def of_row(cls, row: Row, person: Person, currency: str) -> Progress | None:
        """A rep's progress from their row of a leaderboard asked with paces."""
        return cls.of_result(row.result, row.pace, currency, person, person.name)

    @classmethod
    def of_result(
        cls, result: Result, pace: Pace | None, currency: str, person: Person | None, scope_name: str
    ) -> Progress | None:
        if pace is None:
            return None
        kpi = result.kpi

        def fmt(value: Decimal | None) -> str | None:
            return None if value is None else formatted(value, kpi.format, currency)

        value = result.value
        catch_up = None
        if pace.status in BEHIND and pace.expected is not None and value is not None and kpi.higher_is_better:
            catch_up = fmt(max(pace.expected - value, Decimal(0)))
        return cls(
            person.id if person else None,
            person.name if person else scope_name,
            mention(person) if person else escape(scope_name),
            value,
            formatted(value, kpi.format, currency),
            pace.target,
            formatted(pace.target, kpi.format, currency),
            pace.attainment,
            "n/a" if pace.attainment is None else f"{pace.attainment * 100:.0f}%",
            pace.expected,
            fmt(pace.expected),
            pace.projection,
            fmt(pace.projection),
            pace.status,
            catch_up,
        )


@dataclass(frozen=True)
class TrendPoint:
    label: str
    short: str
    start: dt.date
    last: dt.date
    value: Decimal | None
    formatted: str


@dataclass
class Digest:
    """Everything a digest says, with exact numbers; templates lay it out, they compute nothing."""

    name: str
    kind: str  # daily | weekly | monthly
    template: str  # file name, e.g. weekly.json.j2
    title: str
    audience: Audience
    recipient: Recipient | None
    person: Person | None  # the rep a personal digest is for
    as_of: dt.date
    period: PeriodInfo
    previous: PeriodInfo
    currency: str
    freshness: str
    stale_warning: str | None
    figures: list[Figure] = field(default_factory=list)
    leaderboard_label: str | None = None
    leaders: list[Ranked] = field(default_factory=list)
    rank: Ranked | None = None  # the rep's place on the leaderboard (personal digests)
    ranked: int = 0  # how many are on the leaderboard
    mover: Mover | None = None
    wins: list[Win] = field(default_factory=list)
    target_label: str | None = None
    progress_period: PeriodInfo | None = None
    team_progress: Progress | None = None
    progress: list[Progress] = field(default_factory=list)
    without_target: list[str] = field(default_factory=list)
    me: Progress | None = None
    trend_label: str | None = None
    trend_format: str = "number"
    trend: list[TrendPoint] = field(default_factory=list)
    charts: bool = True
    skip_when_empty: bool = False

    @property
    def personal(self) -> bool:
        return self.person is not None

    @property
    def streaks(self) -> list[Progress]:
        """Reps on pace two weeks running or more, longest streak first."""
        rows = [row for row in self.progress if row.streak >= 2]
        return sorted(rows, key=lambda row: (-row.streak, row.name.lower()))

    @property
    def behind(self) -> list[Progress]:
        return [row for row in self.progress if row.behind]

    @property
    def empty(self) -> bool:
        """Nothing happened: every KPI is zero or has no value, and nobody won anything."""
        return not self.wins and all(not figure.value for figure in self.figures)

    @property
    def skip(self) -> bool:
        return self.skip_when_empty and self.empty

    @property
    def summary(self) -> str:
        """The plain-text fallback: title, period and the headline numbers.

        Nothing in it depends on the clock (the freshness warning is in the blocks), so the same digest has
        the same text: the delivery log fingerprints it to find a post after a crash.
        """
        numbers = "; ".join(f"{f.label} {f.formatted} ({f.change_text})" for f in self.figures[:4])
        text = f"{self.title}, {self.period.dates}"
        return f"{text}: {numbers}." if numbers else f"{text}."


def build_digest(
    kpibot: Kpibot,
    spec: DigestSpec,
    audience: Audience,
    recipient: Recipient | None,
    as_of: dt.date,
    *,
    numbers: Numbers | None = None,
    now: dt.datetime | None = None,
) -> Digest:
    """The content of ``spec`` for ``audience`` as sent to ``recipient`` on ``as_of`` (see module docstring).

    ``recipient`` decides the variant: a rep's DM (:attr:`Recipient.personal`) carries their own numbers,
    rank and progress; any other recipient gets the audience's digest. ``now`` (naive UTC) is when the
    data's freshness is judged, by default the present.
    """
    numbers = numbers or Numbers(kpibot)
    person = recipient.person if recipient is not None and recipient.personal else None
    w = windows(spec.kind, as_of, kpibot.calendar)
    fresh, stale = _freshness(kpibot, spec, now)
    if person is None:
        title = f"{spec.kind.capitalize()} digest: {audience.name}"
    else:
        title = f"Your {spec.kind} digest, {person.first_name}"
    digest = Digest(
        name=spec.name,
        kind=spec.kind,
        template=spec.template_name,
        title=title,
        audience=audience,
        recipient=recipient,
        person=person,
        as_of=as_of,
        period=PeriodInfo.of_span(w.main),
        previous=PeriodInfo.of_span(w.previous),
        currency=kpibot.org.currency,
        freshness=fresh,
        stale_warning=stale,
        charts=spec.charts,
        skip_when_empty=spec.skip_empty,
    )
    build = _Build(kpibot, numbers, spec, audience, person, w, digest)
    build.figures()
    if spec.kind == "daily":
        build.wins()
    else:
        build.leaders()
    if spec.kind == "weekly":
        build.mover()
    build.progress(streaks=spec.kind == "weekly", per_rep=spec.kind != "daily")
    if w.trend:
        build.trend()
    return digest


class _Build:
    """Fills a :class:`Digest` section by section from :class:`Numbers`."""

    def __init__(
        self,
        kpibot: Kpibot,
        numbers: Numbers,
        spec: DigestSpec,
        audience: Audience,
        person: Person | None,
        windows: Windows,
        digest: Digest,
    ) -> None:
        self.kpibot, self.numbers, self.spec, self.audience = kpibot, numbers, spec, audience
        self.person, self.w, self.digest = person, windows, digest
        self.people = kpibot.directory.people

    def label(self, key: str) -> str:
        return self.kpibot.catalog[key].label

    def _mention(self, person_id: int, name: str) -> str:
        person = self.people.get(person_id)
        return mention(person) if person else escape(name)

    def _row(self, board: Leaderboard, person_id: int):
        return next((row for row in board.rows if row.person_id == person_id), None)

    def _personal_answer(self, key: str, span: Span, previous: Span) -> Answer | None:
        """The rep's numbers from the audience's leaderboards (one per KPI and period for everyone)."""
        assert self.person is not None
        now = self._row(self.numbers.leaderboard(key, span, self.audience), self.person.id)
        earlier_board = self.numbers.leaderboard(key, previous, self.audience)
        before = self._row(earlier_board, self.person.id)
        if now is None:
            return None
        if before is not None:
            earlier = before.result
        else:  # not on the earlier leaderboard (not working then): nothing to compare with
            earlier = Result(now.result.kpi, earlier_board.period, None, None, None, "not working then")
        return Answer(now.result, access.rep_scope(self.person), earlier, self.kpibot.org.currency)

    def figures(self) -> None:
        for key in self.spec.kpi_keys:
            if self.person is None:
                answer: Answer | None = self.numbers.answer(key, self.w.main, self.audience)
            else:
                answer = self._personal_answer(key, self.w.main, self.w.previous)
            if answer is not None:
                self.digest.figures.append(Figure.of(answer))

    def _ranked(self, board: Leaderboard) -> list[Ranked]:
        currency = self.kpibot.org.currency
        return [
            Ranked(
                row.rank,
                row.person_id,
                row.name,
                self._mention(row.person_id, row.name),
                row.result.value,
                formatted(row.result.value, board.kpi.format, currency),
            )
            for row in board.rows
        ]

    def leaders(self) -> None:
        key = self.spec.leaderboard_kpi
        board = self.numbers.leaderboard(key, self.w.main, self.audience)
        ranked = self._ranked(board)
        scored = [r for r in ranked if r.value is not None and (r.value != 0 or not board.kpi.higher_is_better)]
        self.digest.leaderboard_label = board.kpi.label
        self.digest.leaders = scored[:TOP]
        self.digest.ranked = len(ranked)
        if self.person is not None:
            self.digest.rank = next((r for r in ranked if r.person_id == self.person.id), None)

    def mover(self) -> None:
        """The biggest improvement on the leaderboard KPI, last period against the one before."""
        if self.person is not None:
            return
        key = self.spec.leaderboard_kpi
        now = self.numbers.leaderboard(key, self.w.main, self.audience)
        before = {row.person_id: row for row in self.numbers.leaderboard(key, self.w.previous, self.audience).rows}
        kpi, currency = now.kpi, self.kpibot.org.currency
        candidates: list[tuple[Decimal, str, Mover]] = []
        for row in now.rows:
            earlier = before.get(row.person_id)
            value, previous = row.result.value, earlier.result.value if earlier else None
            if value is None or previous is None:
                continue
            gain = value - previous if kpi.higher_is_better else previous - value
            if gain > 0:
                mover = Mover(
                    row.person_id,
                    row.name,
                    self._mention(row.person_id, row.name),
                    kpi.label,
                    formatted(value, kpi.format, currency),
                    formatted(previous, kpi.format, currency),
                    change(value, previous, kpi.format)[1],
                )
                candidates.append((gain, row.name.lower(), mover))
        best = min(candidates, key=lambda c: (-c[0], c[1]), default=None)
        self.digest.mover = best[2] if best else None

    def wins(self) -> None:
        """Who won deals in the period (daily): the deals-won and revenue leaderboards."""
        deals = self.numbers.leaderboard("deals-won", self.w.main, self.audience)
        revenue = {row.person_id: row for row in self.numbers.leaderboard("revenue", self.w.main, self.audience).rows}
        currency = self.kpibot.org.currency
        wins = []
        for row in deals.rows:
            if not row.result.value or (self.person is not None and row.person_id != self.person.id):
                continue
            amount = revenue[row.person_id].result.value if row.person_id in revenue else None
            wins.append(
                Win(
                    row.person_id,
                    row.name,
                    self._mention(row.person_id, row.name),
                    row.result.value,
                    formatted(row.result.value, deals.kpi.format, currency),
                    amount,
                    formatted(amount, "currency", currency),
                )
            )
        wins.sort(key=lambda win: (-(win.revenue or 0), win.name.lower()))
        self.digest.wins = wins

    def progress(self, *, streaks: bool, per_rep: bool) -> None:
        """Target progress for the progress period: the audience's, then each rep's (or the rep's own)."""
        span = self.w.progress
        if span is None:
            return
        key = self.spec.target
        self.digest.target_label = self.label(key)
        currency = self.kpibot.org.currency
        if self.person is not None:
            board = self.numbers.leaderboard(key, span, self.audience, pace=True)
            self.digest.progress_period = PeriodInfo.of(board.period, span.label)
            row = self._row(board, self.person.id)
            me = Progress.of_row(row, self.person, currency) if row is not None else None
            if me is not None and streaks:
                me = replace(me, streak=self._streaks({self.person.id: me}, span)[self.person.id])
            self.digest.me = me
            return
        team = self.numbers.answer(key, span, self.audience, pace=True)
        self.digest.progress_period = PeriodInfo.of(team.result.period, span.label)
        self.digest.team_progress = Progress.of(team, None)
        # A team's target is its own or the sum of its reps' targets: without one, no rep has a target.
        if not per_rep or team.pace is None:
            return
        board = self.numbers.leaderboard(key, span, self.audience, pace=True)
        rows: dict[int, Progress] = {}
        for row in board.rows:
            rep = self.people[row.person_id]
            progress = Progress.of_row(row, rep, currency)
            if progress is None:
                self.digest.without_target.append(rep.name)
            else:
                rows[rep.id] = progress
        if streaks:
            counts = self._streaks(rows, span)
            rows = {pid: replace(row, streak=counts[pid]) for pid, row in rows.items()}

        def order(row: Progress):
            return (row.attainment is None, -(row.attainment or 0), row.name.lower())

        self.digest.progress = sorted(rows.values(), key=order)

    def _streaks(self, rows: dict[int, Progress], span: Span) -> dict[int, int]:
        """Weeks in a row each rep was on pace at the week's end, counting back from the reported week
        within the progress period (statuses are to date, so a streak starts with the period). Each week
        back is one leaderboard with paces, shared by the team's digest and every rep's DM."""
        counts = {pid: int(row.on_pace) for pid, row in rows.items()}
        running = [pid for pid, row in rows.items() if row.on_pace]
        day = span.as_of
        for _ in range(MAX_STREAK_WEEKS - 1):
            day -= dt.timedelta(days=7)
            if day < span.start or not running:
                break
            board = self.numbers.leaderboard(self.spec.target, replace(span, as_of=day), self.audience, pace=True)
            paces = {row.person_id: row.pace for row in board.rows}
            running = [pid for pid in running if (pace := paces.get(pid)) is not None and pace.status in ON_PACE]
            for pid in running:
                counts[pid] += 1
        return counts

    def trend(self) -> None:
        key = self.spec.trend_kpi
        kpi = self.kpibot.catalog[key]
        currency = self.kpibot.org.currency
        self.digest.trend_label = kpi.label
        self.digest.trend_format = kpi.format
        for span in self.w.trend:
            if self.person is None:
                value = self.numbers.answer(key, span, self.audience).result.value
            else:
                row = self._row(self.numbers.leaderboard(key, span, self.audience), self.person.id)
                value = row.result.value if row else None
            month = MONTHS[span.start.month - 1]
            short = f"{month} {span.start.day}" if self.spec.kind == "weekly" else f"{month} {span.start.year}"
            point = TrendPoint(span.label, short, span.start, span.last, value, formatted(value, kpi.format, currency))
            self.digest.trend.append(point)


def _freshness(kpibot: Kpibot, spec: DigestSpec, now: dt.datetime | None) -> tuple[str, str | None]:
    """("CRM synced 3 h ago (2017-06-05 05:10 UTC)", a warning when older than the spec's limit, or None);
    the line also says when the last sync rejected rows or failed."""
    now = now or utc_now()
    text = freshness(kpibot.engine, now, kpibot.org.tz)
    synced = last_successful_sync(kpibot.engine)
    limit = spec.stale_after_hours or DEFAULT_STALE_HOURS
    if synced is None or now - synced <= dt.timedelta(hours=limit):
        return text, None
    warning = (
        f"Numbers may be out of date: the last successful CRM sync was {ago(synced, now)} "
        f"({local_moment(synced, kpibot.org.tz)}), "
        f"longer ago than the {limit:g} hours expected. Recent deals and activities may be missing."
    )
    return text, warning
