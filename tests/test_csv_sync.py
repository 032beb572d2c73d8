"""The CSV connector and the sync runner: small hand-written exports, then the public Maven sample.

Each small test writes CSV files and a config folder in ``tmp_path``, runs a full sync and compares the
canonical rows with values written out by hand. The Maven test recounts the raw files with the ``csv``
module, independently of the mapping.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import textwrap
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import aliased

from crm.csv_source import csv_connector
from crm.sync import SyncReport, run_sync
from kpi.config import ConfigError, load_people
from kpi.schema import Account, Activity, Deal, Lead, Rep, SyncRun, Team
from kpi.schema import Reject as RejectRow
from tests.conftest import emptied
from tests.crm_rows import counts

REPO = Path(__file__).parents[1]
MAVEN_DATA = REPO.parent / "shared/datasets/maven-crm"
MAVEN_CONFIG = REPO / "config/examples/maven-crm"
NOW = dt.datetime(2024, 7, 1, 12, 0)
LATER = dt.datetime(2024, 7, 2, 12, 0)

REPS = """\
email,name,role,team,hired_date,left_date
alice@example.com,Alice Adams,rep,West 1,2023-01-09,
bob@example.com,Bob Brown,Sales Rep,West 1,2023-02-01,2024-06-01
carol@example.com,Carol Chen,manager,East 1,2022-05-02,
"""
ACCOUNTS = """\
account_id,name,owner_email,industry,customer_since,churned_on
A1,Acme,alice@example.com,software,2024-01-15,
A2,Globex,BOB@example.com,retail,,
"""
DEALS = """\
deal_id,name,owner_email,account_id,amount,currency,stage,type,probability,created_date,close_date
D1,Acme renewal,alice@example.com,A1,1200.50,EUR,Closed Won,Renewal,1,2024-01-10,2024-03-01
D2,Globex pilot,bob@example.com,A2,300,EUR,Negotiation,New Business,0.6,2024-02-01 09:30,
D3,Side deal,alice@example.com,,0,EUR,closed lost,,0,2024-02-03,2024-02-20T18:00:00+00:00
"""
LEADS = """\
lead_id,name,owner_email,source,status,created_date,mql_date,sql_date,converted_date,deal_id
L1,Jane Doe,alice@example.com,Referral,converted,2024-01-02,2024-01-03,2024-01-05,2024-01-09,D1
L2,John Roe,bob@example.com,Web,open,2024-02-10,,,,
"""
ACTIVITIES = """\
activity_id,owner_email,type,deal_id,account_id,date
T1,alice@example.com,Call,D1,A1,2024-02-01 10:00
T2,bob@example.com,meeting,D2,,2024-02-05 15:30
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config folder with the shipped generic csv.yaml and an org in Paris time."""
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy(REPO / "config/csv.yaml", folder / "csv.yaml")
    write(folder, "org.yaml", "timezone: Europe/Paris\n")
    return folder


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A small generic export, in the shape config/csv.yaml documents."""
    folder = tmp_path / "export"
    for name, text in [
        ("reps.csv", REPS),
        ("accounts.csv", ACCOUNTS),
        ("deals.csv", DEALS),
        ("leads.csv", LEADS),
        ("activities.csv", ACTIVITIES),
    ]:
        write(folder, name, text)
    return folder


def sync(engine: Engine, export: Path, config: Path, now: dt.datetime = NOW, **options) -> SyncReport:
    return run_sync(engine, csv_connector(export, config, **options), full=True, now=now)


def deal_rows(engine: Engine) -> dict[str, tuple]:
    owner = aliased(Rep)
    query = (
        select(
            Deal.crm_id,
            Deal.crm,
            Deal.name,
            owner.email,
            Account.crm_id,
            Deal.amount,
            Deal.currency,
            Deal.stage,
            Deal.status,
            Deal.type,
            Deal.probability,
            Deal.created_at,
            Deal.close_date,
            Deal.deleted_at,
        )
        .outerjoin(owner, owner.id == Deal.owner_id)
        .outerjoin(Account, Account.id == Deal.account_id)
        .order_by(Deal.crm_id)
    )
    with engine.connect() as connection:
        return {row[0]: tuple(row[1:]) for row in connection.execute(query)}


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts)


# -- the generic mapping, on a small export ----------------------------------------------------------------


def test_generic_export_imports_exact_canonical_rows(engine, export, config):
    report = sync(engine, export, config)

    assert report.status == "ok" and report.rejects == []
    assert {name: counts.created for name, counts in report.counts.items()} == {
        "teams": 2,
        "reps": 3,
        "accounts": 2,
        "deals": 3,
        "leads": 2,
        "activities": 2,
    }
    # Dates are local midnight in Europe/Paris (UTC+1 in winter), stored as naive UTC.
    assert deal_rows(engine) == {
        "D1": (
            "csv", "Acme renewal", "alice@example.com", "A1", Decimal("1200.50"), "EUR", "Closed Won", "won",
            "renewal", Decimal("1.0000"), utc(2024, 1, 9, 23), utc(2024, 2, 29, 23), None,
        ),
        "D2": (
            "csv", "Globex pilot", "bob@example.com", "A2", Decimal("300.00"), "EUR", "Negotiation", "open",
            "new", Decimal("0.6000"), utc(2024, 2, 1, 8, 30), None, None,
        ),
        "D3": (
            "csv", "Side deal", "alice@example.com", None, Decimal("0.00"), "EUR", "closed lost", "lost",
            "new", Decimal("0.0000"), utc(2024, 2, 2, 23), utc(2024, 2, 20, 18), None,
        ),
    }  # fmt: skip
    with engine.connect() as connection:
        team = aliased(Team)
        reps = connection.execute(
            select(Rep.crm_id, Rep.name, Rep.email, Rep.role, team.name, Rep.hired_at, Rep.left_at, Rep.active)
            .outerjoin(team, team.id == Rep.team_id)
            .order_by(Rep.crm_id)
        ).all()
        teams = connection.execute(select(Team.crm, Team.crm_id, Team.name).order_by(Team.name)).all()
        accounts = connection.execute(
            select(Account.crm_id, Account.name, Rep.email, Account.segment, Account.became_customer_at)
            .outerjoin(Rep, Rep.id == Account.owner_id)
            .order_by(Account.crm_id)
        ).all()
        leads = connection.execute(
            select(Lead.crm_id, Lead.lead_source, Lead.status, Lead.created_at, Lead.converted_at, Deal.crm_id)
            .outerjoin(Deal, Deal.id == Lead.converted_deal_id)
            .order_by(Lead.crm_id)
        ).all()
        activities = connection.execute(
            select(Activity.crm_id, Activity.type, Deal.crm_id, Account.crm_id, Activity.occurred_at)
            .outerjoin(Deal, Deal.id == Activity.deal_id)
            .outerjoin(Account, Account.id == Activity.account_id)
            .order_by(Activity.crm_id)
        ).all()
    day = dt.date
    assert reps == [
        ("alice@example.com", "Alice Adams", "alice@example.com", "rep", "West 1", day(2023, 1, 9), None, True),
        ("bob@example.com", "Bob Brown", "bob@example.com", "rep", "West 1", day(2023, 2, 1), day(2024, 6, 1), True),
        ("carol@example.com", "Carol Chen", "carol@example.com", "manager", "East 1", day(2022, 5, 2), None, True),
    ]
    assert teams == [("csv", "East 1", "East 1"), ("csv", "West 1", "West 1")]
    assert accounts == [
        ("A1", "Acme", "alice@example.com", "software", utc(2024, 1, 14, 23)),
        ("A2", "Globex", "bob@example.com", "retail", None),  # the owner's email matched whatever its case
    ]
    assert leads == [
        ("L1", "referral", "converted", utc(2024, 1, 1, 23), utc(2024, 1, 8, 23), "D1"),
        ("L2", "Web", "open", utc(2024, 2, 9, 23), None, None),
    ]
    assert activities == [
        ("T1", "call", "D1", "A1", utc(2024, 2, 1, 9)),
        ("T2", "meeting", "D2", None, utc(2024, 2, 5, 14, 30)),
    ]


def test_bad_rows_are_rejected_with_file_line_and_reason_and_the_rest_imports(engine, export, config):
    write(
        export,
        "deals.csv",
        """\
        deal_id,name,owner_email,account_id,amount,currency,stage,type,probability,created_date,close_date
        D1,Good,alice@example.com,A1,10,EUR,Closed Won,,1,2024-01-10,2024-03-01
        X1,Bad date,alice@example.com,A1,10,EUR,Closed Won,,1,2024-01-10,2024-13-01
        X2,Bad stage,alice@example.com,A1,10,EUR,Won?,,1,2024-01-10,2024-03-01

        X3,Negative,alice@example.com,A1,-5,EUR,Closed Won,,1,2024-01-10,2024-03-01
        ,No id,alice@example.com,A1,10,EUR,Closed Won,,1,2024-01-10,2024-03-01
        D1,Twice,alice@example.com,A1,10,EUR,Closed Won,,1,2024-01-10,2024-03-01
        X4,Stranger,nobody@example.com,A1,10,EUR,Closed Won,,1,2024-01-10,2024-03-01
        X5,No such account,alice@example.com,A9,10,EUR,Closed Won,,1,2024-01-10,2024-03-01
        X6,Too sure,alice@example.com,A1,10,EUR,Negotiation,,1.5,2024-01-10,
        D2,Good too,bob@example.com,,20,EUR,Negotiation,,,2024-01-11,
        X7,Too long,alice@example.com,A1,10,EUR,Closed Won,,1,2024-01-10,2024-03-01,extra
        """,
    )
    report = sync(engine, export, config)

    rejects = [(reject.location, reject.reason) for reject in report.rejects]
    assert rejects == [
        ("deals.csv line 3", "'2024-13-01' is not a date or date and time (expected YYYY-MM-DD or YYYY-MM-DD HH:MM)"),
        (
            "deals.csv line 4",
            "unknown stage 'Won?' (the mapping knows Prospecting, Qualification, Proposal, Negotiation, "
            "Closed Won, Closed Lost)",
        ),
        ("deals.csv line 7", "missing id: deal_id is empty"),
        ("deals.csv line 8", "duplicate id 'D1', already read on deals.csv line 2"),
        ("deals.csv line 9", "unknown owner_email 'nobody@example.com': no reps record has this email"),
        ("deals.csv line 13", "12 values but the header has 11 columns"),
        ("deals.csv line 6", "amount: -5 is negative"),
        ("deals.csv line 11", "probability: 1.5 is too large (at most 1)"),
        ("deals.csv line 10", "unknown account 'A9': no accounts record with that id"),
    ]
    assert sorted(deal_rows(engine)) == ["D1", "D2"]
    assert report.counts["deals"].created == 2 and report.counts["deals"].rejected == 9
    with engine.connect() as connection:
        query = select(RejectRow.object, RejectRow.location, RejectRow.record).order_by(RejectRow.id)
        stored = connection.execute(query).all()
        run = connection.execute(select(SyncRun.status, SyncRun.created, SyncRun.rejected)).one()
    assert len(stored) == 9 and {row.object for row in stored} == {"deals"}
    assert dict(stored[0].record)["close_date"] == "2024-13-01"  # the raw row, for the admin to fix
    assert run == ("ok", 2 + 3 + 2 + 2 + 2 + 2, 9)


def test_running_the_same_import_again_changes_nothing(engine, export, config):
    sync(engine, export, config)
    before = deal_rows(engine)

    report = sync(engine, export, config, now=LATER)

    assert report.total.created == report.total.updated == report.total.deleted == 0
    assert report.total.unchanged == 14
    assert deal_rows(engine) == before


def test_a_removed_row_is_marked_deleted_and_a_returning_row_restored(engine, export, config):
    sync(engine, export, config)
    original = (export / "deals.csv").read_text()
    write(export, "deals.csv", "\n".join(line for line in original.splitlines() if not line.startswith("D2")))

    removed = sync(engine, export, config, now=LATER)

    assert removed.counts["deals"].deleted == 1 and removed.counts["deals"].unchanged == 2
    assert deal_rows(engine)["D2"][-1] == LATER
    assert deal_rows(engine)["D1"][-1] is None

    write(export, "deals.csv", original)
    restored = sync(engine, export, config, now=LATER)

    assert restored.counts["deals"].updated == 1 and restored.counts["deals"].deleted == 0
    assert deal_rows(engine)["D2"][-1] is None


def test_a_changed_row_is_updated_in_place(engine, export, config):
    sync(engine, export, config)
    write(export, "deals.csv", DEALS.replace("300,EUR,Negotiation", "450.75,EUR,Closed Won"))

    report = sync(engine, export, config, now=LATER)

    assert (report.counts["deals"].updated, report.counts["deals"].unchanged) == (1, 2)
    row = deal_rows(engine)["D2"]
    assert (row[4], row[6], row[7]) == (Decimal("450.75"), "Closed Won", "won")
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Deal)).scalar() == 3


def test_small_pages_give_the_same_result(engine, export, config):
    """Pages of two records exercise references across pages and the read-ahead thread."""
    report = sync(engine, export, config, page_size=2)

    assert report.total.created == 14 and report.rejects == []
    assert deal_rows(engine)["D1"][3] == "A1"


def test_a_large_export_read_in_a_process_of_its_own_gives_the_same_rows_and_rejects(engine, export, config):
    (export / "deals.csv").write_text(DEALS + "D9,Broken,alice@example.com,A1,abc,EUR,Closed Won,,,2024-06-01,\n")
    in_thread = sync(engine, export, config, page_size=2)
    rows_in_thread = deal_rows(engine)
    emptied(engine)

    connector = csv_connector(export, config, page_size=2, process_from=0)  # "large" from 0 bytes
    in_process = run_sync(engine, connector, full=True, now=NOW)

    assert connector.reopen is not None
    assert deal_rows(engine) == rows_in_thread
    assert counts(in_process) == counts(in_thread)
    assert [(r.location, r.reason) for r in in_process.rejects] == [(r.location, r.reason) for r in in_thread.rejects]
    assert [r.location for r in in_process.rejects] == ["deals.csv line 5"]


def test_a_failure_in_the_reader_process_stops_the_sync_with_its_message(engine, export, config):
    connector = csv_connector(export, config, process_from=0)
    # The export changes under the sync: its header is no longer text in the mapping's encoding.
    (export / "deals.csv").write_bytes(DEALS.replace("deal_id", "déal_id").encode("latin-1"))

    with pytest.raises(ConfigError, match=r"deals.csv: this is not utf-8-sig text"):
        run_sync(engine, connector, full=True, now=NOW)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Deal)).scalar() == 0


# -- broken mappings -----------------------------------------------------------------------------------------

MAPPING = """\
imports:
  - file: deals.csv
    object: deals
    id: deal_id
    fields:
      name: name
      amount: amount
      status: {column: stage, map: {Closed Won: won}, unmapped: keep}
"""


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        (MAPPING.replace("object: deals", "object: deal"), "key 'imports.0.object' has value 'deal': expected one of"),
        (MAPPING.replace("name: name", "revenue: name"), "key 'imports.0.fields.revenue': deals have no field"),
        (MAPPING.replace("won}", "Won}"), "key 'imports.0.fields.status': 'Won' is not one of open, won, lost"),
        (MAPPING.replace("amount: amount", "amount: {column: a, value: 1}"), "give exactly one of column"),
        (MAPPING.replace("unmapped: keep", "unmapped: maybe"), "key 'imports.0.fields.status.unmapped'"),
        (MAPPING.replace("      name: name\n", "      nme: name\n"), "no field 'nme'. Did you mean 'name'?"),
        ("delimter: ';'\n" + MAPPING, "line 1: unknown key 'delimter': did you mean 'delimiter'?"),
        (
            MAPPING.replace("amount: amount", "amount: amt"),
            "'imports.0.fields.amount.column' has value 'amt': deals.csv",
        ),
        (
            MAPPING.replace("file: deals.csv", "file: nope.csv"),
            "key 'imports.0.file' has value 'nope.csv': no such file",
        ),
        (MAPPING.replace("fields:", "fields: [oops"), "this is not valid YAML"),
        ("imports: []\n", "key 'imports' has value []"),
        (
            MAPPING.replace("    id: deal_id", "    id: deal_id\n    where: {kind: Deal}"),
            "key 'imports.0.where.kind' has value 'kind': deals.csv has no such column",
        ),
        ("encoding: latin-9000\n" + MAPPING, "key 'encoding' has value 'latin-9000': expected a Python encoding"),
        (
            MAPPING.replace("amount: amount", "amount: {column: amount, decimal: ';'}"),
            "'imports.0.fields.amount.decimal'",
        ),
        (MAPPING.replace("name: name", "name: {column: name, decimal: ','}"), "only numbers have a decimal mark"),
        (
            "imports:\n  - {file: reps.csv, object: reps, id: email, fields: {email: email}}\n",
            "key 'imports.0.fields': reps need name; add them",
        ),
    ],
)
def test_a_broken_mapping_names_the_file_the_key_and_the_fix(tmp_path, export, mapping, expected):
    path = write(tmp_path / "config", "csv.yaml", mapping)

    with pytest.raises(ConfigError) as error:
        csv_connector(export, path.parent)

    assert str(path) in str(error.value)
    assert expected in str(error.value)


def test_a_missing_mapping_says_where_to_start(tmp_path, export):
    with pytest.raises(ConfigError, match=r"csv.yaml: not found. Copy config/csv.yaml"):
        csv_connector(export, tmp_path)


def test_a_distinct_import_makes_one_record_per_id_and_rejects_contradictions(engine, tmp_path):
    config = write(
        tmp_path / "config",
        "csv.yaml",
        """\
        imports:
          - {file: people.csv, object: teams, id: region, distinct: true, fields: {name: region}}
          - {file: people.csv, object: teams, id: team, distinct: true, fields: {name: team, parent: region}}
          - {file: people.csv, object: reps, id: name, fields: {name: name, team: team}}
        """,
    ).parent
    export = tmp_path / "export"
    write(export, "people.csv", "name,team,region\nAnn,West 1,West\nBob,West 1,West\nCy,West 1,East\n")

    report = sync(engine, export, config)

    assert [(r.location, r.reason) for r in report.rejects] == [
        ("people.csv line 4", "'West 1' was read on people.csv line 2 with parent 'West', not 'East'")
    ]
    assert {name: (c.created, c.rejected) for name, c in report.counts.items()} == {
        "teams": (3, 1),
        "reps": (3, 0),
    }


def test_a_header_in_another_encoding_says_how_to_fix_it(engine, export, config):
    (export / "deals.csv").write_bytes(DEALS.replace("deal_id", "déal_id").encode("latin-1"))

    with pytest.raises(ConfigError, match=r"deals.csv: this is not utf-8-sig text\. Set 'encoding:' in"):
        sync(engine, export, config)


def test_a_file_in_the_encoding_the_mapping_declares_imports_its_accents(engine, export, config):
    (export / "deals.csv").write_bytes(DEALS.replace("Side deal", "Société").encode("cp1252"))
    mapping = config / "csv.yaml"
    mapping.write_text(mapping.read_text().replace("encoding: utf-8-sig", "encoding: cp1252"))

    report = sync(engine, export, config)

    assert report.rejects == [] and deal_rows(engine)["D3"][1] == "Société"


# -- the Maven sample ----------------------------------------------------------------------------------------


def read_maven(name: str) -> list[dict[str, str]]:
    with (MAVEN_DATA / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.skipif(not MAVEN_DATA.is_dir(), reason=f"the Maven sample is not at {MAVEN_DATA}")
def test_the_maven_sample_imports_through_its_mapping(engine):
    pipeline, teams_csv = read_maven("sales_pipeline.csv"), read_maven("sales_teams.csv")
    prices = {row["product"]: Decimal(row["sales_price"]) for row in read_maven("products.csv")}

    report = run_sync(
        engine, csv_connector(MAVEN_DATA, MAVEN_CONFIG), full=True, now=NOW, people=load_people(MAVEN_CONFIG)
    )

    assert report.status == "ok" and report.rejects == []
    with engine.connect() as connection:
        by_stage = Counter(
            {(stage, status): count for stage, status, count in connection.execute(
                select(Deal.stage, Deal.status, func.count()).group_by(Deal.stage, Deal.status)
            )}
        )  # fmt: skip
        expected_status = {"Won": "won", "Lost": "lost", "Engaging": "open", "Prospecting": "open"}
        assert by_stage == Counter((row["deal_stage"], expected_status[row["deal_stage"]]) for row in pipeline)
        assert by_stage == {
            ("Won", "won"): 4238,
            ("Lost", "lost"): 2473,
            ("Engaging", "open"): 1589,
            ("Prospecting", "open"): 500,
        }

        products = Counter(dict(connection.execute(select(Deal.product, func.count()).group_by(Deal.product)).all()))
        raw_products = Counter(row["product"] for row in pipeline)
        assert "GTXPro" not in products and products["GTX Pro"] == raw_products["GTXPro"] == 1480
        assert set(products) == set(prices)

        no_account = connection.execute(select(func.count()).where(Deal.account_id.is_(None))).scalar()
        assert no_account == sum(1 for row in pipeline if not row["account"]) == 1425

        won = connection.execute(select(func.sum(Deal.amount)).where(Deal.status == "won")).scalar()
        assert won == sum(Decimal(row["close_value"]) for row in pipeline if row["deal_stage"] == "Won")
        prospect = select(Deal.product, Deal.amount, Deal.created_at).where(Deal.crm_id == "WTD6O2OR")
        assert connection.execute(prospect).one() == ("MG Advanced", prices["MG Advanced"], None)  # list price

        roles = Counter(dict(connection.execute(select(Rep.role, func.count()).group_by(Rep.role)).all()))
        assert roles == {"rep": 35, "manager": 6, "admin": 1}
        admin = connection.execute(select(Rep.name, Rep.email, Rep.crm).where(Rep.role == "admin")).one()
        assert admin == ("Sales Ops", "ops@example.com", "config")

        parent, manager, member = aliased(Team), aliased(Rep), aliased(Rep)
        regions = connection.execute(select(Team.name).where(Team.parent_id.is_(None)).order_by(Team.name)).scalars()
        assert list(regions) == ["Central", "East", "West"]
        members = connection.execute(
            select(Team.name, parent.name, manager.name, member.name, member.role)
            .join(parent, parent.id == Team.parent_id)
            .join(manager, manager.id == Team.manager_id)
            .join(member, member.team_id == Team.id)
        ).all()
    expected_teams = {(f"{row['manager']}'s team", row["regional_office"], row["manager"]) for row in teams_csv}
    assert {row[:3] for row in members} == expected_teams and len(expected_teams) == 6
    assert sorted((row[0], row[3]) for row in members if row[4] == "rep") == sorted(
        (f"{row['manager']}'s team", row["sales_agent"]) for row in teams_csv
    )
    assert {(row[0], row[3]) for row in members if row[4] == "manager"} == {(t[0], t[2]) for t in expected_teams}

    again = run_sync(
        engine, csv_connector(MAVEN_DATA, MAVEN_CONFIG), full=True, now=LATER, people=load_people(MAVEN_CONFIG)
    )
    assert again.total.created == again.total.updated == again.total.deleted == 0
