"""Block Kit for kpibot's answers: pure functions from core results to Slack messages.

Every message is a dict with ``text`` (the notification and screen-reader fallback) and ``blocks``, within
Slack's limits (:mod:`slackui.limits`). Every string from the CRM, the config or the asker goes into mrkdwn through
:func:`slackui.text.escape`.
"""

from __future__ import annotations

import json
from typing import Any

from kpi.answers import Answer, Help, Leaderboard
from kpi.formats import formatted
from kpi.grammar.queries import KpiQuery, LeaderboardQuery, ValueQuery, to_json
from slackui.blocks import context, header, section
from slackui.fitting import sections
from slackui.limits import MAX_BLOCKS
from slackui.text import arrow, escape, progress_bar

#: Rows of a leaderboard shown in Slack (the asker's own row is added when it is further down).
LEADERBOARD_ROWS = 25
PERIOD_CHOICES = ["this week", "this month", "this quarter", "this year", "last month", "last quarter"]
#: The most of a question a share button carries, to quote it (a button's value holds 2,000 characters).
QUOTED = 300


def _change_line(answer: Answer) -> str:
    delta, delta_text = answer.change
    previous = formatted(answer.previous.value, answer.kpi.format, answer.currency)
    label = escape(answer.previous.period.label)
    if delta is None:
        return f"*vs {label}*\n{previous} ({escape(delta_text)})"
    better = (delta > 0) == answer.kpi.higher_is_better if delta else None
    mood = "" if better is None else (" (better)" if better else " (worse)")
    return f"*vs {label}*\n{arrow(delta)} {delta_text}{mood}, was {previous}"


def _target_line(answer: Answer) -> str | None:
    pace = answer.pace
    if pace is None:
        return None
    target = formatted(pace.target, answer.kpi.format, answer.currency)
    if pace.attainment is None:
        return f"*Target* {target} · {pace.status}"
    bar = progress_bar(float(pace.attainment))
    line = f"*Target* {target}\n`{bar}` {pace.attainment * 100:.0f}% · *{pace.status}*"
    if pace.expected is not None:
        line += f" (expected by now {formatted(pace.expected, answer.kpi.format, answer.currency)}"
        line += f", on pace for {formatted(pace.projection, answer.kpi.format, answer.currency)})"
    return line


def answer_message(
    answer: Answer, query: ValueQuery, question: str, freshness: str, *, shared_by: str | None = None
) -> dict[str, Any]:
    """An answer: value large, parts, change vs previous period, target and pace, definition and freshness."""
    r, kpi = answer.result, answer.kpi
    blocks = [header(f"{kpi.label}: {answer.formatted}")]
    blocks.append(context(f"*{escape(answer.scope.name)}* · {escape(r.period.label)} ({r.period.dates()})"))
    fields = []
    if r.value is None:
        fields.append(f"*No value*\n{escape(r.reason or '')}")
    elif answer.parts:
        fields.append(f"*Detail*\n{answer.parts}")
    fields.append(_change_line(answer))
    blocks.append(section(" ", fields) if fields else section(" "))
    if target := _target_line(answer):
        blocks.append(section(target))
    blocks += footer(kpi.description, query, question, freshness, shared_by)
    return {"text": escape(answer.text), "blocks": blocks}


def footer(
    description: str, query: KpiQuery, question: str, freshness: str, shared_by: str | None
) -> list[dict[str, Any]]:
    """The definition and freshness; then who asked (a shared answer) or the share and period controls."""
    notes = [f"_{escape(description)}_", freshness]
    if shared_by:
        notes.append(f"Asked by <@{shared_by}>: `/kpi {escape(question, formatting=False)}`")
        return [context(*notes)]
    return [context(*notes), answer_actions(query, question)]


def answer_actions(query: KpiQuery, question: str) -> dict[str, Any]:
    """Share in channel, and a period menu that asks the same query for another period.

    The buttons carry the query (:func:`kpi.grammar.queries.to_json`), not text to parse again; the share button
    also carries the question as typed, which the shared message quotes.
    """
    carried = to_json(query)
    value = json.dumps({**carried, "q": question[:QUOTED]})
    return {
        "type": "actions",
        "block_id": "kpi_answer_actions",
        "elements": [
            {
                "type": "button",
                "action_id": "kpi_share",
                "text": {"type": "plain_text", "text": "Share in channel"},
                "value": value,
            },
            {
                "type": "static_select",
                "action_id": "kpi_period",
                "placeholder": {"type": "plain_text", "text": "Another period"},
                "options": [
                    {
                        "text": {"type": "plain_text", "text": p.capitalize()},
                        "value": json.dumps({**carried, "p": p}),
                    }
                    for p in PERIOD_CHOICES
                ],
            },
        ],
    }


def leaderboard_message(
    board: Leaderboard,
    query: LeaderboardQuery,
    question: str,
    freshness: str,
    *,
    shared_by: str | None = None,
    mentions: dict[int, str] | None = None,
    you: int | None = None,
) -> dict[str, Any]:
    """The top of a ranked list, medals for the top three, and the asker's own row when it is further down.

    A leaderboard of 2,000 reps would be unreadable in a channel (and over Slack's 40,000-character text
    limit): the first :data:`LEADERBOARD_ROWS` are shown, with how many more there are.
    """
    medals = {1: ":first_place_medal:", 2: ":second_place_medal:", 3: ":third_place_medal:"}
    mentions = mentions or {}
    shown = board.rows[:LEADERBOARD_ROWS]
    mine = [row for row in board.rows[LEADERBOARD_ROWS:] if row.person_id == you]
    lines = []
    for row in [*shown, *mine]:
        if row in mine:
            lines.append("…")
        who = f"<@{mentions[row.person_id]}>" if row.person_id in mentions else escape(row.name)
        value = formatted(row.result.value, board.kpi.format, board.currency)
        lines.append(f"{medals.get(row.rank, f'{row.rank}.')} {who} — *{value}*")
    blocks = [
        header(f"{board.kpi.label} leaderboard"),
        context(f"*{escape(board.scope.name)}* · {escape(board.period.label)} ({board.period.dates()})"),
    ]
    blocks += sections("\n".join(lines or ["Nobody to rank in this scope."]))
    if len(board.rows) > len(shown):
        blocks.append(context(f"Top {len(shown)} of {len(board.rows)} ranked."))
    footer_blocks = footer(board.kpi.description, query, question, freshness, shared_by)
    text = escape("\n".join(board.text.splitlines()[: LEADERBOARD_ROWS + 1]))
    return {"text": text, "blocks": blocks[: MAX_BLOCKS - len(footer_blocks)] + footer_blocks}


def help_message(help_: Help) -> dict[str, Any]:
    body = escape("\n".join(help_.lines))  # kpis.yaml's labels and definitions: shown as written
    title = section(f"*{escape(help_.title)}*")
    return {"text": escape(help_.text), "blocks": [title, *sections(body)][:MAX_BLOCKS]}


def problem_message(text: str, examples: list[str] | None = None) -> dict[str, Any]:
    """A polite explanation of what went wrong, and what to try (both may quote the asker and the CRM)."""
    text = escape(text, formatting=False)  # kpibot's own sentence: its `code` spans are meant
    blocks = [section(f":thinking_face: {text}")]
    if examples:
        blocks.append(context("Try " + " · ".join(f"`/kpi {escape(e, formatting=False)}`" for e in examples)))
    return {"text": text, "blocks": blocks}
