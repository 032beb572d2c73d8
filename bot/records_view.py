"""The records behind an answer in Slack: the reply to a "Show the 17 deals" button (under an answer or a goal
alert, :mod:`digests.records_button`), to the asker alone, with a page of records of each side and Previous/Next.

A button carries the query (an answer's, as its other buttons do; a deal question's words, read again), the side
it pages and where each page before began (keyset cursors), never the rows: 10 records with their links would not
fit the 2,000 characters of a button's value, and what a person may see is decided again at each press.
"""

from __future__ import annotations

import json
import re
from typing import Any

from digests.records_button import MAX_VALUE
from kpi.directory import Person
from kpi.formats import money
from kpi.grammar.queries import Query, RecordsQuery, ValueQuery, from_json
from kpi.records import (
    PAGE_SIZE,
    Page,
    Record,
    RecordList,
    cursor_from_json,
    cursor_to_json,
    sides,
)
from kpi.service import Kpibot
from slackui.blocks import context, section
from slackui.fitting import sections
from slackui.limits import MAX_BLOCKS
from slackui.text import clip, escape

PAGE = "kpi_records_page"
#: A link Slack can show as one: no space or character that ends or splits its ``<url|text>`` form.
_LINKABLE = re.compile(r"https?://[^\s<>|]+")


def reply(kpibot: Kpibot, asker: Person, value: dict[str, Any]) -> dict[str, Any]:
    """The message for a records button: the query it carries (an answer's, or a deal question's words, read
    again), the side and page it names, for ``asker``.

    Raises what asking raises (LookupError, AccessDenied, ...), and LookupError for a button that is not one."""
    side, starts = value.get("side"), value.get("at", [])
    if not (side is None or isinstance(side, int)) or not isinstance(starts, list):
        raise LookupError("That button no longer works; ask the question again.")
    query = _carried(kpibot, value)
    model = query.model if isinstance(query, RecordsQuery) else sides(query.kpi)[side or 0].measure.model
    try:
        after = cursor_from_json(starts[-1], model) if starts else None
    except (ValueError, TypeError):
        raise LookupError("That button no longer works; ask the question again.") from None
    source = {key: item for key, item in value.items() if key not in ("side", "at")}
    return records_message(kpibot.records(query, asker, side=side, after=after), source, side, starts)


def _carried(kpibot: Kpibot, value: dict[str, Any]) -> ValueQuery | RecordsQuery:
    """The query a button carries: an answer's (``k``), or the words of a deal question (``q``)."""
    query: Query
    if "k" in value:
        query = from_json(value, kpibot.catalog, kpibot.directory)
    elif isinstance(value.get("q"), str):
        query = kpibot.parse(value["q"])
    else:
        raise LookupError("That button no longer works; ask the question again.")
    if not isinstance(query, ValueQuery | RecordsQuery):
        raise LookupError("Records are listed behind one number, or for a question about deals.")
    return query


def records_message(listed: RecordList, source: dict[str, Any], side: int | None, starts: list[Any]) -> dict[str, Any]:
    """A page of each side (or of the one side ``side``), each with its count, its sum for money, and Previous
    and Next, which carry ``source`` (the query, see :func:`reply`); every value from the CRM escaped."""
    blocks: list[dict[str, Any]] = [section(f"*{escape(listed.title)}*")]
    for index, page in enumerate(listed.pages):
        number = index if side is None else side
        begun = starts if side is not None else []
        blocks += sections(_page_text(page, len(begun), listed.currency))
        buttons = _buttons(source, number, begun, page)
        if buttons:
            blocks.append({"type": "actions", "elements": buttons})
    if len(blocks) > MAX_BLOCKS:
        blocks = blocks[: MAX_BLOCKS - 1] + [context("More than one message holds: ask with `kpibot ask --records`.")]
    return {"text": clip(escape(listed.text), 3000), "blocks": blocks}


def _page_text(page: Page, pages_before: int, currency: str) -> str:
    """The side's name, count and sum, which records of it these are, and the records."""
    amount = f", {money(page.total, currency)}" if page.sums_money else ""
    head = f"*{escape(page.side.label)}*: {page.count} records{amount}"
    if not page.records:
        return head + "\nNone."
    first = pages_before * PAGE_SIZE + 1
    if page.count > len(page.records):
        head += f" ({first}-{first + len(page.records) - 1} shown)"
    return "\n".join([head] + [f"• {_line(record, currency)}" for record in page.records])


def _line(record: Record, currency: str) -> str:
    name = escape(record.name or record.crm_id)
    if record.url and _LINKABLE.fullmatch(record.url):
        name = f"<{record.url}|{name}>"
    parts = [name, escape(record.owner or "no owner")]
    if record.amount is not None:
        parts.append(money(record.amount, currency))
    if record.type:
        parts.append(escape(record.type))
    if record.days_in_stage is not None:
        parts.append(f"{record.days_in_stage:.0f} days in stage")
    if record.date:
        parts.append(record.date.strftime("%Y-%m-%d"))
    return " · ".join(parts)


def _buttons(source: dict[str, Any], side: int, starts: list[Any], page: Page) -> list[dict[str, Any]]:
    """Previous (the page that began where the one before this began) and Next (after this page's last record)."""
    wanted = []
    if starts:
        wanted.append(("Previous", starts[:-1]))
    if page.after is not None:
        wanted.append(("Next", [*starts, cursor_to_json(page.after)]))
    buttons = []
    for label, at in wanted:
        value = json.dumps({**source, "side": side, "at": at}, ensure_ascii=False)
        if len(value) <= MAX_VALUE:
            text = {"type": "plain_text", "text": label}
            buttons.append({"type": "button", "action_id": f"{PAGE}_{label.lower()}", "text": text, "value": value})
    return buttons
