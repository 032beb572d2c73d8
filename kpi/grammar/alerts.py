"""The condition of a goal alert: "my pipeline drops below 50k", "my team reaches 100% of the revenue target",
"my win rate falls under 25%".

A small parser beside the question grammar, not inside it: it splits the condition at its direction words
(alerts.yaml) into the question it watches ("my pipeline", "my team revenue"), which the question parser reads,
and the threshold. "100% of the revenue target" watches attainment of the target; "25%" is a fraction, as the
core holds percentages.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

import yaml

WORDS = Path(__file__).with_name("alerts.yaml")
_THRESHOLD = re.compile(
    r"^[$€£]?(?P<number>\d[\d,]*(?:\.\d+)?|\.\d+)\s*(?P<suffix>[a-z%]?)"
    r"(?:\s+of\s+(?:the\s+|my\s+|our\s+|its\s+)?(?P<kpi>.+?)\s+target)?$"
)
EXAMPLES = (
    "alert me when my pipeline drops below 50k",
    "alert me when my team reaches 100% of the revenue target",
    "alert me when my win rate falls under 25%",
)


class AlertSyntaxError(ValueError):
    """Words that are not an alert; the message shows what is."""


@dataclass(frozen=True)
class AlertCondition:
    """What to watch (``question``, for the question parser), which way, and the threshold: a value, or the
    attainment of the target (1 is 100%) when ``measure`` is "attainment"."""

    question: str
    direction: Literal["below", "above"]
    threshold: Decimal
    measure: Literal["value", "attainment"] = "value"
    percent: bool = False  # the threshold was written as a percentage


@functools.cache
def _words() -> dict:
    return yaml.safe_load(WORDS.read_text())


def is_alert(text: str) -> bool:
    """Whether ``text`` asks for an alert (it opens with one of the openings)."""
    lowered = " ".join(text.lower().split())
    return any(lowered.startswith(opening) for opening in _words()["openings"]) or lowered.startswith("alert ")


def parse_alert(text: str) -> AlertCondition:
    """The condition ``text`` states; raises AlertSyntaxError with examples when it states none."""
    words = _words()
    lowered = " ".join(text.lower().split())
    for opening in words["openings"]:
        if lowered.startswith(opening + " "):
            lowered = lowered[len(opening) + 1 :]
            break
    else:
        lowered = lowered.removeprefix("alert ")
    found = [
        (lowered.find(f" {phrase} "), phrase, direction)
        for direction in ("below", "above")
        for phrase in words[direction]
        if f" {phrase} " in lowered
    ]
    if not found:
        raise AlertSyntaxError(_help(f"I couldn't find a direction ({', '.join(words['below'][:2])}, reaches...)"))
    at, phrase, said_direction = min(found)
    direction: Literal["below", "above"] = "below" if said_direction == "below" else "above"
    subject, said = lowered[:at].strip(), lowered[at + len(phrase) + 2 :].strip()
    match = _THRESHOLD.match(said)
    if not subject or not match:
        raise AlertSyntaxError(_help(f"I couldn't read '{said}' as a number such as 50k, 25% or 100% of the target"))
    suffix = match["suffix"]
    try:
        number = Decimal(match["number"].replace(",", ""))
    except InvalidOperation:
        raise AlertSyntaxError(_help(f"'{match['number']}' is not a number")) from None
    if suffix == "%":
        number /= 100
    elif suffix:
        if suffix not in words["multipliers"]:
            raise AlertSyntaxError(_help(f"'{suffix}' after a number: write k (thousands), m (millions) or %"))
        number *= Decimal(words["multipliers"][suffix])
    if match["kpi"]:
        return AlertCondition(f"{subject} {match['kpi']}", direction, number, "attainment", suffix == "%")
    return AlertCondition(subject, direction, number, "value", suffix == "%")


def _help(reason: str) -> str:
    return f"{reason}. Try: " + " · ".join(f"`/kpi {example}`" for example in EXAMPLES)
