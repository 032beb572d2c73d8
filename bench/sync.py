"""Benchmark 5: syncing. The data set's deals exported as CSV and imported through the shipped mapping, and
the HubSpot fake's deals through the HubSpot connector; records per second and peak RSS.

Each sync runs in a process of its own (``python -m bench.sync csv|hubspot ...``), calling the public API as
``kpibot sync`` does (``run_sync(engine, connector, full=True)``), into an empty database of its own, so the
peak RSS is the sync's alone (``wait4`` reports it). The child times each object from the moment the runner
starts reading it until it starts the next one, so "deals per second" includes writing and reconciling them.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, create_engine, make_url

from bench.common import CONFIG_DIR, Report, Section, Settings, mib, peak_rss, run_measured
from bench.data import DataSet, bench_env, recreate_database
from crm.interface import Counts
from kpi.db import normalise_url

CSV_TARGET = 20_000  # deals per second
MEMORY_TARGET = 1024**3
HEADERS = {  # the files of config/csv.yaml that this benchmark leaves empty: it measures deals
    "accounts.csv": ["account_id", "name", "owner_email", "industry", "customer_since", "churned_on"],
    "leads.csv": ["lead_id", "name", "owner_email", "source", "status", "created_date", "mql_date", "sql_date",
                  "converted_date", "deal_id"],
    "activities.csv": ["activity_id", "type", "owner_email", "deal_id", "account_id", "date"],
}  # fmt: skip
DEAL_TYPES = {"new": "New Business", "upsell": "Upsell", "cross-sell": "Cross-sell", "renewal": "Renewal"}


def sync_database(url: str) -> str:
    """The URL of the empty database the syncs write to: beside the data set's, with ``_sync`` added."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "bench.db")
        return f"sqlite:///{path.with_name(path.stem + '_sync' + path.suffix)}"
    return parsed.set(database=f"{parsed.database}_sync").render_as_string(hide_password=False)


def export_csv(engine: Engine, folder: Path, limit: int | None) -> int:
    """The data set's people and deals as the CSV exports config/csv.yaml reads; returns the deals written."""
    reps = pd.read_sql(
        "SELECT r.name, r.email, t.name AS team, r.role, r.hired_at AS hired_date, r.left_at AS left_date "
        "FROM reps r LEFT JOIN teams t ON t.id = r.team_id WHERE r.deleted_at IS NULL ORDER BY r.id",
        engine,
    )
    reps.to_csv(folder / "reps.csv", index=False)
    top = f" LIMIT {int(limit)}" if limit else ""
    deals = pd.read_sql(
        "SELECT d.id AS deal_id, d.name, r.email AS owner_email, '' AS account_id, d.amount, d.currency, d.stage, "
        "d.type, d.probability, d.created_at AS created_date, d.close_date FROM deals d JOIN reps r "
        f"ON r.id = d.owner_id WHERE d.deleted_at IS NULL ORDER BY d.id{top}",
        engine,
    )
    deals["type"] = deals["type"].map(DEAL_TYPES)
    for column in ("created_date", "close_date"):
        deals[column] = pd.to_datetime(deals[column]).dt.strftime("%Y-%m-%d %H:%M:%S")
    deals.to_csv(folder / "deals.csv", index=False)
    for name, header in HEADERS.items():
        with (folder / name).open("w", newline="") as file:
            csv.writer(file).writerow(header)
    return len(deals)


class Spans:
    """The runner's progress, as the time each object took: from the end of the previous object's last page
    to the end of its own (a large CSV export is read in a process of its own, so the connector itself cannot
    be timed from here)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.objects: dict[str, dict[str, float]] = {}

    def __call__(self, name: str, counts: Counts, total: int | None) -> None:
        now = time.perf_counter()
        span = self.objects.setdefault(name, {"records": 0, "seconds": 0.0})
        span["records"] = counts.created + counts.updated + counts.unchanged + counts.rejected
        span["seconds"] += now - self.last
        self.last = now


def child(kind: str, url: str, where: str, token: str = "") -> dict[str, Any]:
    """In the sync's own process: build the connector, run the sync, report the timings as JSON.

    The peak RSS is this process's and its reader process's together (they run side by side).
    """
    from crm.sync import run_sync
    from kpi.db import engine_for

    if kind == "csv":
        from crm.csv_source import csv_connector

        connector = csv_connector(Path(where), CONFIG_DIR)
    else:
        connector = hubspot_connector(where, token)
    engine = engine_for(url)
    spans = Spans()
    start = time.perf_counter()
    run_sync(engine, connector, full=True, progress=spans)
    seconds = time.perf_counter() - start
    reader = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {"seconds": seconds, "objects": spans.objects, "peak_rss": (peak_rss(os.getpid()) or 0) + reader}


def hubspot_connector(base_url: str, token: str) -> Any:
    """The HubSpot connector without its rate-limit throttles: the fake has no rate limit."""
    from crm.http import Throttle
    from crm.hubspot import HubSpotConnector

    # One request per zero seconds: never waits. A throttle keeps state, so each limit gets its own.
    return HubSpotConnector(base_url, token, throttle=Throttle(1, 0.0), search_throttle=Throttle(1, 0.0))


def measured(settings: Settings, kind: str, where: str, token: str = "") -> tuple[dict[str, Any], int]:
    url = sync_database(settings.database_url)
    recreate_database(url)
    command = [sys.executable, "-m", "bench.sync", kind, url, where, token]
    run = run_measured(command, bench_env(url))
    if run.returncode:
        raise RuntimeError(f"the {kind} sync failed:\n{run.output[-3000:]}")
    timings = json.loads(run.output.strip().splitlines()[-1])
    return timings, max(run.peak_rss, timings["peak_rss"] or 0)  # the child's own figure is exact


def hubspot_fake(deals: int) -> tuple[Any, str]:
    """The HubSpot fake seeded with ``deals`` deals, or None and why while it does not exist yet."""
    try:
        from tests.fakes.hubspot import FakeHubSpot
    except ImportError as exc:
        return None, f"skipped: the HubSpot fake is not there yet ({exc})"
    return FakeHubSpot(deals=deals), ""


def run(report: Report, settings: Settings, data: DataSet) -> None:
    section = Section(
        "5. Sync: records per second and peak RSS",
        ["source", "deals", "deals/s", "all records", "records/s", "seconds", "peak RSS"],
    )
    with tempfile.TemporaryDirectory(prefix="kpibot-bench-csv-") as folder:
        engine = create_engine(normalise_url(data.url))
        deals = export_csv(engine, Path(folder), settings.csv_deals)
        engine.dispose()
        timings, peak = measured(settings, "csv", folder)
    rate = _add(section, "CSV (config/csv.yaml)", timings, peak)
    report.check("CSV import", f">= {CSV_TARGET:,} deals/s", f"{rate:,.0f} deals/s", rate >= CSV_TARGET)
    report.check("peak RSS of the CSV sync", f"<= {mib(MEMORY_TARGET)}", mib(peak), peak <= MEMORY_TARGET)
    fake, why = hubspot_fake(settings.hubspot_deals)
    if fake is None:
        section.notes.append(f"HubSpot: {why}.")
    else:
        with fake:
            from tests.fakes.hubspot import TOKEN

            timings, peak = measured(settings, "hubspot", fake.url, TOKEN)
        _add(section, "HubSpot fake", timings, peak)
        report.check("peak RSS of the HubSpot sync", f"<= {mib(MEMORY_TARGET)}", mib(peak), peak <= MEMORY_TARGET)
    section.notes.append(
        f"CSV: {deals:,} deals with their owners (reps and teams), imported with `full=True` into an empty "
        "database, read in a process of its own (the export is large) while the database writes; deals/s counts "
        "from the end of the previous object to the last page of deals written. Peak RSS: the sync and its "
        "reader together."
    )
    report.add(section)


def _add(section: Section, source: str, timings: dict[str, Any], peak: int) -> float:
    """Add a row; returns the deals per second."""
    deals = timings["objects"].get("deals", {"records": 0, "seconds": float("nan")})
    records = sum(item["records"] for item in timings["objects"].values())
    rate = deals["records"] / deals["seconds"]
    section.add(
        source,
        f"{deals['records']:,}",
        f"{rate:,.0f}",
        f"{records:,}",
        f"{records / timings['seconds']:,.0f}",
        f"{timings['seconds']:.1f}",
        mib(peak),
    )
    return rate


if __name__ == "__main__":
    print(json.dumps(child(*sys.argv[1:])))
