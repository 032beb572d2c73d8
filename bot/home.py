"""App Home, per role: a rep's own numbers this month and quarter against their targets; a manager's teams'
numbers against the teams' targets and their reps ranked with each one's pace; an admin's organisation and its
top-level teams ranked. A manager's and an admin's sections each have a period menu.

Every number comes from a typed query run through :meth:`kpi.service.Kpibot.run`, as the asker: never text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from bot.alerts import home_section as alerts_section
from bot.blocks import PERIOD_CHOICES, board_heading, board_row, scorecard_row
from bot.identity import Identities, Unmatched
from bot.subscriptions import home_section
from crm.status import freshness
from kpi.access import AccessDenied
from kpi.answers import Answer
from kpi.directory import Person
from kpi.formats import formatted
from kpi.grammar.queries import LeaderboardQuery, ScorecardQuery, ValueQuery
from kpi.scorecard import Scorecard
from kpi.service import Kpibot
from kpi.types import ME, MY_TEAM, WHOLE_ORG, Role, ScopeRef
from slackui import blocks as slack
from slackui.fitting import sections
from slackui.limits import MAX_VIEW_BLOCKS
from slackui.text import escape, progress_bar

HOME_KPIS = ("revenue", "deals-won", "win-rate", "calls")
PERIODS = ("this month", "this quarter")
#: The sections of a manager's or an admin's home that have a period menu, and the period each opens with.
SECTIONS = {"numbers": "this quarter", "board": "this quarter"}
#: The KPI their leaderboard ranks on.
BOARD_KPI = "revenue"
#: Rows of the App Home's leaderboard.
BOARD_ROWS = 15
#: The action of a home section's period menu; its options carry every section's period (see :func:`periods`).
PERIOD_ACTION = "home_period"


def home_view(
    kpibot: Kpibot, identities: Identities, slack_user_id: str, chosen: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The Home tab, rebuilt on every open so it is never stale; ``chosen``: the sections' periods picked in
    their menus (what the menu's option carried)."""
    kpibot.refresh_directory()
    try:
        person = identities.person(kpibot.directory, slack_user_id)
    except Unmatched as exc:
        return unavailable_view(str(exc))
    try:
        if person.role == Role.ADMIN:
            view = _overview(kpibot, person, WHOLE_ORG, "teams", periods(chosen))
        elif person.role == Role.MANAGER and kpibot.directory.managed_teams(person):
            view = _overview(kpibot, person, MY_TEAM, "reps", periods(chosen))
        else:
            view = _numbers_view(kpibot, person)
    except AccessDenied as exc:  # someone who has left
        return unavailable_view(str(exc))
    mine = [slack.divider(), *home_section(kpibot, slack_user_id)]
    mine = [*mine, slack.divider(), *alerts_section(kpibot, slack_user_id)][: MAX_VIEW_BLOCKS // 2]
    return {**view, "blocks": view["blocks"][: MAX_VIEW_BLOCKS - len(mine)] + mine}


def periods(chosen: Mapping[str, Any] | None) -> dict[str, str]:
    """Each section's period: the one chosen when it is one of the menu's, else the section's default."""
    chosen = chosen or {}
    return {name: chosen[name] if chosen.get(name) in PERIOD_CHOICES else SECTIONS[name] for name in SECTIONS}


def _period_menu(name: str, current: dict[str, str]) -> dict[str, Any]:
    """A section's period menu: each option carries every section's period, this one's changed."""
    options = [(p.capitalize(), json.dumps({**current, name: p}, separators=(",", ":"))) for p in PERIOD_CHOICES]
    return slack.static_select(
        PERIOD_ACTION, "Another period", options, initial=json.dumps(current, separators=(",", ":"))
    )


def _overview(
    kpibot: Kpibot, person: Person, scope: ScopeRef, ranks: Literal["reps", "teams"], current: dict[str, str]
) -> dict[str, Any]:
    """A manager's home (their teams, ``ranks="reps"``) or an admin's (the organisation, ``ranks="teams"``)."""
    title = "My teams" if ranks == "reps" else "The organisation"
    view = [slack.header(f"{title} · {person.name}")]  # plain text: shown as it is
    card = kpibot.run(ScorecardQuery(current["numbers"], scope), person)
    assert isinstance(card, Scorecard)
    heading = f"*{escape(card.scope.name)}* · {escape(card.period.label)} ({card.period.dates()})"
    view.append(slack.section(heading, accessory=_period_menu("numbers", current), block_id="home_numbers"))
    view += sections("\n".join(scorecard_row(card, answer) for answer in card.items))
    view.append(slack.divider())
    view += _ranking(kpibot, person, ranks, current)
    example = "how is my team doing" if ranks == "reps" else f"{BOARD_KPI} by team"
    view.append(slack.context(f"Ask anything with `/kpi`, e.g. `/kpi {example}`.", freshness(kpibot.engine)))
    return {"type": "home", "blocks": view[:MAX_VIEW_BLOCKS]}


def _ranking(
    kpibot: Kpibot, person: Person, ranks: Literal["reps", "teams"], current: dict[str, str]
) -> list[dict[str, Any]]:
    """The asker's usual board on :data:`BOARD_KPI`, each row with its pace against its own target."""
    menu = _period_menu("board", current)
    query = LeaderboardQuery(kpibot.catalog[BOARD_KPI], current["board"], ME, ranks)
    try:
        board = kpibot.run(query, person, pace=True)
    except LookupError as exc:  # an organisation without teams to rank says so, and what to ask instead
        return [slack.section(escape(str(exc), formatting=False), accessory=menu, block_id="home_board")]
    heading = f"*{escape(board_heading(board))}* · {escape(board.scope.name)} · {escape(board.period.label)}"
    heading += f" ({board.period.dates()})"
    lines = [board_row(board, row, escape(row.name), medals=False) for row in board.rows[:BOARD_ROWS]]
    if len(board.rows) > BOARD_ROWS:
        lines.append(f"Top {BOARD_ROWS} of {board.ranked} ranked.")
    rows = "\n".join(lines) or "Nobody to rank here."
    return [slack.section(heading, accessory=menu, block_id="home_board"), *sections(rows)]


def _numbers_view(kpibot: Kpibot, person: Person) -> dict[str, Any]:
    """A rep's home: "My numbers" this month and this quarter against their targets."""
    view = [slack.header(f"My numbers · {person.name}")]  # plain text: shown as it is
    for period in PERIODS:
        lines = [_line(kpibot.run(ValueQuery(kpibot.catalog[key], period), person)) for key in HOME_KPIS]
        view.append(slack.section(f"*{period.capitalize()}*\n" + "\n".join(lines)))
    view.append(
        slack.context("Ask anything with `/kpi`, e.g. `/kpi my win-rate last quarter`.", freshness(kpibot.engine))
    )
    return {"type": "home", "blocks": view[:MAX_VIEW_BLOCKS]}


def unavailable_view(reason: str) -> dict[str, Any]:
    """The Home tab when it can show no numbers (an unknown user, someone who has left, the database out of
    reach): it says why, rather than leave the last view (or none) up."""
    return {"type": "home", "blocks": [slack.header("kpibot"), slack.section(escape(reason, formatting=False))]}


def _line(answer: Any) -> str:
    assert isinstance(answer, Answer)
    line = f"{escape(answer.kpi.label)}: *{answer.formatted}*"
    if answer.pace and answer.pace.attainment is not None:
        line += f"  `{progress_bar(float(answer.pace.attainment))}` {answer.pace.attainment * 100:.0f}% of "
        line += f"{formatted(answer.pace.target, answer.kpi.format, answer.currency)} · {answer.pace.status}"
    return line
