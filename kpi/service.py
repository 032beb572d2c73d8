"""The front door of the metrics core: a typed query asked as a person, an answer back.

:meth:`Kpibot.run` answers a query; :meth:`Kpibot.ask` parses a person's words into one first. The command
line, the Slack bot and the digests call these; none of them computes anything itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import statistics
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, overload

from sqlalchemy import Engine, func, select

from kpi import access, generation
from kpi.access import AccessDenied
from kpi.answers import Answer, Comparison, Help
from kpi.cache import AnswerCache, FromEnv, Store, fingerprint, store_from_env
from kpi.catalog import Catalog, load_catalog
from kpi.compiler import checked
from kpi.config import OrgConfig, config_dir, load_org
from kpi.db import get_engine
from kpi.directory import Directory, Person
from kpi.gap import Gap
from kpi.generation import Generation
from kpi.grammar.lexicon import lexicon
from kpi.grammar.parser import parse_question, to_query
from kpi.grammar.periods import parse_period, understood_phrases
from kpi.grammar.queries import (
    GapQuery,
    HelpQuery,
    LeaderboardQuery,
    ListQuery,
    PeriodAsked,
    Query,
    RecordsQuery,
    ScorecardQuery,
    ValueQuery,
)
from kpi.kept_rankings import KeptRankings
from kpi.links import link_templates
from kpi.metrics import Metrics
from kpi.pacing import Pacing
from kpi.periods import Calendar, Period, PeriodError, utc_midnight
from kpi.rankings import Leaderboard
from kpi.records import PAGE_SIZE, Cursor, Page, RecordList, Side, page, sides
from kpi.results import Measured
from kpi.schema import Account, Deal
from kpi.scorecard import Scorecard, scorecard_kpis
from kpi.semantic import Window
from kpi.stages import in_stage_longer_than
from kpi.types import Kpi, Measure, Scope, ScopeRef

#: What a query is answered with.
Reply = Answer | Leaderboard | Scorecard | Gap | RecordList | Help

#: The period of a scorecard or a gap that names none: the quarter, to date (a gap: the whole quarter's target).
RUNNING_PERIOD = "this quarter"
#: How many organisation-wide rankings a process computes at once (see :class:`Kpibot`).
ORG_RANKINGS = "KPIBOT_ORG_RANKINGS"


class Kpibot:
    """Configuration, catalog, directory and metrics for one database, loaded once."""

    def __init__(
        self, engine: Engine | None = None, directory: Path | None = None, store: Store | None | FromEnv = "env"
    ) -> None:
        """``store``: where answers are cached (kpi/cache.py): as the environment says, or None for no cache."""
        self.config_dir = directory or config_dir()
        self.org: OrgConfig = load_org(self.config_dir)
        self.catalog: Catalog = checked(load_catalog(self.config_dir))
        self.calendar = Calendar.from_org(self.org)
        self.engine = engine or get_engine(create=False)
        self.pacing = Pacing(self.org, self.catalog)
        self.metrics = Metrics(self.engine, self.org.ramp_threshold, self.pacing.prorate, self.pacing.adds_up)
        self.directory: Directory
        self._directory_generation: tuple[str, int]  # Generation.of_directory of the directory loaded
        self._directory_lock = threading.Lock()
        self.reload_directory()
        self.scorecard = scorecard_kpis(self.org.scorecard, self.catalog, self.config_dir / "org.yaml")
        #: What was measured, until the data changes (kpi/cache.py); access is checked before it, every time.
        store = store_from_env() if store == "env" else store
        self.cache = AnswerCache(self.engine, self.catalog, store, fingerprint(self.config_dir))
        self.metrics.generation = self.cache.generation
        #: Organisation-wide rankings computed at once (``KPIBOT_ORG_RANKINGS``, 1 by default): a 10,000-rep one is
        #: 200-800 ms of a core, and sixteen at once held both cores and every server thread while a rep's 10-ms
        #: answer waited behind them. They wait for a slot instead, and every other question goes on.
        self._org_rankings = threading.BoundedSemaphore(int(os.environ.get(ORG_RANKINGS, "1")))
        #: An organisation's ranking of the generation before, brought up to date by measuring the owners changed since.
        self.kept_rankings = KeptRankings(self.metrics, self.pacing)

    def reload_directory(self) -> None:
        """Re-read people and teams (the generation first: the directory is then at least as new as it), and what
        the rollups hold (a rebuild for a new time zone advances the generation too)."""
        seen = generation.current(self.engine)
        self.directory = Directory.load(self.engine)
        self.metrics.rollups.read()
        self._directory_generation = seen.of_directory

    def refresh_directory(self) -> Generation:
        """People and teams as of the data committed now, for a long-running server or worker; returns the data
        generation read.

        Re-read only when a change of them committed (a sync page that wrote people or teams, people.yaml, a
        rollups rebuild: each moves the generation's ``directory``), so a renamed rep, a new manager or a rep who
        left shows in the very next answer, at the cost of one primary-key read per request, and a sync page of
        deals costs no reload. Threads that see the same change wait for one reload."""
        seen = generation.current(self.engine)
        if seen.of_directory != self._directory_generation:
            with self._directory_lock:
                if generation.current(self.engine).of_directory != self._directory_generation:
                    self.reload_directory()
        return seen

    @contextmanager
    def request(self) -> Iterator[Directory]:
        """One request of a server: the data generation read once, the directory refreshed to it, and every
        answer of the block cached by it (a second read of it per question was a tenth of a cached answer)."""
        seen = self.refresh_directory()
        with self.cache.one_generation(seen):
            yield self.directory

    def person(self, who: str) -> Person:
        return self.directory.find_person(who)

    def ask(self, text: str, asker: Person, as_of: dt.date | None = None, *, pace: bool | None = None) -> Reply:
        """Answer ``text`` for ``asker``: :meth:`parse` then :meth:`run`; raises UnknownKpi, PeriodError,
        UnknownPerson, LookupError or AccessDenied."""
        self._check_still_here(asker)
        as_of = as_of or self.calendar.today()
        with self.cache.one_generation():
            return self._run(self.parse(text, as_of), asker, as_of, pace)

    def parse(self, text: str, as_of: dt.date | None = None) -> Query:
        """The query a person's words ask (the grammar is the one place text becomes a query)."""
        as_of = as_of or self.calendar.today()
        question = parse_question(
            text, self.catalog, self.calendar, as_of, self.org.default_period, self.directory.names
        )
        return to_query(question, self.directory)

    @overload
    def run(
        self, query: ValueQuery, asker: Person, as_of: dt.date | None = None, *, pace: bool | None = None
    ) -> Answer: ...

    @overload
    def run(
        self, query: LeaderboardQuery, asker: Person, as_of: dt.date | None = None, *, pace: bool | None = None
    ) -> Leaderboard: ...

    @overload
    def run(self, query: Query, asker: Person, as_of: dt.date | None = None, *, pace: bool | None = None) -> Reply: ...

    def run(self, query: Query, asker: Person, as_of: dt.date | None = None, *, pace: bool | None = None) -> Reply:
        """Answer a typed query for ``asker``, within what they may see.

        ``pace``: progress against the target, of an answer (by default) or of each row of a leaderboard (not
        by default: the Slack leaderboard shows none). An answer reads its target in the same statement as its
        number; a leaderboard's paces cost a targets query, which digests skip for the numbers they show
        without one."""
        self._check_still_here(asker)
        with self.cache.one_generation():
            return self._run(query, asker, as_of or self.calendar.today(), pace)

    def _check_still_here(self, asker: Person) -> None:
        access.check_still_here(asker, self.calendar.today(), self.org.access_after_leaving_days)

    def _run(self, query: Query, asker: Person, as_of: dt.date, pace: bool | None) -> Reply:
        if isinstance(query, HelpQuery):
            return self.help(asker, as_of)
        if isinstance(query, ListQuery):
            return self.kpi_list()
        if isinstance(query, ScorecardQuery):
            scope = self.scope_for(query, asker)
            period = self.period(query.period or RUNNING_PERIOD, as_of)
            return self.cache.get(
                ("scorecard", period, scope, as_of),
                lambda: Scorecard.measure(
                    self.metrics, self.pacing, self.scorecard, period, scope, as_of, self.org.currency
                ),
            )
        if isinstance(query, GapQuery):
            scope = self.scope_for(query, asker)
            period = self.period(query.period or RUNNING_PERIOD, as_of)
            workdays, kpis, kpi = self.pacing.workdays, self.catalog.kpis, query.kpi
            return self.cache.get(
                ("gap", kpi, period, scope, as_of),
                lambda: Gap.measure(self.metrics, workdays, kpi, kpis, period, scope, as_of, self.org.currency),
            )
        if isinstance(query, RecordsQuery):
            return self._listed(query, asker, as_of)
        period = self.period(query.period, as_of)
        if period.ahead:  # what has not started has no pace, and only KPIs that can lie ahead have a value
            query, pace = dataclasses.replace(query, kpi=self.measured_over(query.kpi, period)), False
        if isinstance(query, LeaderboardQuery):
            return self._leaderboard(query, period, asker, as_of, paces=bool(pace))
        scope = self.scope_for(query, asker)
        against, kpi = query.against, query.kpi
        if against is not None and against.kind == "team":
            answer = self.answer(kpi, period, scope, as_of, pace=pace is not False)
            return dataclasses.replace(answer, against=self._against_team(kpi, period, scope, asker, as_of))
        beside: tuple[Literal["year-ago", "period"], Period] | None = None
        if against is not None:
            if against.kind == "year-ago":
                beside = ("year-ago", year_ago(period))
            else:
                beside = ("period", self.period(against.period, as_of))
        return self.answer(kpi, period, scope, as_of, pace=pace is not False, beside=beside)

    def records(
        self,
        query: ValueQuery | RecordsQuery,
        asker: Person,
        as_of: dt.date | None = None,
        *,
        limit: int = PAGE_SIZE,
        side: int | None = None,
        after: Cursor | None = None,
    ) -> RecordList:
        """The records behind the answer to ``query``: the first page of each side of its KPI (both sides of
        a ratio, each period of a growth or a comparison with another period), for someone who may open
        them (:func:`kpi.access.records_scope`). ``side`` (an index) keeps one side, whose page begins ``after``
        a cursor (a button pages one side). A deal question (:class:`RecordsQuery`) lists its deals. NoRecords
        for a KPI not counted from records."""
        self._check_still_here(asker)
        as_of = as_of or self.calendar.today()
        if isinstance(query, RecordsQuery):
            return self._listed(query, asker, as_of, limit, after)
        scope = self.scope_for(query, asker, records=True)
        period = self.period(query.period, as_of)
        kpi = self.measured_over(query.kpi, period)
        periods = [period]
        if query.against is not None and query.against.kind != "team":
            periods.append(
                year_ago(period) if query.against.kind == "year-ago" else self.period(query.against.period, as_of)
            )
        asked = []
        for shown in periods:
            windows = self.metrics.windows(kpi, shown, as_of)
            for listed in sides(kpi):
                label = listed.label if shown is period else f"{listed.label}, {shown.label}"
                asked.append((dataclasses.replace(listed, label=label), windows[listed.measure.window]))
        title = f"{kpi.label}, {scope.name}, {period.label}: the records behind it"
        return RecordList(
            title,
            asked[0][0].measure.model,
            scope,
            period,
            self._pages(asked if side is None else _one(asked, side), scope, limit, after),
            self.org.currency,
        )

    def _listed(
        self, query: RecordsQuery, asker: Person, as_of: dt.date, limit: int = PAGE_SIZE, after: Cursor | None = None
    ) -> RecordList:
        """The records a question asks for directly ("my open deals closing this month")."""
        scope = self.scope_for(query, asker)
        period = self.period(query.period, as_of)
        window = Window.of(period, utc_midnight(as_of + dt.timedelta(days=1), period.calendar.tz))
        extra = []
        if query.stuck_days is not None:
            extra.append(in_stage_longer_than(query.stuck_days, window.now))
        if query.account:
            named = func.lower(Account.name).like(_beginning(query.account), escape="\\")
            extra.append(Deal.account_id.in_(select(Account.id).where(named, Account.deleted_at.is_(None))))
        side = Side(
            query.model, query.model, Measure("count", query.model, None, query.where, query.time), tuple(extra)
        )
        title = f"{query.model.capitalize()}, {scope.name}" + (f", {period.label}" if query.time else "")
        return RecordList(
            title, query.model, scope, period, self._pages([(side, window)], scope, limit, after), self.org.currency
        )

    def _pages(
        self, asked: list[tuple[Side, Window]], scope: Scope, limit: int, after: Cursor | None = None
    ) -> list[Page]:
        """A page of each side, in one connection, with owners named and links from the stored templates."""
        owners = {person.id: person.name for person in self.directory.people.values()}
        with self.metrics.engine.connect() as connection:
            links = link_templates(connection)
            return [
                page(
                    connection,
                    side,
                    window,
                    scope,
                    owners,
                    after=after,
                    limit=limit,
                    templates=links,
                    period=window.period,
                )
                for side, window in asked
            ]

    def period(self, asked: PeriodAsked, as_of: dt.date) -> Period:
        """A query's period on ``as_of``: as given, a phrase resolved that day, or the org's default."""
        if isinstance(asked, Period):
            return asked
        return parse_period(asked or self.org.default_period, self.calendar, as_of)

    def answer(
        self,
        kpi: Kpi,
        period: Period,
        scope: Scope,
        as_of: dt.date,
        *,
        pace: bool = True,
        beside: tuple[Literal["year-ago", "period"], Period] | None = None,
    ) -> Answer:
        """The KPI for the scope and period with the previous period and, ``beside``, the kind of comparison
        asked and the other period: one statement for all of them (none when cached)."""

        def measure() -> Answer:
            periods = [period, self.metrics.comparable(kpi, period)] + ([beside[1]] if beside else [])
            result, previous, *other = self.metrics.results(kpi, periods, scope, as_of, target=pace)
            against = Comparison(beside[0], other[0]) if beside else None
            return Answer(result, scope, previous, self.org.currency, self.pacing.pace(result), against)

        return self.cache.get(("answer", kpi, period, scope, as_of, pace, beside), measure)

    def _against_team(self, kpi: Kpi, period: Period, scope: Scope, asker: Person, as_of: dt.date) -> Comparison:
        """One person's team beside them: the team's value and the median of its reps' (who worked in the period)."""
        person = self._in_a_team(scope)
        if person is None or person.team_id is None:
            raise LookupError(
                f"A comparison with the team is of one person's numbers with their team's, and {scope.name} "
                f"is not one person in a team. Try `my {kpi.key}` or `leaderboard {kpi.key}`."
            )
        team = access.resolve(self.directory, asker, ScopeRef("team", person.team_id))

        def measure() -> Comparison:
            reps, _ = self._member_scopes(team, period)
            measured = self.metrics.results_by_owner(kpi, period, reps, team, as_of)
            values = [value for value in measured.value if value is not None]
            median = statistics.median(values) if values else None
            return Comparison("team", self.metrics.result(kpi, period, team, as_of), team, median, len(values))

        return self.cache.get(("team", kpi, period, team, as_of), measure)

    def _in_a_team(self, scope: Scope) -> Person | None:
        """The one person a scope is, when they are in a team (whom "vs the team" compares with their team)."""
        person = self.directory.people.get(scope.rep_id) if scope.type == "rep" and scope.rep_id else None
        return person if person is not None and person.team_id in self.directory.teams else None

    def _leaderboard(
        self,
        query: LeaderboardQuery,
        period: Period,
        asker: Person,
        as_of: dt.date,
        *,
        paces: bool = False,
    ) -> Leaderboard:
        """A ranking of reps or teams as ``query`` asks, for ``asker`` (who is told their place, or their team's)."""
        kpi, paces = query.kpi, paces or query.of_target
        scope = self.scope_for(query, asker)
        teams = access.ranked_teams(self.directory, asker, scope, kpi.key) if query.ranks == "teams" else None
        if teams is not None:
            you = next((tid for tid, team in teams.items() if asker.id in (team.filter.rep_ids or ())), None)
        else:
            you = asker.id
        org_wide = scope.filter.rep_ids is None  # every rep's row: hundreds of ms at 10,000 reps

        def ranking() -> Leaderboard:
            measured, names = self._ranked(kpi, period, scope, teams, as_of, paces)
            pace = self.pacing.pace
            return Leaderboard.rank(
                measured,
                names,
                scope,
                self.org.currency,
                paces=[pace(measured.result(i)) for i in range(len(measured))] if paces else None,
                ranks=query.ranks,
                bottom=query.bottom,
                of_target=query.of_target,
            )

        def kept(board: Leaderboard, since: Generation, now: Generation) -> Leaderboard | None:
            members, people = self._member_scopes(scope, period)[0], self.directory.people
            return self.kept_rankings.respliced(board, since, now, members, lambda id: people[id].name, as_of, paces)

        board = self.cache.get(
            ("leaderboard", kpi, period, scope, as_of, query.ranks, query.bottom, query.of_target, paces),
            ranking,
            self._org_rankings if org_wide else None,
            since=kept if org_wide and teams is None else None,
        )
        return board.seen_by(you, query.limit)

    def _ranked(
        self, kpi: Kpi, period: Period, scope: Scope, teams: dict[int, Scope] | None, as_of: dt.date, paces: bool
    ) -> tuple[Measured, list[str]]:
        """What a leaderboard ranks, whoever asks, and their names: each of ``teams`` (or each rep of the scope who
        worked in the period) with its result, and its own target when ``paces``."""
        if teams is not None:
            measured = self.metrics.results_by_team(kpi, period, teams, scope, as_of, target=paces)
            return measured, [team.name for team in teams.values()]
        scopes, names = self._member_scopes(scope, period)
        measured = self.metrics.results_by_owner(kpi, period, scopes, scope, as_of, target=paces)
        return measured, names

    def measured_over(self, kpi: Kpi, period: Period) -> Kpi:
        """The KPI as it reads ``period``: one ahead ("next quarter") needs a KPI that can lie in the future
        (pipeline closing in it, meetings scheduled in it); revenue next quarter has no value yet."""
        if not period.ahead:
            return kpi
        if kpi.ahead is None:
            ahead = [k.ahead.label.lower() for k in self.catalog if k.ahead is not None]
            listed = ", ".join(ahead[:-1]) + f" and {ahead[-1]}" if len(ahead) > 1 else "".join(ahead)
            raise PeriodError(
                f"{kpi.label} is counted as it happens, so {period.label} has none yet. Ahead, I can tell "
                f"{listed}: try `my pipeline {period.label}`."
            )
        return kpi.ahead

    def _member_scopes(self, scope: Scope, period: Period) -> tuple[Mapping[int, Scope], list[str]]:
        """The scope's reps who worked in the period (:meth:`_members`), each with their scope, and their names.
        The organisation's are kept with the directory: building 10,000 reps' scopes for each of its leaderboards
        was a tenth of one (11 ms)."""

        def build() -> tuple[Mapping[int, Scope], list[str]]:
            people = [self.directory.people[pid] for pid in self._members(scope, period)]
            return {person.id: access.rep_scope(person) for person in people}, [person.name for person in people]

        if scope.filter.rep_ids is not None:
            return build()
        return self.directory.kept(("members", period.start, period.end), build)

    def _members(self, scope: Scope, period: Period) -> list[int]:
        """Reps of the scope who worked at any time in the period (the organisation's in :attr:`Directory.by_name`
        order)."""
        working = self.directory.working_reps(period.start, period.end)
        ids = scope.filter.rep_ids
        if ids is None:
            return [pid for pid in self.directory.by_name if pid in working]
        return [pid for pid in ids if pid in working]

    def help(self, asker: Person, as_of: dt.date) -> Help:
        """How to ask, with the examples of each form that work for ``asker`` (a form with none is left out)."""
        lines = []
        for form in lexicon().forms:
            examples = [text for text in form.examples if self.may_ask(self.parse(text, as_of), asker)]
            if examples:
                lines.append(f"{form.name}:  {form.syntax}: " + ", ".join(f'"{text}"' for text in examples))
        lines += [
            f"Without a period: {self.org.default_period} (to date); a scorecard or a gap: {RUNNING_PERIOD}.",
            "Periods: " + understood_phrases().replace("\n", " "),
            '"list" shows every KPI with its definition.',
        ]
        return Help("kpibot answers sales KPIs from your CRM.", lines)

    def scope_for(
        self,
        query: ValueQuery | LeaderboardQuery | ScorecardQuery | GapQuery | RecordsQuery,
        asker: Person,
        *,
        records: bool = False,
    ) -> Scope:
        """The scope ``query`` is about, if ``asker`` may see it (raises AccessDenied or LookupError): the one place
        answering and :meth:`may_ask` apply the access rules. ``records``: the records behind a value."""
        if isinstance(query, LeaderboardQuery):
            return access.leaderboard_scope(self.directory, asker, query.scope)
        if records or isinstance(query, RecordsQuery):
            return access.records_scope(self.directory, asker, query.scope)
        return access.resolve(self.directory, asker, query.scope)

    def may_ask(self, query: Query, asker: Person) -> bool:
        """Whether ``asker`` may have ``query`` answered, by the access rules alone (nothing is measured)."""
        if isinstance(query, HelpQuery | ListQuery):
            return True
        try:
            scope = self.scope_for(query, asker)
            if isinstance(query, LeaderboardQuery) and query.ranks == "teams":
                access.ranked_teams(self.directory, asker, scope, query.kpi.key)
        except (AccessDenied, LookupError):
            return False
        if isinstance(query, ValueQuery) and query.against is not None and query.against.kind == "team":
            return self._in_a_team(scope) is not None
        return True

    def kpi_list(self) -> Help:
        lines = [f"{kpi.key} ({kpi.label}): {kpi.description}" for kpi in self.catalog]
        return Help(f"{len(self.catalog)} KPIs:", lines, kind="list")


def _one(sides: list[tuple[Side, Window]], index: int) -> list[tuple[Side, Window]]:
    """The side a button names, as a list; LookupError when the KPI no longer has it (its definition changed)."""
    if not 0 <= index < len(sides):
        raise LookupError("That button no longer works; ask the question again.")
    return [sides[index]]


def _beginning(name: str) -> str:
    """A LIKE pattern for names beginning with ``name`` (its own % and _ taken literally)."""
    escaped = name.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def year_ago(period: Period) -> Period:
    """The same days one year earlier ("my revenue vs last year": 1 April to 15 June, a year before)."""

    def back(day: dt.date) -> dt.date:
        return day.replace(year=day.year - 1, day=28 if (day.month, day.day) == (2, 29) else day.day)

    start, end, full_end = back(period.start), back(period.end), back(period.full_end)
    return dataclasses.replace(period, label=f"{period.label}, a year earlier", start=start, end=end, full_end=full_end)
