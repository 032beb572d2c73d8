"""The benchmark harness runs end to end at a tiny size on SQLite, so that it does not rot between runs.

It checks that every benchmark reports and that the figures land in the results file, not the figures
themselves: timings belong to `make bench`, not to the suite.
"""

from __future__ import annotations

import json

from bench.common import Settings
from bench.mix import CURVE_KINDS, curve_mix
from bench.run import main
from kpi.directory import Directory, Person, TeamInfo
from kpi.types import Role


def test_the_quick_benchmarks_run_end_to_end_on_sqlite(tmp_path):
    results = tmp_path / "RESULTS.md"
    url = f"sqlite:///{tmp_path / 'bench.db'}"

    report = main(["--quick", "--database-url", url, "--reps", "6", "--per-kind", "1", "--results", str(results)])

    titles = [section.title for section in report.sections]
    for number in (*range(1, 8), 9, 10):
        assert any(title.startswith(f"{number}.") for title in titles), titles
    assert "Every floor gave the product's numbers." in report.markdown()
    assert "pandas gave the product's numbers." in report.markdown()
    written = results.read_text()
    assert "Figures to reach" in written and "<!-- bench:figures:end -->" in written
    again = main(["--quick", "--database-url", url, "--reps", "6", "--only", "digests", "--results", str(results)])
    assert "reused" in again.sections[0].notes[0]


def test_the_quick_cost_curve_keeps_its_json_and_draws_the_table_and_chart_beside_the_results(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n<!-- bench:figures:start -->\nearlier figures\n<!-- bench:figures:end -->\n")
    url = f"sqlite:///{tmp_path / 'bench.db'}"

    main(
        [
            "--quick",
            "--database-url",
            url,
            "--reps",
            "6",
            "--per-kind",
            "1",
            "--only",
            "curve",
            "--results",
            str(results),
        ]
    )

    kept = json.loads((tmp_path / "curve_quick.json").read_text())
    cells = {(c["cache"], c["state"], c["clients"], c["kind"]) for c in kept["cells"]}
    for kind in CURVE_KINDS:
        for clients in (1, 4, 16, 64):
            assert {("off", "cold", clients, kind), ("process", "cold", clients, kind)} <= cells
            assert ("process", "warm", clients, kind) in cells and ("off", "warm", clients, kind) not in cells
    mixes = [(t["rollups"], t["cache"], t["asks"], t["failed"]) for t in kept["throughput"]]
    assert mixes == [("off", "off", 30, 0), ("off", "process", 30, 0), ("on", "off", 30, 0), ("on", "process", 30, 0)]
    written = results.read_text()
    assert "earlier figures" in written  # a run of the curve alone keeps the size's other figures
    assert "| kind | clients | quick cache off | quick process cold | quick process warm |" in written
    assert "![p95 per kind against clients, every size](cost_curve.png)" in written
    assert (tmp_path / "cost_curve.png").read_bytes().startswith(b"\x89PNG")


def test_the_five_times_company_is_10000_reps_under_20_regions_in_a_database_of_its_own():
    settings = Settings.for_run(False, None, size="5x")

    assert (settings.reps, settings.regions, settings.months) == (10_000, 20, 24)
    assert settings.database_url.endswith("/kpibot_bench_5x")
    assert Settings.for_run(False, None).database_url.endswith("/kpibot_bench")


def person(id: int, role: Role, team: int | None) -> Person:
    return Person(id, f"Person {id}", f"p{id}@example.com", role, team, None, None, None)


def test_a_cold_pass_of_the_curve_asks_no_two_questions_with_the_same_answer():
    teams = [TeamInfo(1, "West", None, 10), TeamInfo(2, "East", None, 11)]
    reps = [person(i, Role.REP, 1 + i % 2) for i in range(1, 5)]
    directory = Directory(
        [*reps, person(10, Role.MANAGER, 1), person(11, Role.MANAGER, 2), person(20, Role.ADMIN, None)], teams
    )

    asks = curve_mix(directory, 3)

    by_kind = {kind: [ask for ask in asks if ask.kind == kind] for kind in CURVE_KINDS}
    assert {kind: len(found) for kind, found in by_kind.items()} == dict.fromkeys(CURVE_KINDS, 3)
    assert len({ask.text for ask in by_kind["org"]}) == 3  # one admin: three different questions
    assert {ask.person.id for ask in by_kind["team"]} <= {10, 11}
    assert len({ask.text for ask in by_kind["org leaderboard"]}) == 3
    assert len({(ask.text, ask.person.team_id) for ask in by_kind["team leaderboard"]}) == 3
    assert len({(ask.text, ask.person.id) for ask in by_kind["rep"]}) == 3
