"""The data set: ``kpibot demo`` at the run's size, generated once and reused while its parameters hold.

A small table, ``bench_dataset``, tags the database with the parameters it was generated with (reps, months,
seed) and a fingerprint of the schema migration; a run with the same ones reuses the data (generating the
full company takes minutes), anything else drops the database and generates it again. The fingerprint
matters because the migration is edited in place before the first release: a database migrated by an
older version would otherwise be reused with an older schema.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, inspect, make_url, text

from bench.common import CONFIG_DIR, ROOT, Section, Settings, mib, run_measured
from kpi.db import normalise_url

TAG_TABLE = "bench_dataset"
MIGRATIONS = ROOT / "kpi" / "migrations" / "versions"
GENERATION_GOALS = {"quick": 600.0, "1x": 600.0, "5x": 900.0}  # seconds (issue 6: 10 minutes; issue 17: 15)
COUNTED = ("teams", "reps", "accounts", "leads", "deals", "activities", "quotes", "targets")


@dataclass(frozen=True)
class DataSet:
    url: str
    as_of: dt.date
    counts: dict[str, int]
    generated_seconds: float
    generated_peak_rss: int | None
    reused: bool


def schema_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def wanted(settings: Settings) -> dict[str, object]:
    """The parameters a reusable data set was generated with. Regions count only when the run sets them, so the
    tags of data sets generated before the 5x company (the demo's own regions) still match."""
    params: dict[str, object] = {"reps": settings.reps, "months": settings.months, "seed": settings.seed}
    if settings.regions is not None:
        params["regions"] = settings.regions
    return params | {"schema": schema_fingerprint()}


def read_tag(url: str) -> dict[str, object] | None:
    """The tag of the database at ``url``, or None when it (or the database) does not exist."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(TAG_TABLE):
                return None
            return json.loads(connection.execute(text(f"SELECT tag FROM {TAG_TABLE}")).scalar_one())
    except Exception:  # no such database yet
        return None
    finally:
        engine.dispose()


def recreate_database(url: str) -> None:
    """An empty database at ``url``: dropped and created on PostgreSQL, the file removed on SQLite."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def bench_env(url: str) -> dict[str, str]:
    """The environment of the product's processes: this database and the shipped config folder, and no answer
    cache: they measure computing answers (benchmark 6 measures the cache)."""
    env = {**os.environ, "DATABASE_URL": url, "KPIBOT_CONFIG_DIR": str(CONFIG_DIR), "KPIBOT_CACHE_MB": "0"}
    env.pop("SLACK_APP_TOKEN", None)
    env.pop("REDIS_URL", None)
    return env


def prepare(settings: Settings) -> tuple[DataSet, Section]:
    """Reuse the tagged data set, or generate it with ``kpibot demo`` (timed, with its peak RSS)."""
    url, params = settings.database_url, wanted(settings)
    tag = read_tag(url)
    reused = tag is not None and tag.get("params") == params
    if not reused:
        recreate_database(url)
        command = [sys.executable, "-m", "bot.cli", "demo", "--reps", str(settings.reps)]
        command += ["--months", str(settings.months), "--seed", str(settings.seed)]
        if settings.regions is not None:
            command += ["--regions", str(settings.regions)]
        run = run_measured(command, bench_env(url))
        if run.returncode:
            raise RuntimeError(f"kpibot demo failed:\n{run.output}")
        tag = {
            "params": params,
            "as_of": _as_of(run.output),
            "seconds": run.seconds,
            "peak_rss": run.peak_rss,
            "counts": _counts(url),
        }
        _write_tag(url, tag)
    assert tag is not None
    data = DataSet(
        url,
        dt.date.fromisoformat(str(tag["as_of"])),
        dict(tag["counts"]),  # type: ignore[call-overload]
        float(tag["seconds"]),  # type: ignore[arg-type]
        tag.get("peak_rss"),  # type: ignore[arg-type]
        reused,
    )
    return data, _section(settings, data)


def _as_of(output: str) -> str:
    """The as-of date `kpibot demo` reports ("Demo company generated as of 2026-11-22: ...")."""
    marker = "generated as of "
    return output[output.index(marker) + len(marker) :][:10]


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(normalise_url(url))
    with engine.connect() as connection:
        counts = {name: connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one() for name in COUNTED}
    engine.dispose()
    return counts


def _write_tag(url: str, tag: dict[str, object]) -> None:
    engine = create_engine(normalise_url(url))
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE IF NOT EXISTS {TAG_TABLE} (tag TEXT NOT NULL)"))
        connection.execute(text(f"DELETE FROM {TAG_TABLE}"))
        connection.execute(text(f"INSERT INTO {TAG_TABLE} (tag) VALUES (:tag)"), {"tag": json.dumps(tag)})
    engine.dispose()


def _section(settings: Settings, data: DataSet) -> Section:
    section = Section("Data set (`kpibot demo`)", ["table", "rows"])
    for name, count in data.counts.items():
        section.add(name, f"{count:,}")
    how = "reused (same reps, months, seed and schema)" if data.reused else "generated in this run"
    regions = f" under {settings.regions} regions" if settings.regions else ""
    section.notes.append(
        f"{settings.reps:,} reps{regions}, {settings.months} months, seed {settings.seed}, as of {data.as_of}: {how}. "
        f"Generation took {data.generated_seconds:,.0f} s (figure to reach: {GENERATION_GOALS[settings.size]:.0f} s), "
        f"peak RSS {mib(data.generated_peak_rss)}."
    )
    return section
