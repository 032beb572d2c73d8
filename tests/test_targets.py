"""Targets: validation, storage, config/targets.yaml, CSV import and `kpibot targets` (kpi/targets.py).

The world: team West (managed by Morgan Manager, who belongs to it) with Alice Adams and Bob Brown, its
sub-team West Enterprise with Wendy Wu, team East (managed by Evan East) with Erin Evans, and Ada Admin.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from bot.commands_targets import targets_app
from kpi.access import AccessDenied, check_may_set_target
from kpi.config import ConfigError
from kpi.schema import Rep, Target
from kpi.service import Kpibot
from kpi.targets.files import CsvError, import_csv, load_yaml
from kpi.targets.parsing import TargetErrors, parse_target_period, parse_value, resolve_who, validate
from kpi.targets.storage import save
from kpi.types import ORG, Who

ROOT = Path(__file__).parents[1]
D = dt.date
NOW = dt.datetime(2026, 11, 20, 9, 30)


@pytest.fixture
def bot(engine, world, us_config) -> Kpibot:
    world.two_teams()
    world.commit()
    return Kpibot(engine, us_config)


def rows(bot: Kpibot) -> list:
    with bot.engine.connect() as connection:
        return connection.execute(select(Target).order_by(Target.id)).all()


def error_of(call, *args, **kwargs) -> dict[str, str]:
    with pytest.raises(TargetErrors) as caught:
        call(*args, **kwargs)
    return caught.value.errors


# --- values -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kpi", "text", "value"),
    [
        ("revenue", "120000", 120000),
        ("revenue", "120k", 120000),
        ("revenue", "$120,000.50", Decimal("120000.50")),
        ("revenue", "1.5m", 1500000),
        ("revenue", 95000, 95000),
        ("win-rate", "30%", Decimal("0.3")),
        ("win-rate", "0.3", Decimal("0.3")),
        ("win-rate", 0.3, Decimal("0.3")),
        ("win-rate", "12.5 %", Decimal("0.125")),
        ("sales-cycle", "30", 30),
        ("sales-cycle", "30 days", 30),
        ("pipeline-coverage", "3x", 3),
        ("calls", "250", 250),
    ],
)
def test_values_people_type(bot, kpi, text, value):
    assert parse_value(bot.catalog[kpi], text) == value


@pytest.mark.parametrize(
    ("kpi", "text", "message"),
    [
        ("revenue", "lots", "'lots' is not a number. Enter 120000, 120k or $120,000."),
        ("revenue", "0", "A target must be more than 0, not '0'."),
        ("revenue", "-5", "A target must be more than 0, not '-5'."),
        ("revenue", "30%", "Revenue is not a percentage. Enter 120000, 120k or $120,000."),
        ("win-rate", "30", "Win rate is a percentage: write 30% (or the fraction 0.3), not '30'."),
        ("win-rate", "", "Enter a target value for win rate: 30% (or 0.3)."),
        ("revenue", "1e20", "'1e20' is not a number. Enter 120000, 120k or $120,000."),
        ("revenue", "99999999999999", "'99999999999999' is too large for a target."),
    ],
)
def test_bad_values_are_explained(bot, kpi, text, message):
    assert error_of(parse_value, bot.catalog[kpi], text) == {"value": message}


# --- periods ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-Q4", D(2026, 10, 1), D(2027, 1, 1)),
        ("Q4 2026", D(2026, 10, 1), D(2027, 1, 1)),
        ("November 2026", D(2026, 11, 1), D(2026, 12, 1)),
        ("2026-11", D(2026, 11, 1), D(2026, 12, 1)),
        ("FY2026", D(2026, 1, 1), D(2027, 1, 1)),
        (2026, D(2026, 1, 1), D(2027, 1, 1)),
        ("H2 2026", D(2026, 7, 1), D(2027, 1, 1)),
        ("2026-10-01 to 2026-12-31", D(2026, 10, 1), D(2027, 1, 1)),
        ({"start": "2026-10-05", "end": "2026-10-09"}, D(2026, 10, 5), D(2026, 10, 10)),
        ({"start": D(2026, 10, 5), "end": D(2026, 10, 5)}, D(2026, 10, 5), D(2026, 10, 6)),
    ],
)
def test_target_periods_have_an_exclusive_end(bot, text, start, end):
    assert parse_target_period(bot.calendar, text) == (start, end)


def test_a_fiscal_year_follows_org_yaml(engine, us_config):
    (us_config / "org.yaml").write_text("fiscal_year_start_month: 4\n")
    calendar = Kpibot(engine, us_config).calendar

    assert parse_target_period(calendar, "FY2026") == (D(2025, 4, 1), D(2026, 4, 1))
    assert parse_target_period(calendar, "2026-Q1") == (D(2025, 4, 1), D(2025, 7, 1))


@pytest.mark.parametrize("text", ["this quarter", "next month", "november", "Q4", "last 30 days", "ytd"])
def test_a_period_that_depends_on_today_is_refused(bot, text):
    message = error_of(parse_target_period, bot.calendar, text)["period"]

    assert re.search(r"depends on today|don't understand", message), message
    assert "e.g. 2026-Q4, November 2026, FY2026 or 2026-10-01 to 2026-12-31" in message


def test_a_range_that_ends_before_it_starts_is_refused(bot):
    errors = error_of(parse_target_period, bot.calendar, {"start": "2026-10-05", "end": "2026-10-01"})

    assert errors == {"period": "The period 2026-10-05 to 2026-10-01 ends before it starts."}


# --- who, and who may set it ---------------------------------------------------------------------------------


def test_who_is_a_person_a_team_or_the_organisation(bot):
    directory = bot.directory

    assert resolve_who(directory, "org") == ORG
    assert resolve_who(directory, "Company") == ORG
    assert resolve_who(directory, "West Enterprise").name == "West Enterprise"
    assert resolve_who(directory, "team east").type == "team"
    assert resolve_who(directory, "alice@example.com") == resolve_who(directory, "Alice Adams")
    assert resolve_who(directory, "wendy").name == "Wendy Wu"
    assert error_of(resolve_who, directory, "Alicia Adam")["who"].startswith(
        "I can't find anyone called 'Alicia Adam'. Did you mean Alice Adams?"
    )


@pytest.mark.parametrize(
    ("setter", "who", "refusal"),
    [
        ("Ada Admin", "org", None),
        ("Ada Admin", "Erin Evans", None),
        ("Morgan Manager", "Alice Adams", None),
        ("Morgan Manager", "Wendy Wu", None),  # in a sub-team of West
        ("Morgan Manager", "West Enterprise", None),
        ("Morgan Manager", "Erin Evans", "Erin Evans is not in a team you manage."),
        ("Morgan Manager", "East", "East is not a team you manage."),
        ("Morgan Manager", "org", "Organisation targets are set by admins."),
        ("Morgan Manager", "Morgan Manager", "Your own targets are set by your manager or an admin."),
        (
            "Alice Adams",
            "Bob Brown",
            "Targets are set by managers, for the people and teams they manage, and by admins.",
        ),
    ],
)
def test_admins_set_any_target_and_managers_those_of_their_people_and_teams(bot, setter, who, refusal):
    directory = bot.directory
    target = resolve_who(directory, who)

    if refusal is None:
        check_may_set_target(directory, directory.find_person(setter), target)
    else:
        with pytest.raises(AccessDenied, match=re.escape(refusal)):
            check_may_set_target(directory, directory.find_person(setter), target)


def test_validate_reports_every_problem_at_once(bot):
    errors = error_of(validate, bot, "Nobody Known", "revnue", "this month", "-1")

    assert set(errors) == {"who", "kpi", "period"}  # no KPI: the value cannot be checked yet
    assert errors["kpi"] == "I don't know the KPI 'revnue'. Did you mean revenue? `kpibot ask list` shows every KPI."


# --- storage ------------------------------------------------------------------------------------------------


def test_setting_a_target_again_updates_it_and_the_same_value_changes_nothing(bot):
    first = validate(bot, "alice@example.com", "revenue", "2026-Q4", "120k")
    again = validate(bot, "Alice Adams", "Revenue", "Q4 2026", "120000")
    changed = validate(bot, "Alice", "revenue", "2026-10-01 to 2026-12-31", "130000")

    assert save(bot.engine, [first], "manager@example.com", now=NOW).created == 1
    assert save(bot.engine, [again], "someone@example.com", now=NOW + dt.timedelta(days=1)).unchanged == 1
    assert save(bot.engine, [changed], "admin@example.com", now=NOW + dt.timedelta(days=2)).updated == 1

    (row,) = rows(bot)
    alice = bot.person("alice@example.com")
    assert (row.kpi, row.scope_type, row.scope_id, row.period_start, row.period_end) == (
        "revenue",
        "rep",
        alice.id,
        D(2026, 10, 1),
        D(2027, 1, 1),
    )
    assert (row.value, row.set_by, row.set_at) == (130000, "admin@example.com", NOW + dt.timedelta(days=2))


def test_an_organisation_target_is_updated_in_place_although_its_scope_id_is_null(bot):
    save(bot.engine, [validate(bot, "org", "win-rate", "FY2026", "30%")], "admin@example.com")
    save(bot.engine, [validate(bot, "org", "win-rate", "FY2026", "35%")], "admin@example.com")

    (row,) = rows(bot)
    assert (row.scope_type, row.scope_id, row.value) == ("org", None, Decimal("0.35"))


# --- config/targets.yaml ------------------------------------------------------------------------------------

TARGETS_YAML = """\
targets:
  - who: alice@example.com
    kpi: revenue
    period: 2026-Q4
    value: 120000
  - who: West
    kpi: win rate
    period: {start: 2026-10-01, end: 2026-12-31}
    value: 30%
  - who: org
    kpi: sales-cycle
    period: FY2026
    value: 45
"""


def test_targets_yaml_is_applied_idempotently(bot, us_config):
    path = us_config / "targets.yaml"
    path.write_text(TARGETS_YAML)

    first = load_yaml(bot, path, now=NOW)
    second = load_yaml(bot, path, now=NOW + dt.timedelta(hours=1))
    path.write_text(TARGETS_YAML.replace("value: 45", "value: 40"))
    third = load_yaml(bot, path, now=NOW + dt.timedelta(hours=2))

    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)
    assert (third.created, third.updated, third.unchanged) == (0, 1, 2)
    stored = {(r.kpi, r.scope_type): (r.value, r.period_start, r.period_end, r.set_at) for r in rows(bot)}
    assert stored == {
        ("revenue", "rep"): (120000, D(2026, 10, 1), D(2027, 1, 1), NOW),
        ("win-rate", "team"): (Decimal("0.3"), D(2026, 10, 1), D(2027, 1, 1), NOW),
        ("sales-cycle", "org"): (40, D(2026, 1, 1), D(2027, 1, 1), NOW + dt.timedelta(hours=2)),
    }
    assert first.lines() == [f"{path}: 3 created, 0 updated, 0 unchanged."]


def test_a_targets_yaml_with_mistakes_changes_nothing_and_names_each_entry(bot, us_config):
    path = us_config / "targets.yaml"
    path.write_text(
        TARGETS_YAML
        + "  - {who: Zed Unknown, kpi: revenue, period: 2026-Q4, value: 1}\n"
        + "  - {who: org, kpi: revenue, period: this quarter, value: 1}\n"
        + "  - {who: Alice Adams, kpi: revenue, period: Q4 2026, value: 5}\n"
    )

    with pytest.raises(ConfigError) as error:
        load_yaml(bot, path)

    assert str(error.value).splitlines() == [
        f"{path}: targets[3] (Zed Unknown, revenue): I can't find anyone called 'Zed Unknown'. "
        "A target is for a person (email or name), a team, or org.",
        f"{path}: targets[4] (org, revenue): 'this quarter' depends on today; name the period itself, e.g. "
        "2026-Q4, November 2026, FY2026 or 2026-10-01 to 2026-12-31.",
        f"{path}: targets[5] (Alice Adams, revenue): the same target as targets[0]; keep one of them.",
    ]
    assert rows(bot) == []


def test_an_unknown_key_in_targets_yaml_is_named(bot, us_config):
    path = us_config / "targets.yaml"
    path.write_text("targets:\n  - {who: org, kpi: revenue, period: FY2026, value: 1, owner: me}\n")

    with pytest.raises(
        ConfigError,
        match=re.escape(f"{path}, line 2: unknown key 'targets.0.owner': valid keys here: who, kpi, period, value."),
    ):
        load_yaml(bot, path)


def test_the_shipped_targets_yaml_loads_and_its_example_is_valid(engine, world, us_config):
    world.rep("Alice Adams", team=world.team("West 1"), email="alice@example.com")
    world.commit()
    bot = Kpibot(engine, us_config)
    shipped = (ROOT / "config" / "targets.yaml").read_text()
    example = us_config / "example.yaml"
    lines = shipped[shipped.index("# targets:") :].splitlines()
    example.write_text("\n".join(line.removeprefix("# ") for line in lines if line.startswith("# ")) + "\n")

    assert load_yaml(bot, ROOT / "config" / "targets.yaml").lines()[0].endswith("0 created, 0 updated, 0 unchanged.")
    assert load_yaml(bot, example).created == 4


# --- CSV import ---------------------------------------------------------------------------------------------


def test_a_csv_import_reports_bad_rows_by_line_and_imports_the_rest(bot, tmp_path):
    path = tmp_path / "q4.csv"
    path.write_text(
        "\ufeffwho,kpi,period,value\n"  # a BOM, as spreadsheets write it
        'alice@example.com,revenue,2026-Q4,"120,000"\n'
        "Bob Brown,win-rate,2026-Q4,30\n"
        "\n"
        "West,deals won,November 2026,40\n"
        "Nobody,revenue,2026-Q4,1\n"
        "org,revenue,FY2026,2.4m\n",
        encoding="utf-8",
    )

    report = import_csv(bot, path, now=NOW)

    assert report.lines() == [
        "q4.csv: 3 created, 0 updated, 0 unchanged, 2 rejected.",
        "q4.csv, line 3: Win rate is a percentage: write 30% (or the fraction 0.3), not '30'.",
        "q4.csv, line 6: I can't find anyone called 'Nobody'. A target is for a person (email or name), a team, "
        "or org.",
    ]
    assert sorted((r.kpi, r.scope_type, r.value, r.set_by) for r in rows(bot)) == [
        ("deals-won", "team", 40, "import q4.csv"),
        ("revenue", "org", 2400000, "import q4.csv"),
        ("revenue", "rep", 120000, "import q4.csv"),
    ]


def test_a_csv_with_start_and_end_columns(bot, tmp_path):
    path = tmp_path / "weeks.csv"
    path.write_text("Who,KPI,Start,End,Value\nalice@example.com,calls,2026-11-23,2026-11-29,50\n")

    report = import_csv(bot, path, set_by="ops@example.com")

    assert report.created == 1
    (row,) = rows(bot)
    assert (row.period_start, row.period_end, row.set_by) == (D(2026, 11, 23), D(2026, 11, 30), "ops@example.com")


def test_a_csv_without_the_needed_columns_is_refused_whole(bot, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("person,kpi,amount\nalice,revenue,1\n")

    with pytest.raises(CsvError, match=r"missing column\(s\) value, who, period \(or start and end\)"):
        import_csv(bot, path)


# --- the command line ---------------------------------------------------------------------------------------


@pytest.fixture
def cli(engine, bot, us_config, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("KPIBOT_CONFIG_DIR", str(us_config))
    runner = CliRunner()
    return lambda *args: runner.invoke(targets_app, list(args))


def test_kpibot_targets_load_import_and_list_with_progress(cli, bot, world, us_config, tmp_path):
    alice = bot.person("alice@example.com")
    world.deal(world.session.get(Rep, alice.id), 8500, "won", closed="2026-11-10")
    world.commit()
    (us_config / "targets.yaml").write_text(
        "targets:\n  - {who: alice@example.com, kpi: revenue, period: November 2026, value: 19000}\n"
    )
    csv_path = tmp_path / "more.csv"
    csv_path.write_text("who,kpi,period,value\nWest,win-rate,2026-Q4,30%\nghost,revenue,2026-Q4,5\n")

    loaded = cli("load")
    imported = cli("import", str(csv_path))
    listed = cli("list", "--as-of", "2026-11-25")
    as_json = cli("list", "--as-of", "2026-11-25", "--who", "Alice Adams", "--json")

    assert loaded.exit_code == 0, loaded.output
    assert f"{us_config}/targets.yaml: 1 created, 0 updated, 0 unchanged." in loaded.output
    assert imported.exit_code == 1
    assert "more.csv: 1 created, 0 updated, 0 unchanged, 1 rejected." in imported.output
    assert "more.csv, line 3: I can't find anyone called 'ghost'." in imported.output
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == [
        "Targets as of 2026-11-25:",
        "West · Win rate · 2026-Q4: 100.0% of 30.0% (333%), ahead",  # Alice's one deal, won
        # 19,000 x 17 / 19 working days expected by the 25th; 8,500 / 17,000 = 0.5
        "Alice Adams · Revenue · November 2026: $8,500.00 of $19,000.00 (45%), $17,000.00 expected by now, at risk",
    ]
    assert '"status": "at risk"' in as_json.output and '"expected": 17000.0' in as_json.output


def test_kpibot_targets_load_with_a_mistake_exits_2_and_changes_nothing(cli, bot, us_config):
    (us_config / "targets.yaml").write_text("targets:\n  - {who: org, kpi: revenue, period: FY2026, value: zero}\n")

    result = cli("load")

    assert result.exit_code == 2
    assert "targets[0] (org, revenue): 'zero' is not a number." in result.output
    assert "Nothing was changed." in result.output
    assert rows(bot) == []


def test_who_can_be_a_known_scope_object(bot):
    spec = validate(bot, Who("team", bot.directory.find_team("East").id, "East"), "calls", "2026-11", "300")

    assert (spec.who.name, spec.start, spec.end, spec.value) == ("East", D(2026, 11, 1), D(2026, 12, 1), 300)
    assert spec.describe(bot.calendar, "USD") == "Calls target for East, November 2026: 300"


def test_a_save_that_loses_a_race_on_the_unique_key_is_run_again(bot, monkeypatch):
    import kpi.targets.storage

    original, calls = kpi.targets.storage._save_one, []

    def racing(connection, spec, set_by, now):
        calls.append(spec)
        if len(calls) == 1:  # someone else inserted the same target between our look-up and our insert
            raise IntegrityError("INSERT INTO targets ...", {}, Exception("duplicate key"))
        return original(connection, spec, set_by, now)

    monkeypatch.setattr(kpi.targets.storage, "_save_one", racing)

    report = save(bot.engine, [validate(bot, "org", "revenue", "FY2026", "1m")], "admin@example.com")

    assert (len(calls), report.created, report.updated, report.unchanged) == (2, 1, 0, 0)
    assert [row.value for row in rows(bot)] == [1000000]
