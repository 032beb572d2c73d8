"""A question as long as a hand-made request can carry is answered or refused at once: parsing is linear in the
words (it tried every span of words, and 800 words took 17 s of CPU)."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time

import pytest

from kpi.access import AccessDenied
from kpi.catalog import UnknownKpi
from kpi.directory import UnknownPerson
from kpi.grammar.parser import NotUnderstood
from kpi.periods import PeriodError
from kpi.service import Kpibot

random.seed(7)
SHAPES = {
    "random words": " ".join(random.choice(["foo", "bar", "baz", "qux", "alice", "won"]) for _ in range(700)),
    "repeated KPI words": "win rate revenue " * 200,
    "repeated names": "alice adams " * 300,
    "repeated periods": "last month " * 300,
    "dates": " ".join(f"2017-{month:02d}-0{day}" for month in range(1, 13) for day in range(1, 9)) * 3,
    "no spaces": "x" * 3000,
}


@pytest.mark.parametrize("question", [text[:3000] for text in SHAPES.values()], ids=list(SHAPES))
def test_a_3000_character_question_is_answered_or_refused_in_under_100_ms(engine, world, question):
    world.rep("Alice Adams", email="alice@example.com")
    world.commit()
    bot = Kpibot(engine)
    alice = bot.person("alice@example.com")

    def once() -> float:
        started = time.perf_counter()
        with contextlib.suppress(
            UnknownKpi, UnknownPerson, NotUnderstood, PeriodError, AccessDenied
        ):  # refused: said why
            bot.ask(question, alice, dt.date(2017, 5, 15))
        return time.perf_counter() - started

    assert min(once() for _ in range(3)) < 0.100  # the best of three: robust on a busy machine
