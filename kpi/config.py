"""Configuration: the YAML files a sales-ops admin edits, validated once at start.

``KPIBOT_CONFIG_DIR`` (default ``config/``) holds:

* ``org.yaml``: calendar and money settings (:class:`OrgConfig`);
* ``kpis.yaml``: the KPI catalog (validated by :mod:`kpi.catalog`);
* ``people.yaml``: teams, people, roles and Slack ids (:class:`PeopleConfig`); optional when the CRM
  supplies them;
* ``csv.yaml``: the CSV import mapping (validated by :mod:`crm.csv_source`).

A wrong value raises :class:`ConfigError` naming the file, the key, the value and what is allowed,
so the admin can fix it without reading code.
"""

from __future__ import annotations

import difflib
import os
import typing
import zoneinfo
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kpi.types import Role

M = TypeVar("M", bound=BaseModel)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SCORECARD = ("revenue", "quota-attainment", "win-rate", "pipeline", "deals-won", "calls", "meetings")


class ConfigError(Exception):
    """A configuration problem, worded for the person who edits the file."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PaceConfig(Strict):
    """Pace status thresholds, as shares of what was expected by now (``pace:`` in org.yaml).

    Progress at or above ``ahead`` is "ahead", at or above ``on_track`` "on track", at or above ``behind``
    "behind", and below that "at risk".
    """

    ahead: float = Field(1.10, gt=0, le=10)
    on_track: float = Field(0.95, gt=0, le=10)
    behind: float = Field(0.75, ge=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> PaceConfig:
        if not self.ahead > self.on_track > self.behind:
            raise ValueError(
                f"expected ahead > on_track > behind (e.g. 1.10, 0.95, 0.75), not {self.ahead}, {self.on_track}, "
                f"{self.behind}"
            )
        return self


class OrgConfig(Strict):
    timezone: str = "UTC"
    fiscal_year_start_month: int = Field(1, ge=1, le=12)
    week_start: Literal[WEEKDAYS] = "monday"  # type: ignore[valid-type]
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    ramp_threshold: float = Field(0.8, gt=0, le=1)
    default_period: str = "this quarter"
    country: str | None = Field(None, description="ISO 3166 code (US, FR, or US-CA): public holidays for pacing")
    pace: PaceConfig = Field(default_factory=PaceConfig)
    access_after_leaving_days: int = Field(
        1, ge=0, le=365, description="days after a person's leaving date (left_at) that they may still ask"
    )
    scorecard: list[str] = Field(
        default_factory=lambda: list(SCORECARD),
        min_length=1,
        description="the KPIs of 'how am I doing', by key (checked against the catalog at start)",
    )

    @field_validator("country", mode="before")
    @classmethod
    def _known_country(cls, value: Any) -> Any:
        if value is None or not isinstance(value, str):
            return value
        import holidays  # only needed here and for pacing

        code = value.strip().upper()
        country, _, subdivision = code.partition("-")
        supported = holidays.list_supported_countries()
        if country not in supported:
            raise ValueError("expected an ISO 3166 country code with public holidays, such as US, GB, FR or DE")
        if subdivision and subdivision not in supported[country]:
            raise ValueError(
                f"{subdivision} is not a subdivision of {country}; known: {', '.join(supported[country][:20])}"
            )
        return code

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("expected an IANA time zone such as UTC, Europe/Paris or America/New_York") from exc
        return value

    @field_validator("week_start", mode="before")
    @classmethod
    def _lower_weekday(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class TeamConfig(Strict):
    name: str
    parent: str | None = None
    manager: str | None = Field(None, description="email or name of the team's manager")


class PersonConfig(Strict):
    name: str
    email: str | None = None
    role: Role = Role.REP
    team: str | None = None
    slack_user_id: str | None = Field(None, pattern=r"^[UW][A-Z0-9]{2,}$")
    hired_at: str | None = None
    left_at: str | None = None
    manages: list[str] = Field(default_factory=list, description="extra teams this person manages")


class PeopleConfig(Strict):
    teams: list[TeamConfig] = Field(default_factory=list)
    people: list[PersonConfig] = Field(default_factory=list)


def config_dir() -> Path:
    """``KPIBOT_CONFIG_DIR``, or ``config/``. A folder that was named but is not there is an error: falling
    back to the defaults would answer with the wrong calendar, catalog and people without a word."""
    named = os.environ.get("KPIBOT_CONFIG_DIR")
    if named and not Path(named).is_dir():
        raise ConfigError(
            f"KPIBOT_CONFIG_DIR is {named!r}, and there is no such folder. Set it to the folder that holds "
            "org.yaml, kpis.yaml and people.yaml, or unset it to use ./config."
        )
    return Path(named or "config")


#: libyaml's safe loader when PyYAML was built with it (the wheels are): the catalog parses in 15 ms, not 200,
#: which every `kpibot` command pays at start.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file, turning syntax errors into a message with file and line."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: this is not valid YAML ({getattr(exc, 'problem', exc)}).") from exc


def explain(
    path: Path, error: ValidationError, prefix: tuple[Any, ...] = (), model: type[BaseModel] | None = None
) -> ConfigError:
    """Turn a pydantic error into one line per problem: file, key, value, what is allowed.

    An unknown key (``model`` is what the file holds below ``prefix``) is named with its line and the
    closest valid key, since it is most often a typo: "`objekt`: did you mean `object`?".
    """
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in (*prefix, *item["loc"])) or "(top level)"
        if item["type"] == "extra_forbidden":
            line = _line_of(path, (*prefix, *item["loc"]))
            where = f"{path}, line {line}" if line else str(path)
            valid = _keys_at(model, item["loc"][:-1]) if model else []
            close = difflib.get_close_matches(str(item["loc"][-1]), valid, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"valid keys here: {', '.join(valid)}." if valid else ""
            lines.append(f"{where}: unknown key '{key}': {hint or 'remove it or check its spelling.'}")
            continue
        if item["type"] == "missing":
            lines.append(f"{path}: key '{key}' is missing; add it.")
            continue
        value = item.get("input")
        allowed = item["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: key '{key}' has value {value!r}: {allowed}.")
    return ConfigError("\n".join(lines))


def _line_of(path: Path, loc: tuple[Any, ...]) -> int | None:
    """The line (1-based) where the key at ``loc`` is written in the YAML file, or None."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if found is None:
                return line
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at ``loc`` inside ``model`` may hold: the fields of the model found there."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            current = _inner_model(current)
        if isinstance(part, str) and isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return []
            current = _inner_model(field.annotation)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _inner_model(annotation: Any) -> Any:
    """The model inside ``X | None``, ``list[X]`` or ``dict[str, X]``; the annotation itself otherwise."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return annotation


def load_model(model: type[M], path: Path) -> M:
    """Load ``path`` into ``model``; a missing file gives the model's defaults."""
    data = read_yaml(path) if path.exists() else None
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        raise explain(path, exc, model=model) from None


def load_org(directory: Path | None = None) -> OrgConfig:
    return load_model(OrgConfig, (directory or config_dir()) / "org.yaml")


def load_people(directory: Path | None = None) -> PeopleConfig:
    return load_model(PeopleConfig, (directory or config_dir()) / "people.yaml")
