"""Benchmark 6: the time to the first page of records behind an answer, for a rep, a team and the organisation.

The product's own call, :meth:`kpi.service.Kpibot.records`, for questions whose records are the most to sort:
revenue this quarter (won deals by amount), open pipeline (every open deal by amount: the organisation's is
the largest set there is) and the win rate (both sides: won, and closed). Each is asked by the person the
level needs (a rep for their own, a manager for their team, an admin for the organisation), ``repeats``
times; the first page is 10 records with the side's count and sum, as Slack and the CLI show them.
"""

from __future__ import annotations

import datetime as dt

from bench.common import Report, Section, median, ms, percentile, stopwatch
from kpi.directory import Person
from kpi.grammar.queries import ValueQuery
from kpi.service import Kpibot
from kpi.types import ME, MY_TEAM, WHOLE_ORG, Role, ScopeRef

GOAL_MS = 300.0
KPIS = ("revenue", "pipeline", "win-rate")
PERIOD = "this quarter"


def askers(kpibot: Kpibot) -> list[tuple[str, Person, ScopeRef]]:
    """The first rep still working, the first manager of a team, and the first admin (by id: the same each run)."""
    people = sorted(kpibot.directory.people.values(), key=lambda p: p.id)
    rep = next(p for p in people if p.role == Role.REP and p.left_at is None)
    manager = next(p for p in people if kpibot.directory.managed_teams(p))
    admin = next(p for p in people if p.role == Role.ADMIN)
    return [("rep", rep, ME), ("team", manager, MY_TEAM), ("org", admin, WHOLE_ORG)]


def run(report: Report, kpibot: Kpibot, as_of: dt.date, repeats: int) -> None:
    section = Section(
        "6. Records: the first page behind an answer",
        ["level", "questions", "records listed", "p50 ms", "p95 ms", "max ms"],
    )
    for level, person, scope in askers(kpibot):
        times: list[float] = []
        listed = 0
        for _ in range(repeats):
            for key in KPIS:
                with stopwatch() as elapsed:
                    found = kpibot.records(ValueQuery(kpibot.catalog[key], PERIOD, scope), person, as_of)
                times.append(elapsed())
                listed = max(listed, max(page.count for page in found.pages))
        p95 = percentile(times, 95)
        section.add(level, len(times), f"{listed:,}", ms(median(times)), ms(p95), ms(max(times)))
        report.check(f"{level} records, first page p95", f"<= {GOAL_MS:.0f} ms", f"{ms(p95)} ms", p95 * 1000 <= GOAL_MS)
    section.notes.append(
        f"{', '.join(KPIS)} for {PERIOD}, {repeats} times each, one client; a page is 10 records of each side with "
        "the side's count and sum (two statements per side), sorted and cut in SQL by keyset. 'records listed': the "
        "largest side's count."
    )
    report.add(section)
