"""What a digest says (:func:`build_digest`), from the core's answers.

Every number comes from :meth:`kpi.service.Kpibot.run`, as a typed query (a value or a leaderboard of a KPI, for
a period and a scope), through :class:`Numbers`, which remembers the answers of one run. Nothing here computes a
KPI: a :class:`~digests.model.Digest` only selects, orders and formats what the answers hold. Who gets which digest
is :mod:`digests.planning`; which periods it reports, :mod:`digests.windows`.

Per-rep numbers, target progress included, come from one leaderboard per KPI and period for the whole
audience, asked with each member's pace: a team of any size costs the same few questions, and a rep's DM reuses its
team's leaderboards (a question per rep made the weekly digests of a 2,000-rep company take minutes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from crm.status import ago, freshness, last_successful_sync, local_moment
from digests.config import DigestSpec
from digests.model import ON_PACE, Digest, Figure, Mover, PeriodInfo, Progress, Ranked, TeamPlace, TrendPoint, Win
from digests.planning import Audience, DigestError, Recipient
from digests.windows import Span, Windows, windows
from kpi import access
from kpi.answers import Answer, Help, Leaderboard, Row
from kpi.directory import Person
from kpi.formats import change, formatted
from kpi.gap import Gap
from kpi.grammar.queries import KpiQuery, LeaderboardQuery, ValueQuery, words
from kpi.periods import utc_now
from kpi.rankings import Ranks
from kpi.results import Result
from kpi.service import Kpibot
from kpi.types import Kpi, Role
from slackui.text import escape, mention

DEFAULT_STALE_HOURS = 26.0
TOP = 3
MAX_STREAK_WEEKS = 13
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # not %b: locale

#: Who asks the questions of team and org digests: an admin principal that exists only for digests, so
#: that a team's digest never depends on who manages it. Rep digests ask as the rep ("my revenue").
DIGESTS = Person(0, "kpibot digests", None, Role.ADMIN, None, None, None, None)


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

    def leaderboard(
        self, kpi: str, span: Span, audience: Audience, *, pace: bool = False, ranks: Ranks = "reps"
    ) -> Leaderboard:
        """Every member's value (or, ``ranks="teams"``, every team's below the audience); with each one's progress
        against their own target when ``pace``."""
        query = LeaderboardQuery(self._kpi(kpi), span.period(self.kpibot.calendar), audience.ref, ranks=ranks)
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
        if recipient is not None and recipient.reader is not None:  # a manager reading one of their reps'
            title = f"{spec.kind.capitalize()} digest: {person.name}"
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
        build.teams()
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

    def _row(self, board: Leaderboard, person_id: int) -> Row | None:
        return board.by_person().get(person_id)

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
                person_id,
                row.name,
                self._mention(person_id, row.name),
                row.result.value,
                formatted(row.result.value, board.kpi.format, currency, compact=True),
            )
            for person_id, row in board.by_person().items()
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

    def teams(self) -> None:
        """The teams below the audience (the organisation's top-level teams), ranked on the leaderboard KPI, when
        there are at least two."""
        directory = self.kpibot.directory
        if self.person is not None:
            return
        if len(access.teams_below(directory, access.resolve(directory, DIGESTS, self.audience.ref))) < 2:
            return
        board = self.numbers.leaderboard(self.spec.leaderboard_kpi, self.w.main, self.audience, ranks="teams")
        currency = self.kpibot.org.currency
        self.digest.teams = [
            TeamPlace(row.rank, row.name, formatted(row.result.value, board.kpi.format, currency, compact=True))
            for row in board.rows
        ]

    def mover(self) -> None:
        """The biggest improvement on the leaderboard KPI, last period against the one before."""
        if self.person is not None:
            return
        key = self.spec.leaderboard_kpi
        now = self.numbers.leaderboard(key, self.w.main, self.audience)
        before = self.numbers.leaderboard(key, self.w.previous, self.audience).by_person()
        kpi, currency = now.kpi, self.kpibot.org.currency
        candidates: list[tuple[Decimal, str, Mover]] = []
        for person_id, row in now.by_person().items():
            earlier = before.get(person_id)
            value, previous = row.result.value, earlier.result.value if earlier else None
            if value is None or previous is None:
                continue
            gain = value - previous if kpi.higher_is_better else previous - value
            if gain > 0:
                mover = Mover(
                    person_id,
                    row.name,
                    self._mention(person_id, row.name),
                    kpi.label,
                    formatted(value, kpi.format, currency, compact=True),
                    formatted(previous, kpi.format, currency, compact=True),
                    change(value, previous, kpi.format)[1],
                )
                candidates.append((gain, row.name.lower(), mover))
        best = min(candidates, key=lambda c: (-c[0], c[1]), default=None)
        self.digest.mover = best[2] if best else None

    def wins(self) -> None:
        """Who won deals in the period (daily): the deals-won and revenue leaderboards."""
        deals = self.numbers.leaderboard("deals-won", self.w.main, self.audience)
        revenue = self.numbers.leaderboard("revenue", self.w.main, self.audience).by_person()
        currency = self.kpibot.org.currency
        wins = []
        for person_id, row in deals.by_person().items():
            if not row.result.value or (self.person is not None and person_id != self.person.id):
                continue
            amount = revenue[person_id].result.value if person_id in revenue else None
            wins.append(
                Win(
                    person_id,
                    row.name,
                    self._mention(person_id, row.name),
                    row.result.value,
                    formatted(row.result.value, deals.kpi.format, currency, compact=True),
                    amount,
                    formatted(amount, "currency", currency, compact=True),
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
        for person_id, row in board.by_person().items():
            rep = self.people[person_id]
            progress = Progress.of_row(row, rep, currency)
            if progress is None:
                self.digest.without_target.append(rep.name)
            else:
                rows[rep.id] = replace(progress, takes=self._takes(row, rep, span)) if progress.behind else progress
        if streaks:
            counts = self._streaks(rows, span)
            rows = {pid: replace(row, streak=counts[pid]) for pid, row in rows.items()}

        def order(row: Progress):
            return (row.attainment is None, -(row.attainment or 0), row.name.lower())

        self.digest.progress = sorted(rows.values(), key=order)

    def _takes(self, row: Row, rep: Person, span: Span) -> str | None:
        """What it takes to reach the whole target (the gap's rule, from the row's number and target): "$6.8k
        per working day for the 19 working days left"."""
        kpibot = self.kpibot
        gap = Gap.of(row.result, access.rep_scope(rep), span.as_of, kpibot.pacing.workdays, kpibot.org.currency)
        per_day = gap.per_working_day
        if per_day is None:
            return None
        amount = formatted(per_day, row.result.kpi.format, kpibot.org.currency, compact=True)
        days = gap.working_days_left
        return f"{amount} per working day for the {days} working day{'s' if days > 1 else ''} left"

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
            paces = {pid: row.pace for pid, row in board.by_person().items()}
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
