"""Record links: the address of a deal (or a lead) in the CRM it came from, for lists of records that open
onto the CRM.

Each sync stores, per object, a URL template for its source (table ``record_links``): the API connectors
fill the shapes of ``links.yaml`` with what they learned from the CRM (HubSpot's portal, Salesforce's
instance, Pipedrive's company domain); a CSV import takes the ``url:`` its csv.yaml gives. A template keeps
``{id}`` (the record's ``crm_id``) and, from csv.yaml, other fields of the record, filled by
:func:`record_url`. A source without a template for an object gives its records no link, rather than a
guessed one.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import string
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import Field
from sqlalchemy import Connection, delete, insert, select

from kpi.config import Strict, load_model
from kpi.schema import RecordLink

LINKS_FILE = Path(__file__).with_name("links.yaml")

#: The placeholder of a record's id in the CRM (its ``crm_id``).
ID = "id"


class CrmLinks(Strict):
    """One CRM's record addresses: what its base is made of, and a URL template per canonical object."""

    base: dict[str, str] = Field(description="placeholder -> the regular expression its value must match")
    records: dict[str, str] = Field(description="canonical object -> URL template")


class LinkShapes(Strict):
    hubspot: CrmLinks
    salesforce: CrmLinks
    pipedrive: CrmLinks


@functools.cache
def shapes() -> dict[str, CrmLinks]:
    """links.yaml, by source name."""
    return dict(load_model(LinkShapes, LINKS_FILE))


def templates(source: str, base: Mapping[str, Any]) -> dict[str, str]:
    """The URL template of each object of ``source``, with ``base`` filled in and ``{id}`` left.

    ValueError when a base value is missing or not of the shape links.yaml wants (a link built from it could
    lead anywhere).
    """
    shape = shapes()[source]
    for name, pattern in shape.base.items():
        value = base.get(name)
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise ValueError(f"{source}'s {name} {value!r} does not have the expected shape {pattern}")
    return {object: _fill(template, base) for object, template in shape.records.items()}


def placeholders(template: str) -> list[str]:
    """The fields a template reads: ``["id"]`` for ``https://crm.example.com/deals/{id}``."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def template_problem(template: str, fields: Collection[str]) -> str | None:
    """Why ``template`` cannot make a record's link (None when it can): an address that is not http(s), a
    placeholder that is neither ``id`` nor one of ``fields``, or one with a format."""
    if not re.match(r"https?://[^/{}\s]", template):
        return f"{template!r} is not an address: start it with https://"
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as problem:
        return f"{template!r}: {problem} (write {{id}} where the record's id goes)"
    known = {ID, *fields}
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in known:
            return (
                f"{template!r}: {{{name}}} is neither {{id}} nor a field of this import ({', '.join(sorted(fields))})"
            )
        if spec or conversion:
            return f"{template!r}: write {{{name}}} without a format"
    if ID not in placeholders(template):
        return f"{template!r} has no {{id}}: every record would open the same page"
    return None


def record_url(template: str, record: Mapping[str, Any]) -> str | None:
    """The address of one record: ``template`` filled from ``record`` (``id``: its crm_id), each value
    URL-quoted so that it stays one path segment; None when a value is missing."""
    values = {}
    for name in placeholders(template):
        value = record.get(name)
        if value is None or value == "":
            return None
        values[name] = quote(str(value), safe="")
    return template.format_map(values)


def link_templates(connection: Connection) -> dict[tuple[str, str], str]:
    """Every stored template: ``(source, object) -> template``."""
    rows = connection.execute(select(RecordLink.source, RecordLink.object, RecordLink.template))
    return {(source, object): template for source, object, template in rows}


def save_templates(connection: Connection, source: str, learned: Mapping[str, str], now: dt.datetime) -> None:
    """Replace ``source``'s templates by those a sync just learned (none: its records get no link)."""
    connection.execute(delete(RecordLink).where(RecordLink.source == source))
    rows = [{"source": source, "object": object, "template": t, "learned_at": now} for object, t in learned.items()]
    if rows:
        connection.execute(insert(RecordLink), rows)


def _fill(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with ``values`` in, and the placeholders they do not give (``{id}``) left as they are."""
    kept = {name: f"{{{name}}}" for name in placeholders(template) if name not in values}
    return template.format_map({**kept, **values})
