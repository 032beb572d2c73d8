"""Block Kit for kpibot's answers: pure functions from core results to Slack messages.

Every message is a dict with ``text`` (the notification and screen-reader fallback) and ``blocks``, within
Slack's limits (:mod:`slackui.limits`). Every string from the CRM, the config or the asker goes into mrkdwn through
:func:`slackui.text.escape`. Money is exact where a person asked for one number (an answer, a gap) and compact
where they scan a list (a leaderboard, a scorecard).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from digests.records_button import records_button, records_label
from kpi.answers import Answer, Comparison, Help, Leaderboard, Pace, Row
from kpi.formats import formatted
from kpi.gap import HOW_TO_SET, Gap
from kpi.grammar.queries import Carried, LeaderboardQuery, ScorecardQuery, ValueQuery, to_json
from kpi.periods import Period
from kpi.results import Result
from kpi.scorecard import Scorecard
from kpi.types import Kpi
from slackui.blocks import context, header, section, static_select
from slackui.fitting import sections
from slackui.limits import MAX_BLOCKS
from slackui.text import arrow, escape, progress_bar

#: Rows of a leaderboard shown in Slack (the asker's own row is added when it is further down).
LEADERBOARD_ROWS = 25
PERIOD_CHOICES = ["this week", "this month", "this quarter", "this year", "last month", "last quarter"]
#: The most of a question a share button carries, to quote it (a button's value holds 2,000 characters).
QUOTED = 300
MEDALS = {1: ":first_place_medal:", 2: ":second_place_medal:", 3: ":third_place_medal:"}


def where(scope_name: str, period: Period) -> dict[str, Any]:
    """The context line under a header: whose numbers, and the period with its dates."""
    return context(f"*{escape(scope_name)}* · {escape(period.label)} ({period.dates()})")


def _versus(title: str, answer: Answer, other: Result, change: tuple[float | None, str], was: str = "was") -> str:
    """A field comparing the answer with ``other``: the arrow, the change (better or worse) and the other value."""
    value = formatted(other.value, answer.kpi.format, answer.currency)
    delta, delta_text = change
    if delta is None:
        return f"*{title}*\n{value} ({escape(delta_text)})"
    better = (delta > 0) == answer.kpi.higher_is_better if delta else None
    mood = "" if better is None else (" (better)" if better else " (worse)")
    return f"*{title}*\n{arrow(delta)} {delta_text}{mood}, {was} {value}"


def _against_field(answer: Answer, against: Comparison) -> str:
    """The comparison the question asked for, named: a year ago, another period, or the team and its median."""
    change = answer.change_from(against.other)
    if against.kind != "team":
        return _versus(f"vs {escape(against.name)}", answer, against.other, change)
    median = formatted(against.median, answer.kpi.format, answer.currency)
    reps = f"{against.reps} rep" + ("" if against.reps == 1 else "s")
    team = _versus(f"vs {escape(against.name)}", answer, against.other, change, was="team")
    return f"{team}\nmedian of its {reps} {median}"


def pace_text(pace: Pace, kpi: Kpi, currency: str, *, compact: bool = False) -> str:
    """ "`▓▓▓▓▓░░░░░` 50% of $3k, *missed*": attainment of the target at a glance, and the pace status."""
    if pace.status == "no working day":
        return "no working day in the period"
    target = formatted(pace.target, kpi.format, currency, compact=compact)
    if pace.attainment is None:
        return f"target {target}, *{pace.status}*"
    return f"`{progress_bar(float(pace.attainment))}` {pace.attainment * 100:.0f}% of {target}, *{pace.status}*"


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
    """An answer: value large, parts by name, change vs previous period, the comparison asked for, target and
    pace, definition and freshness."""
    r, kpi = answer.result, answer.kpi
    blocks = [header(f"{kpi.label}: {answer.formatted}"), where(answer.scope.name, r.period)]
    fields = []
    if r.value is None:
        fields.append(f"*No value*\n{escape(r.reason or '')}")
    elif answer.parts:
        fields.append(f"*Detail*\n{escape(answer.parts)}")  # part names come from kpis.yaml
    fields.append(_versus(f"vs {escape(answer.previous.period.label)}", answer, answer.previous, answer.change))
    if answer.against:
        fields.append(_against_field(answer, answer.against))
    blocks.append(section(" ", fields))
    if target := _target_line(answer):
        blocks.append(section(target))
    records = records_label(answer)
    blocks += footer(kpi.description, query, question, freshness, shared_by, records=records)
    return {"text": escape(answer.text), "blocks": blocks}


def scorecard_row(card: Scorecard, answer: Answer) -> str:
    """One KPI of a scorecard on one line: label, value (money compact), target with bar and pace, change."""
    kpi, r = answer.kpi, answer.result
    row = f"*{escape(kpi.label)}*  {formatted(r.value, kpi.format, card.currency, compact=True)}"
    if r.value is None:
        row += f" ({escape(r.reason or '')})"
    if answer.pace:
        row += " · " + pace_text(answer.pace, kpi, card.currency, compact=True)
    if answer.previous.value is not None:
        delta, delta_text = answer.change
        row += f" · {arrow(delta)} {delta_text} on {escape(answer.previous.period.label)}"
    return row


def scorecard_message(
    card: Scorecard, query: ScorecardQuery, question: str, freshness: str, *, shared_by: str | None = None
) -> dict[str, Any]:
    """ "How am I doing": one row per key KPI, the scope and period in the header."""
    blocks = [header(f"Scorecard · {card.scope.name} · {card.period.label}"), context(card.period.dates())]
    blocks += sections("\n".join(scorecard_row(card, answer) for answer in card.items))
    footer_blocks = footer(None, query, question, freshness, shared_by)
    return {"text": escape(card.text), "blocks": blocks[: MAX_BLOCKS - len(footer_blocks)] + footer_blocks}


def gap_message(
    gap: Gap, query: Carried, question: str, freshness: str, *, shared_by: str | None = None
) -> dict[str, Any]:
    """What it takes to reach a target: what remains, per working day left and, for revenue, in deals and in
    pipeline; or that the target is reached, the period has ended, or no target is set. Amounts are exact: a
    person asked for them."""
    kpi, period = gap.kpi, gap.period

    def money(value: Decimal | None) -> str:
        return formatted(value, kpi.format, gap.currency)

    actual, target, remaining = money(gap.actual), money(gap.target), gap.remaining
    if gap.target is None:
        heading = "no target"
        say = f"No {escape(kpi.label.lower())} target is set, so there is no gap to show; "
        body = [section(say + escape(HOW_TO_SET, formatting=False) + ".")]
    elif gap.ended:
        heading, body = f"{period.label} has ended", [section(f"{actual} against a target of {target}.")]
    elif remaining is not None and remaining <= 0:
        heading, body = "target reached :tada:", [section(f"{actual} of {target}.")]
    else:
        to_go = "to go" if kpi.higher_is_better else "above target"
        heading = f"{money(remaining)} {to_go}"
        fields = [f"*Target*\n{target}", f"*So far*\n{actual}", f"*{to_go.capitalize()}*\n{money(remaining)}"]
        fields.append(f"*Working days left*\n{gap.working_days_left}")
        if gap.per_working_day is not None:
            fields.append(f"*Per working day*\n{money(gap.per_working_day)}")
        body = [section(" ", fields)]
        if in_deals := _in_deals(gap, money):
            body.append(section(" ", in_deals))
    blocks = [header(f"{kpi.label}: {heading}"), where(gap.scope.name, period), *body]
    blocks += footer(kpi.description, query, question, freshness, shared_by)
    return {"text": escape(gap.text), "blocks": blocks}


def _in_deals(gap: Gap, money: Callable[[Decimal | None], str]) -> list[str]:
    """What remains in deals and in pipeline (against the pipeline open now), or why it is not known."""
    fields = []
    if gap.deal_size is not None:
        size = formatted(gap.deal_size.value, gap.deal_size.kpi.format, gap.currency)
        if gap.deals_needed is None:
            fields.append(f"*Deals needed*\nunknown ({escape(gap.deal_size.reason or '')})")
        else:
            fields.append(f"*Deals needed*\n{gap.deals_needed} at an average deal size of {size} (last 12 months)")
    if gap.win_rate is not None:
        rate = formatted(gap.win_rate.value, gap.win_rate.kpi.format, gap.currency)
        if gap.pipeline_needed is None:
            needed = f"unknown ({escape(gap.win_rate.reason or '')})"
        else:
            needed = f"{money(gap.pipeline_needed)} at a win rate of {rate} (last 12 months)"
        fields.append(f"*Pipeline needed*\n{needed}\n*Open now* {money(gap.pipeline)}")
    return fields


def footer(
    description: str | None,
    query: Carried,
    question: str,
    freshness: str,
    shared_by: str | None,
    *,
    records: str | None = None,
) -> list[dict[str, Any]]:
    """The definition and freshness; then who asked (a shared answer) or the share and period controls."""
    notes = ([f"_{escape(description)}_"] if description else []) + [freshness]
    if shared_by:
        notes.append(f"Asked by <@{shared_by}>: `/kpi {escape(question, formatting=False)}`")
        return [context(*notes)]
    return [context(*notes), answer_actions(query, question, records)]


def answer_actions(query: Carried, question: str, records: str | None = None) -> dict[str, Any]:
    """Share in channel, a period menu that asks the same query for another period, and for a number counted
    from CRM records, the button to its records ("Show the 17 deals", :mod:`bot.records_view`).

    The buttons carry the query (:func:`kpi.grammar.queries.to_json`), not text to parse again; the share button
    also carries the question as typed, which the shared message quotes.
    """
    carried = to_json(query)
    value = json.dumps({**carried, "q": question[:QUOTED]})
    # An option's value holds 150 characters: the query is written without spaces.
    periods = [(p.capitalize(), json.dumps({**carried, "p": p}, separators=(",", ":"))) for p in PERIOD_CHOICES]
    elements = [
        {
            "type": "button",
            "action_id": "kpi_share",
            "text": {"type": "plain_text", "text": "Share in channel"},
            "value": value,
        },
        static_select("kpi_period", "Another period", periods),
    ]
    if isinstance(query, ValueQuery) and records is not None:  # and the records behind the number (its label)
        elements += [button for button in [records_button(carried, records)] if button is not None]
    return {"type": "actions", "block_id": "kpi_answer_actions", "elements": elements}


def board_heading(board: Leaderboard) -> str:
    """ "Revenue leaderboard", "Win rate team ranking, by % of target", "Calls leaderboard, from the bottom"."""
    ranking = "team ranking" if board.ranks == "teams" else "leaderboard"
    how = ", by % of target" if board.of_target else ""
    return f"{board.kpi.label} {ranking}{how}" + (", from the bottom" if board.bottom else "")


def board_row(board: Leaderboard, row: Row, who: str, *, medals: bool = True) -> str:
    """ "🥇 Alice — *$1.5k*" (no medal from the bottom), with the sample of a rate, a row too small to rank
    fairly marked, and the pace against the row's own target when the board was asked with paces (the App
    Home's)."""
    place = MEDALS.get(row.rank, f"{row.rank}.") if medals and not board.bottom else f"{row.rank}."
    line = f"{place} {who} — *{escape(board.value(row))}*"  # a rate's case names come from kpis.yaml
    if row.pace is not None and not board.of_target:
        line += " · " + pace_text(row.pace, board.kpi, board.currency, compact=True)
    return line


def leaderboard_message(
    board: Leaderboard,
    query: LeaderboardQuery,
    question: str,
    freshness: str,
    *,
    shared_by: str | None = None,
    mentions: dict[int, str] | None = None,
) -> dict[str, Any]:
    """The top of a ranked list, medals for the top three, the asker's place ("You're #8 of 9", "Your team,
    West, is #1 of 2") and their own row when it is further down. Teams are named, people mentioned.

    A leaderboard of 2,000 reps would be unreadable in a channel (and over Slack's 40,000-character text
    limit): the first :data:`LEADERBOARD_ROWS` are shown, with how many more there are.
    """
    mentions = mentions or {}
    shown = board.rows[:LEADERBOARD_ROWS]
    mine = board.you if board.you and all(row.id != board.you.id for row in shown) else None
    lines = []
    for row in [*shown, *([mine] if mine else [])]:
        if row is mine:
            lines.append("…")
        who = f"<@{mentions[row.person_id]}>" if row.person_id in mentions else escape(row.name)
        lines.append(board_row(board, row, who))
    if not lines:
        lines.append("Nobody to rank in this scope." if board.ranks == "reps" else "No team to rank here.")
    blocks = [header(board_heading(board)), where(board.scope.name, board.period)]
    blocks += sections("\n".join(lines))
    notes = (
        [f"{'Bottom' if board.bottom else 'Top'} {len(shown)} of {board.ranked} ranked."]
        if len(shown) < board.ranked
        else []
    )
    if board.place:
        notes.append(escape(board.place))
    if notes:
        blocks.append(context(*notes))
    footer_blocks = footer(board.kpi.description, query, question, freshness, shared_by)
    text = escape("\n".join(board.lines(shown=LEADERBOARD_ROWS)))  # the title, the rows shown, the asker's place
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
