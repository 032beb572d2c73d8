"""The plain types every layer of the core shares: a KPI and its measures, a scope and its filter, a role.

They sit below the catalog (which builds KPIs from YAML), the compiler (which turns them into SQL) and the
access policy (which decides which scopes a person may see), so that none of those has to import another
to name what it works on. Nothing here reads a database, a file or a question.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from kpi import formula


class Role(StrEnum):
    """What a person may see and do (kpi/access.py): a rep their own numbers, a manager their teams', an admin
    everything. A StrEnum equals its text, so the database column and people.yaml keep "rep", "manager", "admin"."""

    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"


Format = Literal["currency", "percent", "number", "days", "ratio"]
WindowName = Literal["period", "previous", "trailing_12_months"]

#: Which periods a KPI is measured over. ``as_asked``: any period, a running one to date. ``whole_periods``:
#: only periods that are over (a forecast is for a whole period: a running one has no value, and the
#: comparison is the last whole period). ``at_start_when_over``: a period that is over is measured at its
#: start (pipeline coverage: the coverage the team had going in; at its end every deal in it has closed).
Measured = Literal["as_asked", "whole_periods", "at_start_when_over"]


@dataclass(frozen=True)
class Measure:
    """One aggregate over a semantic model, computed in SQL and grouped by owner."""

    agg: Literal["sum", "count"]
    model: str
    expr: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    time: str | None = None
    window: WindowName = "period"


@dataclass(frozen=True)
class Kpi:
    """A KPI in canonical form: measures and the formulas that combine them."""

    key: str
    label: str
    description: str
    format: Format
    direction: Literal["up", "down"]
    type: str
    aliases: tuple[str, ...]
    measures: dict[str, Measure]
    numerator: ast.expr
    denominator: ast.expr | None
    scale: float = 1
    empty: str | None = None
    requires: dict[str, str] = field(default_factory=dict)
    parts: str = "number"
    measured: Measured = "as_asked"
    #: The KPI as it reads a period that lies ahead ("meetings next week": those scheduled in it), from the
    #: catalog's ``ahead:``; ``None`` for what is only counted as it happens (revenue next quarter).
    ahead: Kpi | None = field(default=None, repr=False)
    #: What the numerator and denominator count, for an answer's parts: ("won", "closed") reads "17 won of 40 closed".
    part_names: tuple[str, str] | None = None
    #: How a change reads: ``points`` (a score or rate: "+11.3 pts") or ``relative`` (an amount: "+12.0%").
    change: Literal["points", "relative"] = "relative"
    #: The fewest cases (a rate's denominator) for a row of a leaderboard to be ranked fairly.
    min_sample: int = 5
    #: For a gap ("what do I need"): the KPIs that turn what remains into deals and pipeline (see kpis.yaml).
    gap: dict[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        """By key (the fields hold dicts): a query naming a KPI can key a cache."""
        return hash(self.key)

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "up"

    @property
    def targets(self) -> set[str]:
        """KPI keys whose target this KPI needs (quota attainment needs the revenue target)."""
        trees = [self.numerator] + ([self.denominator] if self.denominator is not None else [])
        return set().union(*(formula.target_calls(tree) for tree in trees))

    @property
    def has_sample(self) -> bool:
        """Whether the value is a share or average of counted cases (win rate: of deals closed), whose
        denominator is its sample size: a rate of 1 won of 1 closed is not ranked beside 30 of 60."""
        return self.denominator is not None and self.parts == "number"

    @property
    def models(self) -> set[str]:
        return {measure.model for measure in self.measures.values()}


@dataclass(frozen=True)
class ScopeFilter:
    """Which owners a query covers: ``None`` means no restriction (the whole organisation)."""

    rep_ids: frozenset[int] | None
    team_ids: frozenset[int] | None
    include_org_level: bool = False


EVERYONE = ScopeFilter(None, None, include_org_level=True)

ScopeType = Literal["rep", "team", "org"]


@dataclass(frozen=True)
class Scope:
    """Whose numbers: one rep, one or more teams (with sub-teams), or the whole organisation."""

    type: ScopeType
    name: str
    filter: ScopeFilter
    rep_id: int | None = None
    team_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class ScopeRef:
    """Whose numbers a query asks for, before access is checked: ``me``, ``my-team`` (the teams the asker
    manages, else their own), ``org``, or a ``team`` or ``person`` by id (``name`` as it was written)."""

    kind: Literal["me", "my-team", "org", "team", "person"]
    id: int | None = None
    name: str = ""

    @property
    def key(self) -> str:
        """``me``, ``my-team``, ``org``, ``team:3`` or ``person:12``: how a scope travels in a button."""
        return self.kind if self.id is None else f"{self.kind}:{self.id}"


ME = ScopeRef("me")
MY_TEAM = ScopeRef("my-team")
WHOLE_ORG = ScopeRef("org")


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
