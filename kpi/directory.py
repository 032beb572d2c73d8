"""Who is who: people and teams, loaded once from the database and looked up by name, email or Slack id."""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from rapidfuzz import fuzz, process
from sqlalchemy import Engine, select

from kpi.schema import Rep, Team
from kpi.types import Role

T = TypeVar("T")

#: The tables a :class:`Directory` is loaded from: a change of them moves the data generation's ``directory``
#: (kpi/generation.py), and every process that keeps a directory reloads it.
DIRECTORY_TABLES = frozenset({Rep.__tablename__, Team.__tablename__})


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    email: str | None
    role: Role
    team_id: int | None
    slack_user_id: str | None
    hired_at: dt.date | None
    left_at: dt.date | None

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name else ""

    def active_during(self, start: dt.date, end: dt.date) -> bool:
        return (self.hired_at is None or self.hired_at < end) and (self.left_at is None or self.left_at > start)


@dataclass(frozen=True)
class TeamInfo:
    id: int
    name: str
    parent_id: int | None
    manager_id: int | None


def fold(text: str) -> str:
    """Lower case without accents: "José Núñez" is found as "jose nunez", as people type it."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class UnknownPerson(LookupError):
    def __init__(self, text: str, suggestions: list[str]) -> None:
        self.text, self.suggestions = text, suggestions
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"I can't find anyone called '{text}'.{hint}")


class Directory:
    """People and the team tree; small enough to hold in memory, so scopes never cost a query per rep."""

    def __init__(self, people: list[Person], teams: list[TeamInfo]) -> None:
        self.people = {person.id: person for person in people}
        self.teams = {team.id: team for team in teams}
        # Indexes for what every request asks (who is this Slack user, who is in these teams, which teams does this
        # manager run): at 10,000 people, a scan of them all for each was most of a cached answer's time.
        self._children: dict[int, list[int]] = {}
        self._managed: dict[int, list[int]] = {}
        for team in teams:
            if team.parent_id is not None:
                self._children.setdefault(team.parent_id, []).append(team.id)
            if team.manager_id is not None:
                self._managed.setdefault(team.manager_id, []).append(team.id)
        self._kept: dict[Hashable, Any] = {}
        self._in_team: dict[int | None, list[int]] = {}
        self._by_slack_id: dict[str, Person] = {}
        for person in people:
            self._in_team.setdefault(person.team_id, []).append(person.id)
            if person.slack_user_id:
                self._by_slack_id.setdefault(person.slack_user_id, person)

    @classmethod
    def load(cls, engine: Engine) -> Directory:
        with engine.connect() as connection:
            reps = connection.execute(select(Rep).where(Rep.deleted_at.is_(None))).all()
            teams = connection.execute(select(Team).where(Team.deleted_at.is_(None))).all()
        people = [
            Person(r.id, r.name, r.email, Role(r.role), r.team_id, r.slack_user_id, r.hired_at, r.left_at) for r in reps
        ]
        return cls(people, [TeamInfo(t.id, t.name, t.parent_id, t.manager_id) for t in teams])

    # --- people ---------------------------------------------------------------------------------------

    def find_person(self, text: str) -> Person:
        """By email, Slack id, ``@handle``, full name or unique first name (case-insensitive)."""
        wanted = fold(text.strip().lstrip("@"))
        for matches in (
            [p for p in self.people.values() if (p.email or "").lower() == wanted],
            [p for p in self.people.values() if (p.slack_user_id or "").lower() == wanted],
            [p for p in self.people.values() if fold(p.name) == wanted],
            [p for p in self.people.values() if (p.email or "").lower().split("@")[0] == wanted],
            [p for p in self.people.values() if fold(p.first_name) == wanted],
        ):
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                names = sorted(p.name for p in matches)
                raise UnknownPerson(text, names[:3])
        raise UnknownPerson(text, self._closest_names(wanted))

    @functools.cached_property
    def names(self) -> frozenset[str]:
        """Every person's and team's name: the grammar keeps a name of several words whole."""
        return frozenset([p.name for p in self.people.values()] + [t.name for t in self.teams.values()])

    @functools.cached_property
    def slack_ids(self) -> dict[int, str]:
        """Each person's Slack user id by person id, for those people.yaml or the CRM gives one (a leaderboard
        mentions them: building this for every leaderboard answered was a scan of 11,000 people)."""
        return {p.id: p.slack_user_id for p in self.people.values() if p.slack_user_id}

    def with_slack_id(self, slack_user_id: str) -> Person | None:
        """The person people.yaml or the CRM ties to this Slack user id, if any."""
        return self._by_slack_id.get(slack_user_id)

    @functools.cached_property
    def by_name(self) -> tuple[int, ...]:
        """Every person's id in the order a leaderboard lists equal values in: by name (case aside), then by id.
        An organisation's members are listed in it, so that ranking them sorts 10,000 names already in order."""
        return tuple(p.id for p in sorted(self.people.values(), key=lambda p: (p.name.lower(), p.id)))

    def working_reps(self, start: dt.date, end: dt.date) -> frozenset[int]:
        """The ids of the reps who worked at any time from ``start`` to ``end``: the members of every leaderboard
        of that period, kept once worked out (a scan of 11,000 people for each organisation leaderboard)."""
        people = self.people.values()
        return self.kept(
            ("working", start, end),
            lambda: frozenset(p.id for p in people if p.role == Role.REP and p.active_during(start, end)),
        )

    def kept(self, key: Hashable, build: Callable[[], T]) -> T:
        """What ``build`` works out from these people and teams, once per ``key``: it is forgotten with the
        directory, which a change of people or teams replaces. (Not locked: two threads may both build it, and
        either result is the same.)"""
        found = self._kept.get(key)
        if found is None:
            found = self._kept[key] = build()
        return found

    def maybe_person(self, text: str) -> Person | None:
        try:
            return self.find_person(text)
        except UnknownPerson:
            return None

    def _closest_names(self, text: str) -> list[str]:
        names = [p.name for p in self.people.values()]
        return [name for name, score, _ in process.extract(text, names, scorer=fuzz.WRatio, limit=3) if score > 60]

    # --- teams ----------------------------------------------------------------------------------------

    def find_team(self, text: str) -> TeamInfo | None:
        wanted = fold(text.strip())
        matches = [t for t in self.teams.values() if fold(t.name) == wanted]
        return matches[0] if len(matches) == 1 else None

    def subtree(self, team_ids: set[int]) -> set[int]:
        """The teams and every team below them."""
        found, stack = set(), list(team_ids)
        while stack:
            team_id = stack.pop()
            if team_id not in found:
                found.add(team_id)
                stack.extend(self._children.get(team_id, []))
        return found

    def managed_teams(self, person: Person) -> set[int]:
        """Every team the person manages, with the teams below them."""
        return self.subtree(set(self._managed.get(person.id, ())))

    def members(self, team_ids: set[int]) -> set[int]:
        """Ids of the people whose team is one of ``team_ids`` (callers pass a subtree)."""
        return {person_id for team_id in team_ids for person_id in self._in_team.get(team_id, ())}

    def manages(self, manager: Person, person: Person) -> bool:
        return person.team_id is not None and person.team_id in self.managed_teams(manager)
