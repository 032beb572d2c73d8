"""HubSpot's objects as the connector reads them (:class:`Kind`: paths, properties, prefixes, histories) and how
one becomes a canonical record (:func:`deal`, :func:`lead`, :func:`call`, :func:`meeting`); the rules are in
:mod:`crm.hubspot`'s docstring. A record that cannot be read raises ValueError, which the connector turns into a
reject."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crm.values import amount, crm_id, lead_source, parse_time, probability

#: The dates a contact entered the lifecycle stages a lead records (MQL, SQL, converted into an opportunity).
MQL = "hs_lifecyclestage_marketingqualifiedlead_date"
SQL = "hs_lifecyclestage_salesqualifiedlead_date"
OPPORTUNITY = "hs_lifecyclestage_opportunity_date"


@dataclass(frozen=True)
class Kind:
    """A HubSpot object type as the connector reads it."""

    name: str  # in HubSpot's paths: "deals", "calls"
    label: str  # in reject locations: "HubSpot call 123"
    modified: str  # its last-modification property: contacts have their own name for it
    properties: tuple[str, ...]
    prefix: str = ""  # of the crm_id, when two types make one canonical object
    associated: bool = False  # whether its deal associations are read
    history: tuple[str, ...] = ()  # properties whose history is read (propertiesWithHistory)


DEALS = Kind(
    "deals",
    "deal",
    "hs_lastmodifieddate",
    ("dealname", "amount", "dealstage", "closedate", "createdate", "hubspot_owner_id", "deal_currency_code")
    + ("hs_deal_stage_probability",),
    history=("dealstage",),
)
CONTACTS = Kind(
    "contacts",
    "contact",
    "lastmodifieddate",
    ("firstname", "lastname", "email", "createdate", "hubspot_owner_id", "hs_analytics_source", MQL, SQL, OPPORTUNITY),
    associated=True,
)
CALLS = Kind(
    "calls",
    "call",
    "hs_lastmodifieddate",
    ("hs_timestamp", "hs_createdate", "hubspot_owner_id", "hs_call_status"),
    prefix="call-",
    associated=True,
)
MEETINGS = Kind(
    "meetings",
    "meeting",
    "hs_lastmodifieddate",
    ("hs_timestamp", "hs_createdate", "hs_meeting_start_time", "hubspot_owner_id", "hs_meeting_outcome"),
    prefix="meeting-",
    associated=True,
)

#: How a HubSpot object becomes a canonical record (without its crm_id); ValueError when it cannot.
Parse = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Stage:
    label: str
    status: str  # open, won or lost


def deal(item: dict[str, Any], stages: dict[str, Stage]) -> dict[str, Any]:
    properties = item["properties"]
    stage = stages.get(str(properties.get("dealstage")))
    if stage is None:
        raise ValueError(f"dealstage: {properties.get('dealstage')!r} is not a stage of any deal pipeline")
    record = {
        "name": properties.get("dealname") or None,
        "owner_crm_id": crm_id(properties.get("hubspot_owner_id")),
        "amount": amount(properties.get("amount")),
        "currency": properties.get("deal_currency_code") or None,
        "stage": stage.label,
        "status": stage.status,
        "probability": probability(properties.get("hs_deal_stage_probability"), percent=False),
        "created_at": time_of(properties, "createdate"),
        "close_date": time_of(properties, "closedate"),
        "updated_at": time_of(properties, DEALS.modified),
    }
    history = stays(item, stages)
    if history:
        record["stage_changed_at"] = history[-1][1]
        record["stage_history"] = history
    return record


def stays(item: dict[str, Any], stages: dict[str, Stage]) -> list[tuple[str, dt.datetime]]:
    """The stages a deal entered, oldest first, from its ``dealstage`` history (newest first, and repeating a
    stage that is set again: a repeat is no new stay). A stage no pipeline lists any more keeps its id."""
    changes = ((item.get("propertiesWithHistory") or {}).get("dealstage")) or []
    moments = []
    for change in changes:
        entered = parse_time(change.get("timestamp"), "the dealstage history's timestamp")
        if entered is not None:
            moments.append((entered, str(change.get("value"))))
    found: list[tuple[str, dt.datetime]] = []
    for entered, value in sorted(moments):
        label = stages[value].label if value in stages else value
        if not found or found[-1][0] != label:
            found.append((label, entered))
    return found


def lead(item: dict[str, Any]) -> dict[str, Any]:
    properties = item["properties"]
    converted = time_of(properties, OPPORTUNITY)
    if converted is None and item["deal"]:
        converted = parse_time(item.get("deal_createdate"), "the createdate of its deal")
    name = full_name(properties.get("firstname"), properties.get("lastname"))
    return {
        "name": name or properties.get("email") or None,
        "owner_crm_id": crm_id(properties.get("hubspot_owner_id")),
        "lead_source": lead_source(properties.get("hs_analytics_source")),
        "status": "converted" if converted else "open",
        "created_at": time_of(properties, "createdate"),
        "mql_at": time_of(properties, MQL),
        "sql_at": time_of(properties, SQL),
        "converted_at": converted,
        "converted_deal_crm_id": item["deal"],
    }


def call(item: dict[str, Any]) -> dict[str, Any]:
    properties = item["properties"]
    return activity(item, "call", time_of(properties, "hs_timestamp"), properties.get("hs_call_status"))


def meeting(item: dict[str, Any]) -> dict[str, Any]:
    properties = item["properties"]
    start = time_of(properties, "hs_meeting_start_time") or time_of(properties, "hs_timestamp")
    return activity(item, "meeting", start, properties.get("hs_meeting_outcome"))


def activity(item: dict[str, Any], kind: str, at: dt.datetime | None, outcome: Any) -> dict[str, Any]:
    """A call or meeting: it took place at ``at`` once its status or outcome is COMPLETED."""
    properties = item["properties"]
    return {
        "type": kind,
        "owner_crm_id": crm_id(properties.get("hubspot_owner_id")),
        "deal_crm_id": item["deal"],
        "created_at": time_of(properties, "hs_createdate") or at,
        "occurred_at": at if outcome == "COMPLETED" else None,
    }


def full_name(first: Any, last: Any) -> str:
    return " ".join(part.strip() for part in (first, last) if isinstance(part, str) and part.strip())


def time_of(properties: dict[str, Any], name: str) -> dt.datetime | None:
    return parse_time(properties.get(name), name)
