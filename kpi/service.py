"""The front door of the metrics core: ask a question as a person, get an answer.

Both the command line and the Slack bot call :meth:`Kpibot.ask`; neither computes anything itself.
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
from kpi.metrics import Metrics
from kpi.pacing import Pacing
from kpi.periods import Calendar, Period, understood_phrases
from kpi.questions import EXAMPLES, Question, parse_question
from kpi.types import Scope


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
        """Answer ``text`` for ``asker``; raises UnknownKpi, PeriodError, UnknownPerson or AccessDenied.

        ``pace``: progress against the target, of an answer (by default) or of each row of a leaderboard (not
        by default: the Slack leaderboard shows none). An answer reads its target in the same statement as its
        number; a leaderboard's paces cost a targets query, which digests skip for the numbers they show
        without one."""
        access.check_still_here(asker, self.calendar.today(), self.org.access_after_leaving_days)
        as_of = as_of or self.calendar.today()
        question = parse_question(text, self.catalog, self.calendar, as_of, self.org.default_period)
        if question.kind == "help":
            return self.help()
        if question.kind == "list":
            return self.kpi_list()
        if question.kind == "leaderboard":
            return self.leaderboard(question, asker, as_of, paces=bool(pace))
        scope = access.resolve(self.directory, asker, question.scope)
        return self.answer(question, scope, as_of, pace=pace is not False)

    def answer(self, question: Question, scope: Scope, as_of: dt.date, *, pace: bool = True) -> Answer:
        kpi, period = question.kpi, question.period
        assert kpi is not None and period is not None
        comparable = self.metrics.comparable(kpi, period)
        result, previous = self.metrics.results(kpi, [period, comparable], scope, as_of, target=pace)
        return Answer(result, scope, previous, self.org.currency, self.pacing.pace(result))

    def leaderboard(self, question: Question, asker: Person, as_of: dt.date, *, paces: bool = False) -> Leaderboard:
        kpi, period = question.kpi, question.period
        assert kpi is not None and period is not None
        scope = access.leaderboard_scope(self.directory, asker, question.scope)
        members = self._members(scope, period)
        scopes = {pid: access.rep_scope(self.directory.people[pid]) for pid in members}
        results = self.metrics.results_by_owner(kpi, period, scopes, scope, as_of, target=paces)
        named = {pid: (self.directory.people[pid].name, result) for pid, result in results.items()}
        progress = {pid: self.pacing.pace(result) for pid, result in results.items()} if paces else None
        return Leaderboard.rank(kpi, period, scope, named, self.org.currency, progress)

    def _members(self, scope: Scope, period: Period) -> list[int]:
        """Reps of the scope who worked at any time in the period."""
        ids = scope.filter.rep_ids if scope.filter.rep_ids is not None else self.directory.people.keys()
        people = (self.directory.people[pid] for pid in ids)
        return [p.id for p in people if p.role == "rep" and p.active_during(period.start, period.end)]

    def help(self) -> Help:
        lines = [
            "Ask:  [leaderboard] [my | team | org | a person | a team] KPI [period]",
            "Examples: " + " · ".join(f'"{example}"' for example in EXAMPLES),
            f"Without a period: {self.org.default_period} (to date).",
            "Periods: " + understood_phrases().replace("\n", " "),
            '"list" shows every KPI with its definition.',
        ]
        return Help("kpibot answers sales KPIs from your CRM.", lines)

    def kpi_list(self) -> Help:
        lines = [f"{kpi.key} ({kpi.label}): {kpi.description}" for kpi in self.catalog]
        return Help(f"{len(self.catalog)} KPIs:", lines)
