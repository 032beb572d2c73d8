"""What a digest says: the :class:`Digest` and its parts, numbers already formatted and names already escaped.

Templates (digests/templates) and charts (:mod:`digests.charts`) read these and compute nothing; the builder
(:mod:`digests.build`) fills them from the core's answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from digests.planning import Audience, Recipient
from digests.windows import ONE_DAY, Span
from kpi.answers import Answer, Row
from kpi.directory import Person
from kpi.formats import formatted
from kpi.pacing import Pace
from kpi.periods import Period
from kpi.results import Result
from slackui.text import arrow, escape, mention, sparkline

#: Pace statuses that count as on pace, and those that earn a (constructive) call-out.
ON_PACE = frozenset({"ahead", "on track", "reached"})
BEHIND = frozenset({"behind", "at risk"})


@dataclass(frozen=True)
class Chart:
    """A chart drawn by digests/charts.py (which alone imports matplotlib: the web server never draws one), a PNG
    to upload into the digest's thread with the alt text screen readers get."""

    filename: str
    title: str
    alt_text: str
    png: bytes


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
    takes: str | None = None  # what it takes to reach the whole target, when behind: per working day left

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
            return None if value is None else formatted(value, kpi.format, currency, compact=True)

        value = result.value
        catch_up = None
        if pace.status in BEHIND and pace.expected is not None and value is not None and kpi.higher_is_better:
            catch_up = fmt(max(pace.expected - value, Decimal(0)))
        return cls(
            person.id if person else None,
            person.name if person else scope_name,
            mention(person) if person else escape(scope_name),
            value,
            formatted(value, kpi.format, currency, compact=True),
            pace.target,
            formatted(pace.target, kpi.format, currency, compact=True),
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
class TeamPlace:
    """A team's place in the ranking of the teams below the audience."""

    rank: int
    name: str
    formatted: str


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
    teams: list[TeamPlace] = field(default_factory=list)  # the teams below the audience, ranked
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
    def trend_as_text(self) -> bool:
        """The trend is a line of text in the message, not a chart uploaded into its thread, in a personal digest
        (one rep's, whoever reads it): uploads are Slack's Tier 4, some 100 a minute, so the Monday fan-out's
        2,000 personal digests, posted in about 7 minutes, would wait 20 more for their trend charts, past the 15
        minutes a fan-out has (issue 16); and one rep's trend reads fine as a line. Team and organisation digests,
        a few hundred at most, keep their charts (:func:`digests.charts.charts_for`)."""
        return self.personal

    @property
    def trend_text(self) -> str:
        """The trend as text: its sparkline with the first and last values (``▁█▁▁▆ $0 → $4.5k``), then each period
        with its value, which is what the chart's alt text said: the line a screen reader gets."""
        values = [formatted(p.value, self.trend_format, self.currency, compact=True) for p in self.trend]
        shape = sparkline([None if p.value is None else float(p.value) for p in self.trend])
        each = " · ".join(f"{p.short} {value}" for p, value in zip(self.trend, values, strict=True))
        return f"`{shape}` {values[0]} → {values[-1]}\n{each}"

    @property
    def you(self) -> str:
        """How a personal digest names its rep: "you" to the rep, their name to another reader (their manager);
        with :attr:`subject`, :attr:`your`, :attr:`you_are` and :attr:`you_have` for the templates' sentences."""
        other = self.person is not None and self.recipient is not None and self.recipient.reader is not None
        return self.person.name if other and self.person is not None else "you"

    @property
    def subject(self) -> str:
        return "You" if self.you == "you" else self.you

    @property
    def your(self) -> str:
        return "Your" if self.you == "you" else f"{self.you}'s"

    @property
    def you_are(self) -> str:
        return "You are" if self.you == "you" else f"{self.you} is"

    @property
    def you_have(self) -> str:
        return "You have" if self.you == "you" else f"{self.you} has"

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
