"""Targets from files: ``targets.yaml`` (applied whole or not at all) and CSV imports (bad rows reported)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import Engine

from kpi.config import ConfigError, Strict, explain, read_yaml
from kpi.targets.parsing import Names, TargetErrors, TargetSpec, validate
from kpi.targets.storage import Report, save


class Books(Names, Protocol):
    """Where targets are resolved and stored (the service, in practice)."""

    engine: Engine


class _Dates(Strict):
    start: dt.date
    end: dt.date


class _Entry(Strict):
    who: str
    kpi: str
    period: _Dates | dt.date | int | str
    value: int | float | str


class _TargetsFile(Strict):
    targets: list[_Entry] = []


def load_yaml(books: Books, path: Path, *, now: dt.datetime | None = None) -> Report:
    """Apply ``targets.yaml``: every entry is checked first, and the file is applied whole or not at all
    (raises :class:`ConfigError` listing every problem). Applying it again changes nothing; targets that
    are not in the file (set in Slack, imported) are left alone."""
    data = read_yaml(path) if path.exists() else None
    try:
        parsed = _TargetsFile.model_validate(data or {})
    except ValidationError as exc:
        raise explain(path, exc, model=_TargetsFile) from None
    problems: list[str] = []
    specs: dict[tuple, tuple[int, TargetSpec]] = {}
    for index, entry in enumerate(parsed.targets):
        where = f"{path}: targets[{index}] ({entry.who}, {entry.kpi})"
        period: Any = entry.period
        if isinstance(period, _Dates):
            period = period.model_dump()
        elif isinstance(period, dt.date):
            period = period.isoformat()
        try:
            spec = validate(books, entry.who, entry.kpi, period, entry.value)
        except TargetErrors as exc:
            problems.append(f"{where}: {exc}")
            continue
        if spec.natural_key in specs:
            earlier = specs[spec.natural_key][0]
            problems.append(f"{where}: the same target as targets[{earlier}]; keep one of them.")
            continue
        specs[spec.natural_key] = (index, spec)
    if problems:
        raise ConfigError("\n".join(problems))
    return save(books.engine, (spec for _, spec in specs.values()), str(path), now=now, report=Report(str(path)))


class CsvError(ValueError):
    """A CSV file that cannot be read at all (missing columns, not a file)."""


def import_csv(books: Books, path: Path, *, set_by: str | None = None, now: dt.datetime | None = None) -> Report:
    """Import ``who,kpi,period,value`` (or ``who,kpi,start,end,value``, inclusive dates) rows. Bad rows are
    reported with their line number and the reason; the others are imported (a later row for the same
    target wins)."""
    report = Report(path.name)
    specs: list[TargetSpec] = []
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CsvError(f"{path}: cannot be read ({exc.strerror}).") from None
    with handle:
        reader = csv.DictReader(handle)
        columns = {(name or "").strip().lower() for name in reader.fieldnames or []}
        has_period = "period" in columns or {"start", "end"} <= columns
        missing = sorted({"who", "kpi", "value"} - columns) + ([] if has_period else ["period (or start and end)"])
        if missing:
            raise CsvError(
                f"{path}: missing column(s) {', '.join(missing)}. The first line must name the columns "
                "who,kpi,period,value (or who,kpi,start,end,value)."
            )
        for row in reader:
            cells = {(name or "").strip().lower(): (value or "").strip() for name, value in row.items() if name}
            if not any(cells.values()):
                continue
            period: Any = cells.get("period") or {"start": cells.get("start"), "end": cells.get("end")}
            try:
                specs.append(validate(books, cells.get("who"), cells.get("kpi"), period, cells.get("value")))
            except TargetErrors as exc:
                report.errors.append(f"{path.name}, line {reader.line_num}: {exc}")
    return save(books.engine, specs, set_by or f"import {path.name}", now=now, report=report)
