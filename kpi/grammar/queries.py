"""What can be asked of the core, as typed values: the parser makes them from text; digests, buttons, the App
Home and subscriptions build them directly. :meth:`kpi.service.Kpibot.run` answers any of them.

A query names *whom* it asks about with a :class:`ScopeRef` (me, my team, the organisation, a team or a
person by id), not with words; which numbers the asker may see is decided when it runs. Its period is a
:class:`~kpi.periods.Period` (exact dates, as digests use), a period phrase resolved on the day it runs
("this month", what a button carries), or ``None`` for the organisation's default period.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from kpi.catalog import Catalog
from kpi.directory import Directory
from kpi.periods import Period
from kpi.types import ME, MY_TEAM, WHOLE_ORG, Kpi, ScopeRef

PeriodAsked = Period | str | None


@dataclass(frozen=True)
class Against:
    """What an answer is set beside, when the question asks for a comparison.

    ``year-ago``: the same days one year earlier ("my revenue vs last year"); ``period``: another period as
    a whole ("compare my win rate to last quarter"); ``team``: the asker's team's value and the median of its
    reps ("my win rate vs the team")."""

    kind: Literal["year-ago", "period", "team"]
    period: PeriodAsked = None  # the other period, for ``period``


@dataclass(frozen=True)
class ValueQuery:
    """One KPI for one scope and period, optionally beside another period or the team."""

    kpi: Kpi
    period: PeriodAsked = None
    scope: ScopeRef = ME
    against: Against | None = None


@dataclass(frozen=True)
class LeaderboardQuery:
    """The reps (or the teams) of a scope ranked on one KPI; ``ME`` means the asker's usual board (their team, a
    manager's teams, an admin's organisation).

    ``ranks="teams"`` ranks the sub-teams of the scope, each on its own number; ``bottom`` ranks from the
    lowest; ``limit`` keeps the first rows; ``of_target`` ranks by attainment of each one's own target."""

    kpi: Kpi
    period: PeriodAsked = None
    scope: ScopeRef = ME
    ranks: Literal["reps", "teams"] = "reps"
    bottom: bool = False
    limit: int | None = None
    of_target: bool = False


@dataclass(frozen=True)
class ScorecardQuery:
    """ "How am I doing": the key KPIs of a scope (``scorecard:`` in org.yaml) with targets, pace and change."""

    period: PeriodAsked = None
    scope: ScopeRef = ME


@dataclass(frozen=True)
class GapQuery:
    """ "What do I need to hit quota": a KPI's target for the whole running period against the actual so far,
    what remains, and what it takes per working day (for revenue: in deals and in pipeline too)."""

    kpi: Kpi
    period: PeriodAsked = None
    scope: ScopeRef = ME


@dataclass(frozen=True)
class HelpQuery:
    """How to ask."""


@dataclass(frozen=True)
class ListQuery:
    """Every KPI with its definition."""


Query = ValueQuery | LeaderboardQuery | ScorecardQuery | GapQuery | HelpQuery | ListQuery
KpiQuery = ValueQuery | LeaderboardQuery


def to_json(query: KpiQuery) -> dict[str, Any]:
    """A compact, JSON-safe form for a Slack button (a Period becomes its dates; its grain is not kept)."""
    period = query.period.dates() if isinstance(query.period, Period) else query.period
    kind = "leaderboard" if isinstance(query, LeaderboardQuery) else "value"
    return {"k": kind, "kpi": query.kpi.key, "s": query.scope.key, "p": period}


def words(query: KpiQuery) -> str:
    """The query as a person would type it ("team West 1 revenue this month"), to show what was asked."""
    scope = {"me": "my", "my-team": "team", "org": "org"}.get(query.scope.kind)
    if scope is None:
        scope = f"team {query.scope.name}" if query.scope.kind == "team" else query.scope.name
    period = query.period.label if isinstance(query.period, Period) else query.period or ""
    if isinstance(query, LeaderboardQuery):
        parts = ["leaderboard", "" if query.scope.kind == "me" else scope, query.kpi.key, period]
    else:
        parts = [scope, query.kpi.key, period]
    return " ".join(part for part in parts if part)


def from_json(data: Any, catalog: Catalog, directory: Directory) -> KpiQuery:
    """The query :func:`to_json` wrote; raises LookupError (worded for the person who pressed the button) when
    it is not one, or names a KPI, person or team that is gone."""
    if not isinstance(data, dict) or not isinstance(data.get("kpi"), str):
        raise LookupError("That button no longer works; ask the question again.")
    kpi = catalog.lookup(data["kpi"])
    if kpi is None:
        raise LookupError(f"The KPI '{data['kpi']}' is no longer in the catalog; type `list` to see every KPI.")
    period = data.get("p")
    period = period if isinstance(period, str) and period.strip() else None
    scope = _scope_from_key(str(data.get("s", "me")), directory)
    kind = LeaderboardQuery if data.get("k") == "leaderboard" else ValueQuery
    return kind(kpi, period, scope)


def _scope_from_key(key: str, directory: Directory) -> ScopeRef:
    if key in ("me", "my-team", "org"):
        return {"me": ME, "my-team": MY_TEAM, "org": WHOLE_ORG}[key]
    kind, _, number = key.partition(":")
    if number.isdigit():
        if kind == "team" and (team := directory.teams.get(int(number))):
            return ScopeRef("team", team.id, team.name)
        if kind == "person" and (person := directory.people.get(int(number))):
            return ScopeRef("person", person.id, person.name)
    raise LookupError("That person or team is no longer in the directory; ask the question again.")
