"""The records behind an answer on the command line: a table per side (`kpibot ask ... --records`), or one CSV
file for a spreadsheet (`--csv FILE`)."""

from __future__ import annotations

import csv
from pathlib import Path

from rich.table import Table

from bot.terminal import console
from kpi.formats import money
from kpi.records import Record, RecordList

COLUMNS = ["side", "id", "name", "owner", "amount", "type", "date", "days_in_stage", "url"]
#: A cell a spreadsheet would run as a formula begins with one of these: such a CRM value gets a quote first.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def print_tables(listed: RecordList) -> None:
    """A rich table per side, headed by what it counts and how many; names from the CRM printed as text."""
    console.print(listed.title, highlight=False, markup=False)
    for page in listed.pages:
        amount = f", {money(page.total, listed.currency)}" if page.sums_money else ""
        title = f"{page.side.label}: {len(page.records)} of {page.count}{amount}"
        table = Table("Name", "Owner", "Amount", "Type", "Date", "Link", title=title, title_justify="left")
        for record in page.records:
            table.add_row(*(_plain(cell) for cell in _cells(record, listed.currency)))
        console.print(table)


def _cells(record: Record, currency: str) -> list[str]:
    return [
        record.name or record.crm_id,
        record.owner or "",
        money(record.amount, currency) if record.amount is not None else "",
        record.type or "",
        record.date.strftime("%Y-%m-%d") if record.date else "",
        record.url or "",
    ]


def _plain(text: str) -> str:
    """Rich markup in a CRM value ("[bold]") printed as written."""
    return text.replace("[", "\\[")


def write_csv(listed: RecordList, path: Path) -> int:
    """Every side's records in one CSV file (a column says the side); returns the rows written."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        written = 0
        for page in listed.pages:
            for record in page.records:
                row = {"side": page.side.label, **record.to_json()}
                writer.writerow([_cell(row[column]) for column in COLUMNS])
                written += 1
    return written


def _cell(value: object) -> object:
    """A value as a spreadsheet should read it: text that would start a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else value
