"""Benchmark 3: the naive baseline. Load the table's rows into pandas and compute the same numbers there.

This is what a script without a metrics core does: read every deal (or activity) into a DataFrame, then
filter and aggregate in memory. It runs once per question of each kind (loading millions of rows takes
seconds), and its numbers are checked against the product's like the floor's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pandas as pd
from sqlalchemy import Engine

from bench.common import Report, Section, median, ms, ratio, stopwatch
from bench.floor import Floor, agrees, floor_of
from bench.mix import KINDS, Ask
from kpi.service import Kpibot

COLUMNS = {
    "deals": "owner_id, status, amount, created_at, close_date, deleted_at",
    "activities": "owner_id, type, occurred_at, deleted_at",
}
TABLE = {"revenue": "deals", "deals-won": "deals", "win-rate": "deals", "pipeline": "deals", "calls": "activities"}


def load(engine: Engine, kpi: str) -> pd.DataFrame:
    table = TABLE[kpi]
    frame = pd.read_sql(f"SELECT {COLUMNS[table]} FROM {table}", engine)
    frame = frame[frame["deleted_at"].isna()]
    for column in ("created_at", "close_date", "occurred_at"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    return frame


def numbers(kpi: str, frame: pd.DataFrame, start: dt.datetime | None, end: dt.datetime) -> pd.DataFrame:
    """Per owner: the KPI's numerator (and denominator for a ratio) over ``[start, end)``; a stock (the
    pipeline, measured at the window's end) has no start."""
    if kpi == "pipeline":
        opened = frame["created_at"].isna() | (frame["created_at"] < end)
        still_open = (frame["status"] == "open") | (frame["close_date"] >= end)
        rows = frame[opened & still_open]
        return rows.groupby("owner_id").agg(n=("amount", "sum"))
    assert start is not None, f"{kpi} counts over a window"
    column = "occurred_at" if kpi == "calls" else "close_date"
    rows = frame[(frame[column] >= start) & (frame[column] < end)]
    if kpi == "calls":
        return rows[rows["type"] == "call"].groupby("owner_id").agg(n=("type", "size"))
    if kpi == "win-rate":
        closed = rows[rows["status"].isin(["won", "lost"])].assign(won=lambda f: f["status"] == "won")
        return closed.groupby("owner_id").agg(n=("won", "sum"), d=("won", "size"))
    won = rows[rows["status"] == "won"]
    return won.groupby("owner_id").agg(n=("amount", "sum") if kpi == "revenue" else ("status", "size"))


def rows_like_the_floor(floor: Floor, frame: pd.DataFrame) -> list[tuple]:
    """The pandas results in the shape of the floor's rows (owner first for a leaderboard), so the same check
    applies."""
    ends = [key for key in ("e0", "e1") if key in floor.params]
    windows = [_window(floor.params, key) for key in ends]
    owners = floor.params.get("owners")
    assert owners is None or isinstance(owners, list)
    parts = [numbers(floor.kpi, frame, start, end) for start, end in windows]
    if owners is not None:
        parts = [part[part.index.isin(owners)] for part in parts]
    if floor.leaderboard:
        return [(owner, *map(_decimal, row)) for owner, row in parts[0].iterrows()]
    return [tuple(_decimal(value) for part in parts for value in part.sum().tolist())]


def _window(params: dict[str, object], end: str) -> tuple[dt.datetime | None, dt.datetime]:
    """The bounds of window ``end`` ("e0", "e1") of the floor's parameters: a stock has no start."""
    start, stop = params.get(f"s{end[1]}"), params[end]
    assert (start is None or isinstance(start, dt.datetime)) and isinstance(stop, dt.datetime)
    return start, stop


def _decimal(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def run(report: Report, engine: Engine, kpibot: Kpibot, asks: list[Ask], cores: dict[str, list[float]]) -> None:
    as_of = kpibot.calendar.today()
    first = list({(a.kind, a.text): a for a in asks}.values())
    naive: dict[str, list[float]] = defaultdict(list)
    wrong = []
    for ask in first:
        floor = floor_of(kpibot, ask, as_of)
        with stopwatch() as elapsed:
            rows = rows_like_the_floor(floor, load(engine, floor.kpi))
        naive[ask.kind].append(elapsed())
        if not agrees(floor, rows):
            wrong.append(ask.text)
    section = Section(
        "3. Naive baseline: pandas (ms, p50 over the kind's questions)",
        ["kind", "questions", "pandas", "core", "pandas/core"],
    )
    for kind in KINDS:
        section.add(
            kind,
            len(naive[kind]),
            ms(median(naive[kind])),
            ms(median(cores[kind])),
            ratio(median(naive[kind]), median(cores[kind])),
        )
    section.notes.append(
        "pandas: `read_sql` of the table's columns (every row), then filter and group in memory, once per "
        "question; core: `Kpibot.ask` in-process (benchmark 2)."
    )
    section.notes.append(
        "pandas gave the product's numbers." if not wrong else f"pandas disagreed on: {'; '.join(wrong)}."
    )
    report.add(section)
