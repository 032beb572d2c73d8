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


#: The cost curve's kinds (issue 17): the five above and the scorecard.
CURVE_KINDS = (*KINDS, "scorecard")
CURVE_KPIS = ("revenue", "win-rate", "calls", "pipeline", "deals-won")
CURVE_PERIODS = ("", " this week", " this month", " last month", " this quarter", " last quarter")
#: A scorecard at each level, with who asks it (an asker kind of :func:`askers`).
SCORECARDS = (("how am I doing", "rep"), ("how is my team doing", "team"), ("how is the company doing", "org"))
CURVE_TEXTS = {
    "rep": "my {kpi}{period}",
    "team": "team {kpi}{period}",
    "org": "org {kpi}{period}",
    "team leaderboard": "leaderboard {kpi}{period}",
    "org leaderboard": "leaderboard org {kpi}{period}",
}


def curve_questions(kind: str) -> list[tuple[str, str]]:
    """Every question of ``kind`` the curve asks, with the kind of person who asks it: each KPI over each
    period, so that an organisation-wide kind has some 30 different questions (its answers, unlike a rep's,
    are the same whoever asks: a cold pass needs that many to stay cold)."""
    if kind == "scorecard":
        return [(text + period, asker) for period in CURVE_PERIODS for text, asker in SCORECARDS]
    asker = "rep" if "leaderboard" in kind else kind
    return [(CURVE_TEXTS[kind].format(kpi=k, period=p), asker) for p in CURVE_PERIODS for k in CURVE_KPIS]


def answered_for(kind: str, asker: str, person: Person, text: str) -> tuple[object, ...]:
    """What decides an answer besides the day: the question and the scope it is of (a person, a team, or the
    organisation), so two asks with the same answer are known before they are asked. A manager's team is
    their ``team_id``."""
    if asker == "org" or kind == "org leaderboard":
        return (text,)
    if asker == "team" or kind == "team leaderboard":
        return (text, person.team_id)
    return (text, person.id)


def curve_mix(directory: Directory, per_kind: int, seed: int = 7) -> list[Ask]:
    """Up to ``per_kind`` questions of every curve kind, no two with the same answer (a pass after a change of
    the data is then cold throughout), shuffled so that the kinds are asked side by side."""
    rng = random.Random(seed)
    asks: list[Ask] = []
    for kind in CURVE_KINDS:
        questions = curve_questions(kind)
        pools = {asker: askers(directory, asker) for _, asker in questions}
        seen: set[tuple[object, ...]] = set()
        for i in range(per_kind * 20):  # draws that repeat an answer are skipped; a small company runs out
            if len(seen) == per_kind:
                break
            text, asker = questions[i % len(questions)]
            person = rng.choice(pools[asker])
            key = answered_for(kind, asker, person, text)
            if key not in seen:
                seen.add(key)
                asks.append(Ask(kind, text, person))
    rng.shuffle(asks)
    return asks


#: The realistic mix of issue 17: 70% a rep's own numbers, 20% their team's and leaderboards, 10% the organisation's.
REALISTIC = (("rep", 0.7), ("team", 0.1), ("team leaderboard", 0.1), ("org", 0.05), ("org leaderboard", 0.05))


def realistic_mix(directory: Directory, count: int, seed: int = 7) -> list[Ask]:
    """``count`` questions drawn in the realistic proportions, asker and question at random (some repeat, as a
    floor of people asking about the same week does)."""
    rng = random.Random(seed)
    kinds = rng.choices([kind for kind, _ in REALISTIC], [share for _, share in REALISTIC], k=count)
    pools = {asker: askers(directory, asker) for asker in ("rep", "team", "org")}
    asks = []
    for kind in kinds:
        text, asker = rng.choice(curve_questions(kind))
        asks.append(Ask(kind, text, rng.choice(pools[asker])))
    return asks
