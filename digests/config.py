"""Digest configuration: ``$KPIBOT_CONFIG_DIR/digests.yaml``, validated once with pydantic.

A digest is a named, scheduled message: what it reports (``content``: daily, weekly or monthly), when it
fires (``cadence``, ``time``, ``day``, ``timezone``), for whom (``audience``) and where it goes
(``recipients``). Without the file, :func:`default_digests` applies. Every problem is reported like the other
config files: file, key, value and what is allowed (:func:`kpi.config.explain`).
"""

from __future__ import annotations

import re
import zoneinfo
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from kpi.catalog import Catalog
from kpi.config import WEEKDAYS, ConfigError, Strict, explain, read_yaml

CONTENTS = ("daily", "weekly", "monthly")
CADENCES = CONTENTS  # or a cron expression
TEMPLATE_SUFFIX = ".json.j2"
PACKAGE_TEMPLATES = Path(__file__).with_name("templates")
EACH_TEAM, ORG = "each team", "org"
MANAGER, REPS = "manager", "reps"
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
CHANNEL_NAME = re.compile(r"^#[a-z0-9][a-z0-9._-]{0,79}$")

DEFAULT_KPIS: dict[str, list[str]] = {
    "daily": ["calls", "meetings", "demos", "emails", "deals-won", "revenue"],
    "weekly": ["revenue", "deals-won", "win-rate", "calls", "meetings", "demos"],
    "monthly": ["revenue", "deals-won", "win-rate", "avg-deal-size", "pipeline"],
}
DEFAULT_TIMES = {"daily": "08:30", "weekly": "08:00", "monthly": "08:00"}


class DigestSpec(Strict):
    """One entry of ``digests:``. Defaults depend on ``content`` (itself the cadence unless cron)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    cadence: str
    content: Literal[CONTENTS] | None = Field(None, validate_default=True)  # type: ignore[valid-type]
    time: str | None = None
    day: str | int | None = None
    timezone: str | None = None
    audience: str = EACH_TEAM
    recipients: list[str] = Field(default_factory=lambda: [MANAGER], min_length=1, validate_default=True)
    kpis: list[str] = Field(default_factory=list)
    target: str = "revenue"
    leaderboard: str | None = None
    trend: str | None = None
    template: str | None = None
    skip_when_empty: bool | None = None
    charts: bool = True
    enabled: bool = True
    stale_after_hours: float | None = Field(None, gt=0)

    @field_validator("cadence")
    @classmethod
    def _known_cadence(cls, value: str) -> str:
        value = " ".join(value.split())
        if value.lower() in CADENCES:
            return value.lower()
        if len(value.split()) != 5:
            raise ValueError(
                "expected daily, weekly, monthly or a 5-field cron expression (minute hour day month weekday), "
                "e.g. '0 8 * * mon-fri'"
            )
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"not a valid cron expression ({exc})") from None
        return value

    @field_validator("time")
    @classmethod
    def _clock_time(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("cadence") not in (None, *CONTENTS):
            raise ValueError("a cron digest takes its time from the cron expression: remove 'time'")
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ValueError("expected a 24-hour time HH:MM, e.g. '08:30' (quote it in YAML)")
        return f"{int(match[1]):02d}:{match[2]}"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("expected an IANA time zone such as UTC, Europe/Paris or America/New_York") from exc
        return value

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("expected 'each team', 'org' or the name of a team")
        lowered = value.lower()
        return lowered if lowered in (EACH_TEAM, ORG) else value

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, values: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("audience") == ORG and MANAGER in values:
            raise ValueError("audience 'org' has no manager: send it to channels, or to 'reps'")
        for value in values:
            if value in (MANAGER, REPS) or CHANNEL_ID.match(value) or CHANNEL_NAME.match(value):
                continue
            raise ValueError(
                f"recipient {value!r}: expected 'manager' (the team's manager, by DM), 'reps' (each rep, by DM), "
                "a channel id such as C0123ABCD, or a channel name written with '#', such as '#sales'"
            )
        return list(dict.fromkeys(values))

    @field_validator("content")
    @classmethod
    def _content_for_cadence(cls, value: str | None, info: ValidationInfo) -> str | None:
        cadence = info.data.get("cadence")
        if cadence in CONTENTS and value not in (None, cadence):
            raise ValueError(f"a {cadence} digest reports {cadence}: remove 'content' or make it {cadence}")
        if cadence is not None and cadence not in CONTENTS and value is None:
            raise ValueError("a cron digest needs 'content: daily', 'content: weekly' or 'content: monthly'")
        return value

    @field_validator("day")
    @classmethod
    def _day_for_cadence(cls, value: str | int | None, info: ValidationInfo) -> str | int | None:
        cadence = info.data.get("cadence")
        if value is None or cadence is None:
            return value
        if cadence == "weekly":
            if not isinstance(value, str) or value.lower() not in WEEKDAYS:
                raise ValueError(f"day of a weekly digest: expected one of {', '.join(WEEKDAYS)}")
            return value.lower()
        if cadence == "monthly":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 28:
                raise ValueError("day of a monthly digest: expected a day of the month from 1 to 28")
            return value
        if cadence == "daily":
            raise ValueError("a daily digest runs every day: remove 'day', or use a cron cadence ('30 8 * * mon-fri')")
        raise ValueError("a cron digest takes its days from the cron expression: remove 'day'")

    # ------------------------------------------------------------------ resolved settings

    @property
    def kind(self) -> str:
        """What the digest reports: daily, weekly or monthly."""
        return self.content or self.cadence

    @property
    def kpi_keys(self) -> list[str]:
        return self.kpis or DEFAULT_KPIS[self.kind]

    @property
    def leaderboard_kpi(self) -> str:
        return self.leaderboard or self.target

    @property
    def trend_kpi(self) -> str:
        return self.trend or self.target

    @property
    def template_name(self) -> str:
        return (self.template or self.kind) + TEMPLATE_SUFFIX

    @property
    def skip_empty(self) -> bool:
        return self.skip_when_empty if self.skip_when_empty is not None else self.kind == "daily"

    @property
    def cron(self) -> str:
        """When it fires, as a 5-field cron expression in :meth:`zone` (for APScheduler's ``from_crontab``)."""
        if self.cadence not in CONTENTS:
            return self.cadence
        hour, minute = (int(part) for part in (self.time or DEFAULT_TIMES[self.cadence]).split(":"))
        if self.cadence == "daily":
            return f"{minute} {hour} * * *"
        if self.cadence == "weekly":
            return f"{minute} {hour} * * {str(self.day or 'monday').lower()[:3]}"
        return f"{minute} {hour} {self.day or 1} * *"

    def zone(self, org_timezone: str) -> zoneinfo.ZoneInfo:
        """The digest's own time zone, else the organisation's."""
        return zoneinfo.ZoneInfo(self.timezone or org_timezone)

    def trigger(self, org_timezone: str):
        """An APScheduler 3 ``CronTrigger`` for this digest."""
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger.from_crontab(self.cron, timezone=self.zone(org_timezone))


def default_digests() -> list[DigestSpec]:
    """What applies without digests.yaml: a daily, a weekly and a monthly digest to each team's manager."""
    return [
        DigestSpec(name="daily", cadence="daily", time="08:30"),
        DigestSpec(name="weekly", cadence="weekly", day="monday", time="08:00"),
        DigestSpec(name="monthly", cadence="monthly", day=1, time="08:00"),
    ]


class DigestsConfig(Strict):
    stale_after_hours: float = Field(26, gt=0)
    digests: list[DigestSpec] = Field(default_factory=default_digests)

    @field_validator("digests")
    @classmethod
    def _unique_names(cls, specs: list[DigestSpec]) -> list[DigestSpec]:
        seen: set[str] = set()
        for spec in specs:
            if spec.name in seen:
                raise ValueError(f"two digests are called '{spec.name}'; digest names must be unique")
            seen.add(spec.name)
        return specs

    def get(self, name: str) -> DigestSpec:
        for spec in self.digests:
            if spec.name == name:
                return spec
        names = ", ".join(spec.name for spec in self.digests) or "none"
        raise ConfigError(f"There is no digest called '{name}'. Configured digests: {names}.")


def load_digests(directory: Path, catalog: Catalog | None = None) -> DigestsConfig:
    """Load ``directory/digests.yaml`` (defaults when absent); with ``catalog``, check every KPI name too.

    KPI names may be keys, labels or aliases; they are normalised to keys.
    """
    path = directory / "digests.yaml"
    data = read_yaml(path) if path.exists() else None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected keys 'stale_after_hours' and 'digests', not {type(data).__name__}.")
    try:
        config = DigestsConfig.model_validate(data or {})
    except ValidationError as exc:
        raise explain(path, exc, model=DigestsConfig) from None
    problems: list[str] = []
    specs = []
    for index, spec in enumerate(config.digests):
        where = f"digests.{index}"
        if not _template_exists(directory, spec.template_name):
            found = ", ".join(sorted(t.removesuffix(TEMPLATE_SUFFIX) for t in template_names(directory)))
            problems.append(
                f"{path}: key '{where}.template' has value {spec.template!r}: no file {spec.template_name} in "
                f"{directory / 'templates'} or the package. Available: {found}."
            )
        if catalog is not None:
            spec = _with_kpi_keys(spec, catalog, path, where, problems)
        specs.append(spec)
    if problems:
        raise ConfigError("\n".join(problems))
    stale = {"stale_after_hours": config.stale_after_hours}
    specs = [spec if spec.stale_after_hours is not None else spec.model_copy(update=stale) for spec in specs]
    return config.model_copy(update={"digests": specs})


def _with_kpi_keys(spec: DigestSpec, catalog: Catalog, path: Path, where: str, problems: list[str]) -> DigestSpec:
    def key(value: str, field: str) -> str:
        kpi = catalog.lookup(value)
        if kpi is not None:
            return kpi.key
        try:
            suggestion = catalog.find(value).key
        except LookupError as exc:
            suggestion = ", ".join(getattr(exc, "suggestions", [])) or "see `kpibot ask list`"
        problems.append(f"{path}: key '{where}.{field}' has value {value!r}: unknown KPI. Did you mean {suggestion}?")
        return value

    update: dict[str, Any] = {"kpis": [key(v, f"kpis.{i}") for i, v in enumerate(spec.kpis)]}
    update["target"] = key(spec.target, "target")
    for field in ("leaderboard", "trend"):
        value = getattr(spec, field)
        if value is not None:
            update[field] = key(value, field)
    return spec.model_copy(update=update)


def template_names(directory: Path) -> set[str]:
    found = {p.name for p in PACKAGE_TEMPLATES.glob("*" + TEMPLATE_SUFFIX)}
    if (directory / "templates").is_dir():
        found |= {p.name for p in (directory / "templates").glob("*" + TEMPLATE_SUFFIX)}
    return {name for name in found if not name.startswith("_")}


def _template_exists(directory: Path, name: str) -> bool:
    return (directory / "templates" / name).is_file() or (PACKAGE_TEMPLATES / name).is_file()
