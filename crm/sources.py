"""config/crm.yaml: which CRM kpibot copies and how; the connector for it; one sync as `kpibot sync` runs it.

The command line and the worker both call :func:`sync_source`, so a sync behaves the same whoever starts it:
the source and its settings come from crm.yaml (the command line may override the source and the CSV folder),
secrets from the environment, and a full reconcile runs instead of an incremental sync when asked, when the
source has never been synced, or when the last full one is older than ``full_reconcile_days``: CRMs keep
deletion records for a limited time (Salesforce's recycle bin, 15 days), so only a full read catches the rest.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field
from sqlalchemy import Engine, func, select

from crm.interface import Connector, SyncReport
from crm.sync import Progress, run_sync
from kpi.config import ConfigError, PeopleConfig, Strict, config_dir, load_model
from kpi.schema import SyncRun

SOURCES = ("csv", "hubspot", "salesforce", "pipedrive")
Source = Literal["csv", "hubspot", "salesforce", "pipedrive"]


class CsvSettings(Strict):
    path: str | None = Field(None, description="the folder of CSV exports (mapping in csv.yaml)")


class HubSpotSettings(Strict):
    base_url: str = "https://api.hubapi.com"
    page_size: int = Field(100, ge=1, le=100)


class SalesforceSettings(Strict):
    login_url: str = "https://login.salesforce.com"
    api_version: str = Field("v60.0", pattern=r"^v\d+\.\d$")
    page_size: int = Field(2000, ge=200, le=2000)


class PipedriveSettings(Strict):
    base_url: str = "https://api.pipedrive.com"
    page_size: int = Field(100, ge=1, le=500)


class CrmConfig(Strict):
    source: Source = "csv"
    lookback_minutes: int = Field(10, ge=0, description="incremental syncs re-read this much before the cursor")
    full_reconcile_days: float | None = Field(7, gt=0, description="a full sync runs when the last is older")
    max_rejected_share: float = Field(
        0.05, ge=0, le=1, description="a full sync rejecting more of any file or object changes nothing"
    )
    csv: CsvSettings = Field(default_factory=CsvSettings)
    hubspot: HubSpotSettings = Field(default_factory=HubSpotSettings)
    salesforce: SalesforceSettings = Field(default_factory=SalesforceSettings)
    pipedrive: PipedriveSettings = Field(default_factory=PipedriveSettings)

    @property
    def lookback(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.lookback_minutes)


def load_crm(directory: Path | None = None) -> CrmConfig:
    """crm.yaml from the config folder (every setting has a default: the file is optional)."""
    return load_model(CrmConfig, (directory or config_dir()) / "crm.yaml")


def connector_for(
    config: CrmConfig,
    source: str,
    *,
    directory: Path | None = None,
    path: Path | None = None,
    env: Mapping[str, str] = os.environ,
) -> Connector:
    """The connector for ``source`` with crm.yaml's settings and the environment's secrets.

    Raises :class:`ConfigError` naming what is missing and where to set it.
    """
    if source == "csv":
        from crm.csv_source import csv_connector

        folder = path or (Path(config.csv.path) if config.csv.path else None)
        if folder is None or not folder.is_dir():
            raise ConfigError(
                f"CSV sync: '{folder}' is not a folder of CSV exports. Pass --path FOLDER, or set csv.path in crm.yaml."
            )
        return csv_connector(folder, directory or config_dir())
    if source == "hubspot":
        from crm.hubspot import HubSpotConnector

        token = _secret(env, "HUBSPOT_ACCESS_TOKEN", "a HubSpot private app's access token (Settings > Integrations)")
        hubspot = config.hubspot
        return HubSpotConnector(
            env.get("HUBSPOT_BASE_URL", hubspot.base_url),
            token,
            page_size=hubspot.page_size,
            lookback=config.lookback,
        )
    if source == "salesforce":
        from crm.salesforce import SalesforceConnector, salesforce_login

        salesforce = config.salesforce
        if env.get("SALESFORCE_ACCESS_TOKEN"):
            token = env["SALESFORCE_ACCESS_TOKEN"]
            instance = _secret(env, "SALESFORCE_INSTANCE_URL", "your org's URL, https://yourorg.my.salesforce.com")
        else:
            client_id = _secret(env, "SALESFORCE_CLIENT_ID", "the consumer key of a connected app (client credentials)")
            secret = _secret(env, "SALESFORCE_CLIENT_SECRET", "the consumer secret of that connected app")
            login_url = env.get("SALESFORCE_LOGIN_URL", salesforce.login_url)
            instance, token = salesforce_login(login_url, client_id, secret)
        return SalesforceConnector(
            instance,
            token,
            api_version=salesforce.api_version,
            page_size=salesforce.page_size,
            lookback=config.lookback,
        )
    if source == "pipedrive":
        from crm.pipedrive import PipedriveConnector

        token = _secret(env, "PIPEDRIVE_API_TOKEN", "a Pipedrive API token (Personal preferences > API)")
        pipedrive = config.pipedrive
        return PipedriveConnector(
            env.get("PIPEDRIVE_BASE_URL", pipedrive.base_url),
            token,
            page_size=pipedrive.page_size,
            lookback=config.lookback,
        )
    raise ConfigError(f"Unknown source '{source}'. Choose one of: {', '.join(SOURCES)}.")


def _secret(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"Set {name} in the environment: {what}.")
    return value


def full_due(engine: Engine, source: str, config: CrmConfig, now: dt.datetime) -> bool:
    """Whether ``source``'s next sync should be a full reconcile: never fully synced, or not for too long.

    A CSV export is always complete, so every CSV sync is full.
    """
    if source == "csv":
        return True
    query = select(func.max(SyncRun.started_at)).where(
        SyncRun.source == source, SyncRun.full.is_(True), SyncRun.status == "ok"
    )
    with engine.connect() as connection:
        last = connection.execute(query).scalar()
    if last is None:
        return True
    return config.full_reconcile_days is not None and now - last >= dt.timedelta(days=config.full_reconcile_days)


def sync_source(
    engine: Engine,
    config: CrmConfig,
    *,
    source: str | None = None,
    full: bool | None = None,
    path: Path | None = None,
    directory: Path | None = None,
    people: PeopleConfig | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    env: Mapping[str, str] = os.environ,
) -> SyncReport:
    """One sync of ``source`` (crm.yaml's by default); ``full`` None lets :func:`full_due` decide."""
    source = source or config.source
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    connector = connector_for(config, source, directory=directory, path=path, env=env)
    if full is None:
        full = full_due(engine, source, config, now)
    return run_sync(
        engine,
        connector,
        full=full,
        now=now,
        people=people,
        progress=progress,
        max_rejected_share=config.max_rejected_share,
    )
