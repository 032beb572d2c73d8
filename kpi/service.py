"""The front door of the metrics core: a typed query asked as a person, an answer back.

:meth:`Kpibot.run` answers a query; :meth:`Kpibot.ask` parses a person's words into one first. The command
line, the Slack bot and the digests call these; none of them computes anything itself.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from sqlalchemy import Engine

from kpi import access
from kpi.answers import Answer, Help, Leaderboard
from kpi.catalog import Catalog, load_catalog
from kpi.compiler import checked
from kpi.config import OrgConfig, config_dir, load_org
from kpi.db import get_engine
from kpi.directory import Directory, Person
from kpi.grammar.lexicon import lexicon
from kpi.grammar.parser import parse_question, to_query
from kpi.grammar.periods import parse_period, understood_phrases
from kpi.grammar.queries import HelpQuery, LeaderboardQuery, ListQuery, PeriodAsked, Query
from kpi.metrics import Metrics
from kpi.pacing import Pacing
from kpi.periods import Calendar, Period, PeriodError
from kpi.types import Kpi, Scope


class Kpibot:
    """Configuration, catalog, directory and metrics for one database, loaded once."""

    def __init__(self, engine: Engine | None = None, directory: Path | None = None) -> None:
        self.config_dir = directory or config_dir()
        self.org: OrgConfig = load_org(self.config_dir)
        self.catalog: Catalog = checked(load_catalog(self.config_dir))
        self.calendar = Calendar.from_org(self.org)
        self.engine = engine or get_engine(create=False)
        self.pacing = Pacing(self.org, self.catalog)
        self.metrics = Metrics(self.engine, self.org.ramp_threshold, self.pacing.prorate, self.pacing.adds_up)
        self.directory = Directory.load(self.engine)
        self._directory_loaded = time.monotonic()

    def reload_directory(self) -> None:
        """Pick up people and teams changed by a sync."""
        self.directory = Directory.load(self.engine)
        self._directory_loaded = time.monotonic()

    def reload_directory_if_stale(self, max_age: float = 60.0) -> None:
        """A long-running server re-reads people and teams at most once a minute."""
        if time.monotonic() - self._directory_loaded > max_age:
            self.reload_directory()

    def person(self, who: str) -> Person:
        return self.directory.find_person(who)

    def ask(
        self, text: str, asker: Person, as_of: dt.date | None = None, *, pace: bool | None = None
    ) -> Answer | Leaderboard | Help:
        """Answer ``text`` for ``asker``: :meth:`parse` then :meth:`run`; raises UnknownKpi, PeriodError,
        UnknownPerson, LookupError or AccessDenied."""
        self._check_still_here(asker)
        as_of = as_of or self.calendar.today()
        return self._run(self.parse(text, as_of), asker, as_of, pace)

    def parse(self, text: str, as_of: dt.date | None = None) -> Query:
        """The query a person's words ask (the grammar is the one place text becomes a query)."""
        as_of = as_of or self.calendar.today()
        question = parse_question(
            text, self.catalog, self.calendar, as_of, self.org.default_period, self.directory.names
        )
        return to_query(question, self.directory)

    def run(
        self, query: Query, asker: Person, as_of: dt.date | None = None, *, pace: bool | None = None
    ) -> Answer | Leaderboard | Help:
        """Answer a typed query for ``asker``, within what they may see.

        ``pace``: progress against the target, of an answer (by default) or of each row of a leaderboard (not
        by default: the Slack leaderboard shows none). An answer reads its target in the same statement as its
        number; a leaderboard's paces cost a targets query, which digests skip for the numbers they show
        without one."""
        self._check_still_here(asker)
        return self._run(query, asker, as_of or self.calendar.today(), pace)

    def _check_still_here(self, asker: Person) -> None:
        access.check_still_here(asker, self.calendar.today(), self.org.access_after_leaving_days)

    def _run(self, query: Query, asker: Person, as_of: dt.date, pace: bool | None) -> Answer | Leaderboard | Help:
        if isinstance(query, HelpQuery):
            return self.help()
        if isinstance(query, ListQuery):
            return self.kpi_list()
        period = self.period(query.period, as_of)
        if isinstance(query, LeaderboardQuery):
            scope = access.leaderboard_scope(self.directory, asker, query.scope)
            return self.leaderboard(query.kpi, period, scope, as_of, paces=bool(pace))
        scope = access.resolve(self.directory, asker, query.scope)
        return self.answer(query.kpi, period, scope, as_of, pace=pace is not False)

    def period(self, asked: PeriodAsked, as_of: dt.date) -> Period:
        """A query's period on ``as_of``: as given, a phrase resolved that day, or the org's default."""
        if isinstance(asked, Period):
            return asked
        return parse_period(asked or self.org.default_period, self.calendar, as_of)

    def answer(self, kpi: Kpi, period: Period, scope: Scope, as_of: dt.date, *, pace: bool = True) -> Answer:
        kpi = self.measured_over(kpi, period)
        comparable = self.metrics.comparable(kpi, period)
        target = pace and not period.ahead  # no pace for what has not started
        result, previous = self.metrics.results(kpi, [period, comparable], scope, as_of, target=target)
        return Answer(result, scope, previous, self.org.currency, self.pacing.pace(result))

    def leaderboard(
        self, kpi: Kpi, period: Period, scope: Scope, as_of: dt.date, *, paces: bool = False
    ) -> Leaderboard:
        kpi = self.measured_over(kpi, period)
        paces = paces and not period.ahead
        members = self._members(scope, period)
        scopes = {pid: access.rep_scope(self.directory.people[pid]) for pid in members}
        results = self.metrics.results_by_owner(kpi, period, scopes, scope, as_of, target=paces)
        named = {pid: (self.directory.people[pid].name, result) for pid, result in results.items()}
        progress = {pid: self.pacing.pace(result) for pid, result in results.items()} if paces else None
        return Leaderboard.rank(kpi, period, scope, named, self.org.currency, progress)

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

    def _members(self, scope: Scope, period: Period) -> list[int]:
        """Reps of the scope who worked at any time in the period."""
        ids = scope.filter.rep_ids if scope.filter.rep_ids is not None else self.directory.people.keys()
        people = (self.directory.people[pid] for pid in ids)
        return [p.id for p in people if p.role == "rep" and p.active_during(period.start, period.end)]

    def help(self) -> Help:
        lines = [
            "Ask:  [leaderboard] [my | team | org | a person | a team] KPI [period]",
            "Examples: " + " · ".join(f'"{example}"' for example in lexicon().examples),
            f"Without a period: {self.org.default_period} (to date).",
            "Periods: " + understood_phrases().replace("\n", " "),
            '"list" shows every KPI with its definition.',
        ]
        return Help("kpibot answers sales KPIs from your CRM.", lines)

    def kpi_list(self) -> Help:
        lines = [f"{kpi.key} ({kpi.label}): {kpi.description}" for kpi in self.catalog]
        return Help(f"{len(self.catalog)} KPIs:", lines)
