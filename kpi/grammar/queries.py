"""What can be asked of the core, as typed values: the parser makes them from text; digests, buttons, the App
Home and subscriptions build them directly. :meth:`kpi.service.Kpibot.run` answers any of them.

A query names *whom* it asks about with a :class:`ScopeRef` (me, my team, the organisation, a team or a
person by id), not with words; which numbers the asker may see is decided when it runs. Its period is a
:class:`~kpi.periods.Period` (exact dates, as digests use), a period phrase resolved on the day it runs
("this month", what a button carries), or ``None`` for the organisation's default period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
class RecordsQuery:
    """A list of records asked for directly ("my open deals closing this month", "deals over 50k in my pipeline"):
    the records of ``model`` that match ``where`` (columns of the semantic model), with ``time`` in the period
    when given, biggest first. ``stuck_days``: only deals in their stage for longer; ``account``: only deals of
    accounts whose name begins so."""

    model: str = "deals"
    where: dict[str, Any] = field(default_factory=dict)
    time: str | None = None
    period: PeriodAsked = None
    scope: ScopeRef = ME
    stuck_days: int | None = None
    account: str | None = None


@dataclass(frozen=True)
class HelpQuery:
    """How to ask."""


@dataclass(frozen=True)
class ListQuery:
    """Every KPI with its definition."""


Query = ValueQuery | LeaderboardQuery | ScorecardQuery | GapQuery | RecordsQuery | HelpQuery | ListQuery
KpiQuery = ValueQuery | LeaderboardQuery
#: The queries a button carries (see :func:`to_json`): every one that asks for numbers.
Carried = ValueQuery | LeaderboardQuery | ScorecardQuery | GapQuery
KINDS: dict[str, type[Carried]] = {
    "value": ValueQuery,
    "leaderboard": LeaderboardQuery,
    "scorecard": ScorecardQuery,
    "gap": GapQuery,
}


def _said(period: PeriodAsked) -> str | None:
    """A period as words: a Period by its dates (its grain is not kept), a phrase as said."""
    return period.dates() if isinstance(period, Period) else period


def to_json(query: Carried) -> dict[str, Any]:
    """A compact, JSON-safe form for a Slack button (a Period becomes its dates; its grain is not kept). Fields
    at their default are left out: a button's value holds 2,000 characters."""
    kind = next(name for name, cls in KINDS.items() if isinstance(query, cls))
    data: dict[str, Any] = {"k": kind, "s": query.scope.key, "p": _said(query.period)}
    if not isinstance(query, ScorecardQuery):
        data["kpi"] = query.kpi.key
    if isinstance(query, ValueQuery) and query.against:
        data["a"] = query.against.kind
        if query.against.period is not None:
            data["ap"] = _said(query.against.period)
    if isinstance(query, LeaderboardQuery):
        ranking = {"r": query.ranks, "b": query.bottom, "n": query.limit, "t": query.of_target}
        data.update({key: value for key, value in ranking.items() if value not in ("reps", False, None)})
    return data


def words(query: Carried) -> str:
    """The query as a person would type it ("team West 1 revenue this month"), to show what was asked; the
    grammar reads it back as the same query."""
    scope = {"me": "my", "my-team": "team", "org": "org"}.get(query.scope.kind)
    if scope is None:
        scope = f"team {query.scope.name}" if query.scope.kind == "team" else query.scope.name
    period = query.period.label if isinstance(query.period, Period) else query.period or ""
    if isinstance(query, ScorecardQuery):
        parts = [scope, "scorecard", period]
    elif isinstance(query, GapQuery):
        parts = [scope, "gap to", query.kpi.key, "target", period]
    elif isinstance(query, LeaderboardQuery):
        head = "bottom" if query.bottom else "top" if query.limit else "leaderboard"
        parts = [head, str(query.limit or ""), "" if query.scope.kind == "me" else scope]
        parts += ["teams" if query.ranks == "teams" else "", query.kpi.key, "% of target" if query.of_target else ""]
        parts.append(period)
    else:
        parts = [scope, query.kpi.key, period, _against_words(query.against)]
    return " ".join(part for part in parts if part)


def _against_words(against: Against | None) -> str:
    if against is None:
        return ""
    if against.kind == "period":
        other = against.period
        return f"vs {other.label if isinstance(other, Period) else other}"
    return "vs last year" if against.kind == "year-ago" else "vs the team"


def from_json(data: Any, catalog: Catalog, directory: Directory) -> Carried:
    """The query :func:`to_json` wrote; raises LookupError (worded for the person who pressed the button) when
    it is not one, or names a KPI, person or team that is gone."""
    kind = KINDS.get(data.get("k", "value")) if isinstance(data, dict) else None
    if kind is None or (kind is not ScorecardQuery and not isinstance(data.get("kpi"), str)):
        raise LookupError("That button no longer works; ask the question again.")
    period = _phrase(data.get("p"))
    scope = _scope_from_key(str(data.get("s", "me")), directory)
    if kind is ScorecardQuery:
        return ScorecardQuery(period, scope)
    kpi = catalog.lookup(data["kpi"])
    if kpi is None:
        raise LookupError(f"The KPI '{data['kpi']}' is no longer in the catalog; type `list` to see every KPI.")
    if kind is GapQuery:
        return GapQuery(kpi, period, scope)
    if kind is LeaderboardQuery:
        ranks: Literal["reps", "teams"] = "teams" if data.get("r") == "teams" else "reps"
        limit = data.get("n") if isinstance(data.get("n"), int) and data["n"] > 0 else None
        return LeaderboardQuery(kpi, period, scope, ranks, bool(data.get("b")), limit, bool(data.get("t")))
    against = None
    if data.get("a") in ("year-ago", "period", "team"):
        against = Against(data["a"], _phrase(data.get("ap")))
    return ValueQuery(kpi, period, scope, against)


def _phrase(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


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
