"""App Home: "My numbers" this month and quarter against targets, and a manager's team leaderboard."""

from __future__ import annotations

from typing import Any

from bot.identity import Identities, Unmatched
from crm.status import freshness
from kpi.access import AccessDenied
from kpi.answers import Answer, Leaderboard
from kpi.directory import Person
from kpi.formats import formatted
from kpi.grammar.queries import LeaderboardQuery, ValueQuery
from kpi.service import Kpibot
from kpi.types import Role
from slackui import blocks as slack
from slackui.limits import MAX_VIEW_BLOCKS
from slackui.text import escape, progress_bar

HOME_KPIS = ("revenue", "deals-won", "win-rate", "calls")
PERIODS = ("this month", "this quarter")


def home_view(kpibot: Kpibot, identities: Identities, slack_user_id: str) -> dict[str, Any]:
    """The Home tab, rebuilt on every open so it is never stale."""
    kpibot.reload_directory_if_stale()
    try:
        person = identities.person(kpibot.directory, slack_user_id)
    except Unmatched as exc:
        return unavailable_view(str(exc))
    try:
        return _numbers_view(kpibot, person)
    except AccessDenied as exc:  # someone who has left
        return unavailable_view(str(exc))


def _numbers_view(kpibot: Kpibot, person: Person) -> dict[str, Any]:
    view = [slack.header(f"My numbers · {person.name}")]  # plain text: shown as it is
    for period in PERIODS:
        lines = [_line(kpibot.run(ValueQuery(kpibot.catalog[key], period), person)) for key in HOME_KPIS]
        view.append(slack.section(f"*{period.capitalize()}*\n" + "\n".join(lines)))
    if person.role in (Role.MANAGER, Role.ADMIN):
        board = kpibot.run(LeaderboardQuery(kpibot.catalog["revenue"], "this quarter"), person)
        assert isinstance(board, Leaderboard)
        view.append(slack.divider())
        rows = [
            f"{row.rank}. {escape(row.name)} — {formatted(row.result.value, board.kpi.format, board.currency)}"
            for row in board.rows[:15]
        ]
        title = f"*Revenue leaderboard · {escape(board.scope.name)} · this quarter*"
        view.append(slack.section(title + "\n" + "\n".join(rows)))
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
