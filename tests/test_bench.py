"""The benchmark harness runs end to end at a tiny size on SQLite, so that it does not rot between runs.

It checks that every benchmark reports and that the figures land in the results file, not the figures
themselves: timings belong to `make bench`, not to the suite.
"""

from __future__ import annotations

from bench.run import main


def test_the_quick_benchmarks_run_end_to_end_on_sqlite(tmp_path):
    results = tmp_path / "RESULTS.md"
    url = f"sqlite:///{tmp_path / 'bench.db'}"

    report = main(["--quick", "--database-url", url, "--reps", "6", "--per-kind", "1", "--results", str(results)])

    titles = [section.title for section in report.sections]
    for number in range(1, 8):
        assert any(title.startswith(f"{number}.") for title in titles), titles
    assert "Every floor gave the product's numbers." in report.markdown()
    assert "pandas gave the product's numbers." in report.markdown()
    written = results.read_text()
    assert "Figures to reach" in written and "<!-- bench:figures:end -->" in written
    again = main(["--quick", "--database-url", url, "--reps", "6", "--only", "digests", "--results", str(results)])
    assert "reused" in again.sections[0].notes[0]
