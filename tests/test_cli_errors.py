"""Errors a person can act on, in one line: no Python traceback for an expected failure, and nothing created or
assumed behind the admin's back (a mistyped database path, a missing config folder)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import run_kpibot

ROOT = Path(__file__).parents[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


def test_an_unreachable_database_is_named_by_host_and_port_in_one_line():
    port = closed_port()

    result = run_kpibot(
        "ask",
        "my revenue",
        "--as",
        "alice@example.com",
        env={"DATABASE_URL": f"postgresql://kpibot@127.0.0.1:{port}/crm"},
    )

    assert result.returncode == 2
    assert result.stderr.startswith(f"Cannot reach the database at 127.0.0.1:{port} (")
    assert "Check that the server is running" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_the_traceback_for_a_bug_report():
    port = closed_port()

    result = run_kpibot(
        "--debug",
        "ask",
        "my revenue",
        "--as",
        "alice@example.com",
        env={"DATABASE_URL": f"postgresql://kpibot@127.0.0.1:{port}/crm"},
    )

    assert result.returncode == 1 and "Traceback" in result.stderr and "DatabaseProblem" in result.stderr


@pytest.mark.parametrize(
    "command",
    [("ask", "my revenue", "--as", "alice@example.com"), ("targets", "list"), ("digest", "list"), ("sync", "status")],
    ids=" ".join,
)
def test_a_command_that_only_reads_never_creates_a_database(tmp_path, command):
    path = tmp_path / "mistyped.db"

    result = run_kpibot(*command, env={"DATABASE_URL": f"sqlite:///{path}"})

    assert result.returncode == 2, result.stdout
    assert result.stderr.strip() == (
        f"There is no database at {path}. Create one with `kpibot demo` (a demo company) or `kpibot sync` "
        "(your CRM), or point DATABASE_URL at the right file."
    )
    assert not path.exists()


def test_a_config_folder_that_is_not_there_is_an_error_not_the_defaults(tmp_path):
    missing = tmp_path / "konfig"

    result = run_kpibot("ask", "my revenue", "--as", "alice@example.com", env={"KPIBOT_CONFIG_DIR": str(missing)})

    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"KPIBOT_CONFIG_DIR is '{missing}', and there is no such folder. Set it to the folder that holds org.yaml, "
        "kpis.yaml and people.yaml, or unset it to use ./config."
    )


def test_an_unknown_yaml_key_is_named_with_its_line_and_the_closest_valid_key(tmp_path):
    (tmp_path / "org.yaml").write_text("timezone: UTC\ncurrency: EUR\nfiscal_year_start_mont: 4\n")

    result = run_kpibot("ask", "my revenue", "--as", "alice@example.com", env={"KPIBOT_CONFIG_DIR": str(tmp_path)})

    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"{tmp_path / 'org.yaml'}, line 3: unknown key 'fiscal_year_start_mont': "
        "did you mean 'fiscal_year_start_month'?"
    )


def test_version_prints_the_package_version():
    result = run_kpibot("--version", env={})

    assert result.returncode == 0 and result.stdout.strip() == "kpibot 0.1.0"
