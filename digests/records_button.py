"""The button under a number that opens the records behind it ("Show the 17 deals"), under an answer and under a
goal alert's post alike: here, below both :mod:`bot` and the alerts of :mod:`digests`, so each may use it.

The button carries the number's query (:func:`kpi.grammar.queries.to_json`), never the rows; what it lists, and
for whom, is :mod:`bot.records_view`'s.
"""

from __future__ import annotations

import json
from typing import Any

from kpi.answers import Answer
from kpi.records import counted_from_records, counts, noun
from slackui.limits import MAX_BUTTON_TEXT
from slackui.text import clip

OPEN = "kpi_records"
#: A button's value holds 2,000 characters: a question too long to carry gets no button.
MAX_VALUE = 2000


def records_label(answer: Answer) -> str | None:
    """What the records button of an answer says: "Show the 17 deals", "Show the 212 calls", a ratio's both sides
    "Show the 17 won · 40 closed", or "Show the deals" for a sum (its count is not part of the answer); None for
    a number not counted from records."""
    if not counted_from_records(answer.kpi):
        return None
    found = counts(answer.kpi, answer.result)
    if len(found) == 1:
        side, count = found[0]
        return f"Show the {_counted(count, noun(side.measure))}"
    return "Show the " + " · ".join(side.label if count is None else f"{count:,} {side.label}" for side, count in found)


def _counted(count: int | None, plural: str) -> str:
    if count is None:
        return plural
    one = plural[:-3] + "y" if plural.endswith("ies") else plural.removesuffix("s")
    return f"{count:,} {one if count == 1 else plural}"


def records_button(carried: dict[str, Any], label: str) -> dict[str, Any] | None:
    """The button under an answer that opens the records behind it, carrying the answer's query
    (:func:`kpi.grammar.queries.to_json`); None when it would not fit a button's value."""
    value = json.dumps(carried, ensure_ascii=False)
    if len(value) > MAX_VALUE:
        return None
    text = {"type": "plain_text", "text": clip(label, MAX_BUTTON_TEXT)}
    return {"type": "button", "action_id": OPEN, "text": text, "value": value}
