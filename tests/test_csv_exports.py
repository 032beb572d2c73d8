"""A real-shaped export: a CRM's deal export as people get it, with the damage files pick up on the way.

Amounts are written with thousands separators, currency symbols and codes, probabilities as percentages;
the file starts with a UTF-8 byte-order mark; and some rows are broken the ways real files break (too few
values, a quote that never closes, a NUL byte, bytes in another encoding). Exactly the broken rows are
rejected, each with its file, line and reason, and every other row imports with the number it says.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from crm.csv_source import csv_connector
from crm.sync import run_sync
from kpi.schema import Deal, Lead, Rep, Team

NOW = dt.datetime(2024, 7, 1, 12, 0)

MAPPING = """\
source: hubspot-export
imports:
  - file: reps.csv
    object: reps
    id: Email
    fields: {name: Name, email: Email, role: {value: rep}}
  - file: deals.csv
    object: deals
    id: Record ID
    fields:
      name: Deal Name
      owner: {column: Deal owner, by: email}
      amount: Amount
      currency: Currency
      stage: Deal Stage
      status: {column: Deal Stage, map: {Closed Won: won, Closed Lost: lost, Negotiation: open}}
      probability: Probability
      created_at: Create Date
      close_date: Close Date
"""
REPS = "Email,Name\nalice@example.com,Alice Adams\nbob@example.com,Bob Brown\n"
HEADER = "Record ID,Deal Name,Deal owner,Amount,Currency,Deal Stage,Probability,Create Date,Close Date\n"
ROWS = [  # line 2 onwards
    'H1,Acme expansion,alice@example.com,"12,500.00",USD,Closed Won,100%,2024-01-10,2024-03-01\n',
    'H2,Globex pilot,bob@example.com,"$1,200",USD,Negotiation,40%,2024-02-01,\n',
    'H3,Initech,alice@example.com,"USD 1,200.50",USD,Closed Won,100 %,2024-02-03,2024-02-20\n',
    "H4,Short row,alice@example.com\n",
    '"H5,Unterminated,alice@example.com,500,USD,Closed Won,100%,2024-01-01,2024-01-02\n',
    'H6,After the quote,bob@example.com," 2,000 ",USD,Closed Lost,0%,2024-03-01,2024-03-05\n',
    "H7,Nul\x00byte,alice@example.com,10,USD,Closed Won,100%,2024-01-01,2024-01-02\n",
    "H8,Caf\udce9,alice@example.com,10,USD,Closed Won,100%,2024-01-01,2024-01-02\n",  # a latin-1 é
    'H9,Refund,alice@example.com,"(300.00)",USD,Closed Won,100%,2024-01-01,2024-01-02\n',
    "H10,Junk amount,alice@example.com,12abc,USD,Closed Won,100%,2024-01-01,2024-01-02\n",
    "H11,Euro deal,bob@example.com,12 500 €,EUR,Closed Won,100%,2024-04-01,2024-04-03\n",
    "H12,Backwards,alice@example.com,100,USD,Closed Won,100%,2024-05-10,2024-05-01\n",
    "H13,Too many,alice@example.com,100,USD,Closed Won,100%,2024-05-10,2024-05-11,extra\n",
]


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    export, config = tmp_path / "export", tmp_path / "config"
    export.mkdir()
    config.mkdir()
    (config / "csv.yaml").write_text(MAPPING)
    (config / "org.yaml").write_text("timezone: UTC\n")
    (export / "reps.csv").write_text(REPS)
    text = "\ufeff" + HEADER + "".join(ROWS)
    (export / "deals.csv").write_bytes(text.encode("utf-8", errors="surrogateescape"))
    return export, config


@pytest.mark.parametrize("in_a_process", [False, True], ids=["in-thread", "reader-process"])
def test_a_real_shaped_export_imports_every_good_row_and_rejects_exactly_the_broken_ones(engine, folders, in_a_process):
    export, config = folders
    connector = csv_connector(export, config, process_from=0 if in_a_process else None)

    report = run_sync(engine, connector, full=True, now=NOW)

    assert sorted((reject.location, reject.reason) for reject in report.rejects) == sorted(
        [
            ("deals.csv line 5", "3 values but the header has 9 columns"),
            ("deals.csv line 6", "a quote in this row does not close where its value ends"),
            ("deals.csv line 8", "a NUL byte in the row (the file is damaged, or not text)"),
            ("deals.csv line 9", "bytes that are not text in the file's encoding (set 'encoding:' in the mapping)"),
            ("deals.csv line 10", "amount: -300.00 is negative"),
            ("deals.csv line 11", "'12abc' is not a number"),
            ("deals.csv line 13", "close_date 2024-05-01 is before created_at 2024-05-10"),
            ("deals.csv line 14", "10 values but the header has 9 columns"),
        ]
    )
    with engine.connect() as connection:
        rows = connection.execute(
            select(Deal.crm_id, Deal.name, Deal.amount, Deal.currency, Deal.status, Deal.probability).order_by(Deal.id)
        ).all()
    assert rows == [
        ("H1", "Acme expansion", Decimal("12500.00"), "USD", "won", Decimal("1.0000")),
        ("H2", "Globex pilot", Decimal("1200.00"), "USD", "open", Decimal("0.4000")),
        ("H3", "Initech", Decimal("1200.50"), "USD", "won", Decimal("1.0000")),
        ("H6", "After the quote", Decimal("2000.00"), "USD", "lost", Decimal("0.0000")),
        ("H11", "Euro deal", Decimal("12500.00"), "EUR", "won", Decimal("1.0000")),
    ]


def test_a_quote_never_closed_before_the_end_rejects_only_its_own_line(engine, folders):
    export, config = folders
    text = HEADER + ROWS[0] + '"H5,Unterminated,alice@example.com,500\n' + ROWS[10]
    (export / "deals.csv").write_text(text)

    report = run_sync(engine, csv_connector(export, config), full=True, now=NOW)

    assert [(reject.location, reject.reason) for reject in report.rejects] == [
        ("deals.csv line 3", "a quote opened in this row never closes")
    ]
    with engine.connect() as connection:
        assert connection.execute(select(Deal.crm_id).order_by(Deal.id)).scalars().all() == ["H1", "H11"]


def test_one_export_feeds_two_objects_through_where_and_a_manager_is_named_by_email(engine, tmp_path):
    export, config = tmp_path / "export", tmp_path / "config"
    export.mkdir()
    config.mkdir()
    (config / "org.yaml").write_text("timezone: UTC\n")
    (config / "csv.yaml").write_text(
        """\
imports:
  - file: users.csv
    object: teams
    id: Team
    distinct: true
    fields: {name: Team, manager: {column: Team manager, by: email}}
  - file: users.csv
    object: reps
    id: Email
    fields: {name: Name, email: Email, team: Team, role: {value: rep}}
  - file: records.csv
    object: deals
    id: Id
    where: {Record type: Opportunity}
    fields:
      name: Name
      owner: {column: Owner, by: email}
      amount: Amount
      status: {column: Status, map: {Won: won, Open: open}}
  - file: records.csv
    object: leads
    id: Id
    where: {Record type: [lead, Prospect]}
    fields: {name: Name, owner: {column: Owner, by: email}, created_at: Created}
"""
    )
    (export / "users.csv").write_text(
        "Email,Name,Team,Team manager\n"
        "mia@example.com,Mia Manager,West,mia@example.com\n"
        "alice@example.com,Alice Adams,West,mia@example.com\n"
    )
    (export / "records.csv").write_text(
        "Id,Record type,Name,Owner,Amount,Status,Created\n"
        '1,Opportunity,Acme,alice@example.com,"1,000",Won,2024-01-02\n'
        "2,Lead,Jane Doe,alice@example.com,,,2024-01-03\n"
        "3,Note,Called back,alice@example.com,,,2024-01-04\n"
        "4,prospect,John Roe,mia@example.com,,,2024-01-05\n"
    )

    report = run_sync(engine, csv_connector(export, config), full=True, now=NOW)

    assert report.rejects == []
    with engine.connect() as connection:
        deals = connection.execute(select(Deal.crm_id, Deal.name, Deal.amount, Deal.status)).all()
        leads = connection.execute(select(Lead.crm_id, Lead.name).order_by(Lead.crm_id)).all()
        manager = connection.execute(
            select(Rep.email).join(Team, Team.manager_id == Rep.id).where(Team.name == "West")
        ).scalar_one()
    assert deals == [("1", "Acme", Decimal("1000.00"), "won")]
    assert leads == [("2", "Jane Doe"), ("4", "John Roe")]  # the note row feeds neither
    assert manager == "mia@example.com"
