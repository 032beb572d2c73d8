"""The question mix: who asks what, by kind, the same for the server, the floor and the pandas baseline.

Kinds follow the figures of the issue: a rep's own numbers, a manager's team, an admin's organisation, the
leaderboard of a rep's team and the organisation's leaderboard, each over several KPIs (a sum, a count, a
ratio and a stock) and periods (to date and whole, week to quarter). Askers are drawn with a fixed seed from
the data set's people, so every run asks the same questions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kpi.directory import Directory, Person
from kpi.types import Role

KINDS = ("rep", "team", "org", "team leaderboard", "org leaderboard")

QUESTIONS: dict[str, tuple[str, ...]] = {
    "rep": ("my revenue", "my win-rate this month", "my calls this week", "my pipeline", "my deals-won last quarter"),
    "team": ("team revenue", "team win-rate last month", "team calls this week", "team pipeline"),
    "org": ("org revenue", "org win-rate last quarter", "org calls this month", "org pipeline"),
    "team leaderboard": (
        "leaderboard revenue",
        "leaderboard calls this week",
        "leaderboard win-rate last month",
        "leaderboard deals-won this month",
    ),
    "org leaderboard": (
        "leaderboard org revenue",
        "leaderboard org calls this week",
        "leaderboard org win-rate last quarter",
        "leaderboard org pipeline",
    ),
}


@dataclass(frozen=True)
class Ask:
    """One question of the mix, asked by one person through their (fake) Slack account."""

    kind: str
    text: str
    person: Person

    @property
    def slack_user_id(self) -> str:
        return slack_id(self.person)


def slack_id(person: Person) -> str:
    return f"UB{person.id:06d}"


def askers(directory: Directory, kind: str) -> list[Person]:
    """Who asks questions of ``kind``: working reps, team managers, or admins."""
    people = sorted(directory.people.values(), key=lambda p: p.id)
    if kind == "team":
        managers = {team.manager_id for team in directory.teams.values()}
        return [p for p in people if p.id in managers and p.left_at is None]
    if kind == "org":
        return [p for p in people if p.role == Role.ADMIN]
    return [p for p in people if p.role == Role.REP and p.left_at is None and p.team_id is not None]


def mix(directory: Directory, per_kind: int, seed: int = 7) -> list[Ask]:
    """``per_kind`` questions of every kind, the kind's questions in turn, each asked by a random asker."""
    rng = random.Random(seed)
    asks = []
    for kind in KINDS:
        people = askers(directory, kind)
        questions = QUESTIONS[kind]
        asks += [Ask(kind, questions[i % len(questions)], rng.choice(people)) for i in range(per_kind)]
    return asks
