"""config/schedule.yaml: what the worker (`kpibot schedule`) runs besides the digests, validated at start."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field

from kpi.config import Strict, config_dir, load_model


class SyncSchedule(Strict):
    """How often the worker syncs the CRM; what and how comes from crm.yaml."""

    every_minutes: int = Field(30, ge=1)


class CelebrationSchedule(Strict):
    channel: str | None = None
    thresholds: list[float] = Field(default_factory=lambda: [1.0])
    kpis: list[str] | None = None
    big_deal_amount: Decimal | None = Field(None, gt=0)
    every_seconds: int = Field(300, ge=1)


class AlertSchedule(Strict):
    """Goal alerts (digests/alerts.py): how far back past its threshold a value must go to re-arm an alert."""

    rearm_margin: Decimal = Field(Decimal("0.05"), ge=0, lt=1)


class ScheduleConfig(Strict):
    grace_minutes: int = Field(60, ge=0, description="a digest missed while the worker was down is sent within this")
    failure_channel: str | None = None
    leader_check_seconds: int = Field(10, ge=1)
    sync: SyncSchedule | None = None
    celebrations: CelebrationSchedule = Field(default_factory=CelebrationSchedule)
    alerts: AlertSchedule = Field(default_factory=AlertSchedule)


def load_schedule(directory: Path | None = None) -> ScheduleConfig:
    return load_model(ScheduleConfig, (directory or config_dir()) / "schedule.yaml")
