"""One small sales business, told without any CRM's vocabulary, so every fake CRM can be seeded with it.

Each fake (HubSpot, Salesforce, Pipedrive) has a ``load(business)`` that writes these facts in its own
API's shapes; :func:`write_csv` writes them as the CSV exports of ``config/csv.yaml``. The same KPI must
then give the same answer whichever way the data came in (tests/test_sources_agree.py).

All times are UTC. Amounts are exact decimals; a ``None`` amount is a deal without a value.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True)
class Person:
    id: str
    first_name: str
    last_name: str
    email: str
    active: bool = True

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class Sale:
    """A deal. ``stage`` is the stage's label; ``status`` follows from the stage in every CRM."""

    id: str
    name: str
    owner: str  # Person.id
    amount: Decimal | None
    stage: str
    status: str  # open, won or lost
    created: dt.datetime
    closed: dt.datetime | None  # when won or lost; the expected close date (midnight) when open
    probability: Decimal  # 0..1


@dataclass(frozen=True)
class Touch:
    """A call or a meeting, done (``at`` is when it happened) or still planned."""

    id: str
    kind: str  # call or meeting
    owner: str
    sale: str | None
    at: dt.datetime
    done: bool


@dataclass(frozen=True)
class Prospect:
    """A lead (a contact, in HubSpot), possibly converted into a deal."""

    id: str
    first_name: str
    last_name: str
    owner: str
    created: dt.datetime
    source: str | None = None
    converted_sale: str | None = None
    converted: dt.datetime | None = None


@dataclass(frozen=True)
class Stage:
    label: str
    status: str  # open, won, lost
    probability: Decimal


@dataclass
class Business:
    stages: list[Stage] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    sales: list[Sale] = field(default_factory=list)
    touches: list[Touch] = field(default_factory=list)
    prospects: list[Prospect] = field(default_factory=list)


STAGES = [
    Stage("Qualification", "open", Decimal("0.2")),
    Stage("Proposal", "open", Decimal("0.5")),
    Stage("Negotiation", "open", Decimal("0.8")),
    Stage("Closed Won", "won", Decimal("1")),
    Stage("Closed Lost", "lost", Decimal("0")),
]


def sample() -> Business:
    """Five reps (one inactive), 40 deals over early 2026, 30 calls and meetings, 12 leads."""
    people = [
        Person("u1", "Zoë", "Ångström", "zoe@example.com"),
        Person("u2", "Björn", "Müller", "bjorn@example.com"),
        Person("u3", "José", "Núñez", "jose@example.com"),
        Person("u4", "Ada", "Lovelace", "ada@example.com"),
        Person("u5", "Grace", "Hopper", "grace@example.com", active=False),
    ]
    amounts = [Decimal("1200.50"), Decimal("999.99"), None, Decimal("25000"), Decimal("0.01")]
    sales = []
    for i in range(40):
        stage = STAGES[i % 5]
        created = dt.datetime(2026, 1, 1 + i % 28, 9, 30)
        if stage.status == "open":
            closed = dt.datetime(2026, 4, 1 + i % 28)
        else:
            closed = dt.datetime(2026, 2 + i % 2, 1 + i % 28, 15, 45)
        amount = amounts[i % 5] if i % 7 == 0 else Decimal(1000 + 250 * i)
        sales.append(
            Sale(
                f"d{i}",
                f"Deal {i}" if i else "Contrat café — Zürich",
                people[i % 5].id,
                amount,
                stage.label,
                stage.status,
                created,
                closed,
                stage.probability,
            )
        )
    touches = [
        Touch(
            f"a{i}",
            "call" if i % 3 else "meeting",
            people[i % 4].id,
            f"d{i}" if i % 2 else None,
            dt.datetime(2026, 2, 1 + i % 28, 8 + i % 9, 15),
            done=i % 6 != 5,
        )
        for i in range(30)
    ]
    prospects = []
    for i in range(12):
        converted = i % 3 == 0
        prospects.append(
            Prospect(
                f"l{i}",
                "Léa" if i % 2 else "Sam",
                f"Prospect{i}",
                people[i % 4].id,
                dt.datetime(2026, 1, 2 + i, 11),
                "Referral" if i % 4 == 0 else "Web",
                f"d{i}" if converted else None,
                dt.datetime(2026, 1, 20 + i, 16) if converted else None,
            )
        )
    return Business(list(STAGES), people, sales, touches, prospects)


def write_csv(business: Business, folder: Path) -> Path:
    """The business as the CSV exports that config/csv.yaml reads (reps, accounts, deals, activities, leads).

    One column is extra: activities.csv's ``completed`` says when a planned activity took place (empty while
    it has not); the shipped mapping reads ``date`` for both times, a test maps ``occurred_at`` to it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    email = {person.id: person.email for person in business.people}

    def when(moment: dt.datetime | None) -> str | None:
        return moment.isoformat(sep=" ") if moment else None

    def write(name: str, rows: list[dict[str, object]], header: list[str] | None = None) -> None:
        with (folder / name).open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, header or list(rows[0]))
            writer.writeheader()
            writer.writerows({key: "" if value is None else value for key, value in row.items()} for row in rows)

    people = business.people
    write(
        "reps.csv",
        [
            {
                "name": p.name,
                "email": p.email,
                "team": "Sales",
                "role": "rep",
                "hired_date": None,
                "left_date": None if p.active else "2026-01-01",
            }
            for p in people
        ],
    )
    write("accounts.csv", [], ["account_id", "name", "owner_email", "industry", "customer_since", "churned_on"])
    write(
        "deals.csv",
        [
            {
                "deal_id": s.id,
                "name": s.name,
                "owner_email": email[s.owner],
                "account_id": None,
                "amount": s.amount,
                "currency": "USD",
                "stage": s.stage,
                "type": "New Business",
                "probability": s.probability,
                "created_date": when(s.created),
                "close_date": when(s.closed),
            }
            for s in business.sales
        ],
    )
    write(
        "activities.csv",
        [
            {
                "activity_id": t.id,
                "type": t.kind.title(),
                "owner_email": email[t.owner],
                "deal_id": t.sale,
                "account_id": None,
                "date": when(t.at),
                "completed": when(t.at) if t.done else None,
            }
            for t in business.touches
        ],
    )
    write(
        "leads.csv",
        [
            {
                "lead_id": p.id,
                "name": f"{p.first_name} {p.last_name}",
                "owner_email": email[p.owner],
                "source": p.source,
                "status": "converted" if p.converted else "open",
                "created_date": when(p.created),
                "mql_date": None,
                "sql_date": None,
                "converted_date": when(p.converted),
                "deal_id": p.converted_sale,
            }
            for p in business.prospects
        ],
    )
    return folder
