"""The KPI catalog: typed specs loaded from YAML and expanded into measures and formulas.

The package ships the standard catalog (``kpi/kpis.yaml``, the 39 KPIs of KPIS.md). A team adds KPIs, or
overrides fields of standard ones (a label, more aliases), in ``$KPIBOT_CONFIG_DIR/kpis.yaml``.

Every KPI type is sugar over one canonical form, :class:`Kpi`: named **measures** (one SQL aggregate
each, grouped by owner) and a **numerator** and optional **denominator** formula over them. The compiler
only knows that form, so a new type is a few lines here and nothing anywhere else.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from rapidfuzz import fuzz, process

from kpi import formula
from kpi.config import ConfigError, config_dir, explain, read_yaml
from kpi.types import Format, Kpi, Measure, Measured, WindowName

STANDARD_CATALOG = Path(__file__).with_name("kpis.yaml")
KEY_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MeasureSpec(Spec):
    """``{sum: EXPR, from: MODEL}`` or ``{count: MODEL}``, with optional ``where``, ``time``, ``window``."""

    sum: str | None = None
    count: str | None = None
    from_: str | None = Field(None, alias="from")
    where: dict[str, Any] = Field(default_factory=dict)
    time: str | None = None
    window: WindowName = "period"

    @model_validator(mode="after")
    def _one_aggregate(self) -> MeasureSpec:
        if (self.sum is None) == (self.count is None):
            raise ValueError("a measure needs exactly one of 'sum: EXPRESSION' or 'count: MODEL'")
        if self.sum is not None and not self.from_:
            raise ValueError("a 'sum' measure needs 'from: MODEL'")
        return self


class AheadSpec(Spec):
    """How a KPI reads a period that lies ahead: another label, another time column, more conditions
    (``{label: Pipeline closing, where: {closes_in_period: true}}``)."""

    label: str
    time: str | None = None
    where: dict[str, Any] = Field(default_factory=dict)


class KpiSpec(Spec):
    """One entry of kpis.yaml, as written by people."""

    label: str
    aliases: list[str] = Field(default_factory=list)
    description: str
    format: Format = "number"
    direction: Literal["up", "down"] = "up"
    type: Literal["sum", "count", "average", "ratio", "cohort", "growth"]
    from_: str | None = Field(None, alias="from")
    expr: str | None = None
    where: dict[str, Any] = Field(default_factory=dict)
    time: str | None = None
    converted: dict[str, Any] = Field(default_factory=dict)
    of: str | None = None
    measures: dict[str, MeasureSpec] = Field(default_factory=dict)
    numerator: str | MeasureSpec | None = None
    denominator: str | MeasureSpec | None = None
    scale: float = 1
    empty: str | None = None
    requires: dict[str, str] = Field(default_factory=dict)
    parts: Literal["number", "currency", "none"] = "number"
    measured: Measured = Field("as_asked", description="which periods the KPI has a value for, and when")
    ahead: AheadSpec | None = Field(None, description="how the KPI reads a period ahead, when it can lie ahead")
    part_names: tuple[str, str] | None = Field(None, description="what the numerator and denominator count")
    change: Literal["points", "relative"] | None = Field(None, description="default: points for a percentage")
    min_sample: int = Field(5, ge=0, description="fewest cases for a fair place on a leaderboard")
    gap: dict[Literal["deal_size", "win_rate", "pipeline"], str] = Field(
        default_factory=dict, description="the KPIs that turn what remains of a target into deals and pipeline"
    )

    @model_validator(mode="after")
    def _fields_for_type(self) -> KpiSpec:
        needed = {
            "sum": ("from_", "expr"),
            "count": ("from_",),
            "average": ("from_", "expr"),
            "cohort": ("from_", "time", "converted"),
            "growth": ("of",),
            "ratio": ("numerator", "denominator"),
        }[self.type]
        missing = [name.rstrip("_") for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"a KPI of type '{self.type}' needs: {', '.join(missing)}")
        return self


class UnknownKpi(LookupError):
    """No KPI matches the text; ``suggestions`` holds the closest keys, best first."""

    def __init__(self, text: str, suggestions: list[str]) -> None:
        self.text, self.suggestions = text, suggestions
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"I don't know the KPI '{text}'.{hint} Type `list` to see every KPI.")


def normalise(text: str) -> str:
    """Lower-case, punctuation-free, single-spaced: how names are compared."""
    return " ".join(re.sub(r"[^a-z0-9%]+", " ", text.lower()).split())


class Catalog:
    """The loaded, validated KPI catalog with lookup by key, label or alias (fuzzy)."""

    def __init__(self, kpis: dict[str, Kpi], sources: dict[str, Path] | None = None) -> None:
        self.kpis = kpis
        #: The file each KPI was defined in, for messages about it.
        self.sources = sources or {}
        self._names: dict[str, str] = {}
        for kpi in kpis.values():
            for name in (kpi.key, kpi.label, *kpi.aliases):
                for variant in {normalise(name), normalise(name).replace(" ", "")}:
                    self._names.setdefault(variant, kpi.key)
        #: The most words a name can be written in: a question's words are searched in spans no longer than this
        #: (twice the longest name: room for stray punctuation such as "win - rate").
        self.max_words = 2 * max((len(name.split()) for name in self._names), default=1)
        #: Every beginning of a name, by words and (squashed) by letters: a run of a question's words that begins
        #: no name is not extended further, so finding a KPI in a long question stays linear.
        self._beginnings = {
            " ".join(name.split()[:end]) for name in self._names for end in range(1, 1 + len(name.split()))
        }
        self._squashed_beginnings = {
            name.replace(" ", "")[:end] for name in self._names for end in range(1, 1 + len(name))
        }

    def __getitem__(self, key: str) -> Kpi:
        return self.kpis[key]

    def __iter__(self):
        return iter(self.kpis.values())

    def __len__(self) -> int:
        return len(self.kpis)

    def lookup(self, text: str) -> Kpi | None:
        """The KPI whose key, label or alias is ``text`` (ignoring case, spaces and punctuation)."""
        name = normalise(text)
        key = self._names.get(name) or self._names.get(name.replace(" ", ""))
        return self.kpis[key] if key else None

    def begins_a_name(self, text: str) -> bool:
        """Whether ``text`` (normalised) is the start of some KPI's key, label or alias, or all of it."""
        return text in self._beginnings or text.replace(" ", "") in self._squashed_beginnings

    def find(self, text: str) -> Kpi:
        """Like :meth:`lookup`, tolerating typos; raises :class:`UnknownKpi` with three suggestions."""
        if kpi := self.lookup(text):
            return kpi
        name = normalise(text)
        matches = process.extract(name, list(self._names), scorer=fuzz.ratio, limit=12)
        if matches and matches[0][1] >= 85 and len(name) >= 4:
            return self.kpis[self._names[matches[0][0]]]
        suggestions: list[str] = []
        for candidate, _score, _ in matches:
            if (key := self._names[candidate]) not in suggestions:
                suggestions.append(key)
        raise UnknownKpi(text, suggestions[:3])


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load the standard catalog, merge the team's kpis.yaml over it, validate the specs and expand them.

    Model and column names are checked by compiling each KPI: :func:`kpi.compiler.checked`, which the
    service applies when it loads the catalog."""
    raw = dict(read_yaml(STANDARD_CATALOG))
    custom_path = (directory or config_dir()) / "kpis.yaml"
    custom = read_yaml(custom_path) if custom_path.exists() else None
    if custom is not None and not isinstance(custom, dict):
        raise ConfigError(f"{custom_path}: expected a mapping of KPI keys to definitions.")
    for key, fields in (custom or {}).items():
        raw[key] = {**raw[key], **fields} if key in raw and isinstance(fields, dict) else fields
    path_of = {key: custom_path if key in (custom or {}) else STANDARD_CATALOG for key in raw}

    specs: dict[str, KpiSpec] = {}
    for key, fields in raw.items():
        if not re.match(KEY_PATTERN, str(key)):
            raise ConfigError(
                f"{path_of[key]}: KPI key '{key}' is not allowed; use lower-case words joined by hyphens, "
                "such as 'big-deals'."
            )
        try:
            specs[key] = KpiSpec.model_validate(fields)
        except ValidationError as exc:
            raise explain(path_of[key], exc, prefix=(key,), model=KpiSpec) from None

    kpis: dict[str, Kpi] = {}
    for key in specs:
        try:
            kpis[key] = _expand(key, specs, kpis, stack=())
        except formula.FormulaError as exc:
            raise ConfigError(f"{path_of[key]}: KPI '{key}': {exc}.") from None
    _check_names_unique(kpis, path_of)
    _check_gaps(kpis, path_of)
    return Catalog(kpis, path_of)


def _measure(spec: MeasureSpec) -> Measure:
    model = spec.from_ or spec.count or ""  # the validator saw to one of them
    if spec.count is not None:
        return Measure("count", model, None, spec.where, spec.time, spec.window)
    return Measure("sum", model, spec.sum, spec.where, spec.time, spec.window)


def _expand(key: str, specs: dict[str, KpiSpec], done: dict[str, Kpi], stack: tuple[str, ...]) -> Kpi:
    """Turn one spec into canonical measures + formulas, inlining the KPIs its formulas name."""
    if key in done:
        return done[key]
    if key in stack:
        raise formula.FormulaError(f"KPIs refer to each other in a loop: {' -> '.join((*stack, key))}")
    spec = specs[key]
    measures: dict[str, Measure] = {name: _measure(m) for name, m in spec.measures.items()}
    numerator: ast.expr
    denominator: ast.expr | None = None
    simple = Measure("sum", spec.from_ or "", spec.expr, spec.where, spec.time)

    match spec.type:
        case "sum":
            measures["value"] = simple
            numerator = formula.parse("value")
        case "count":
            measures["value"] = replace(simple, agg="count", expr=None)
            numerator = formula.parse("value")
        case "average":
            measures["total"] = simple
            measures["count"] = replace(simple, agg="count", expr=None)
            numerator, denominator = formula.parse("total"), formula.parse("count")
        case "cohort":
            measures["converted"] = replace(simple, agg="count", expr=None, where={**spec.where, **spec.converted})
            measures["cohort"] = replace(simple, agg="count", expr=None)
            numerator, denominator = formula.parse("converted"), formula.parse("cohort")
        case "growth":
            base = _expand(spec.of, specs, done, (*stack, key)) if spec.of in specs else None
            if base is None or base.denominator is not None:
                raise formula.FormulaError(f"'of: {spec.of}' must name a KPI that is a sum or a count")
            windows: tuple[tuple[str, WindowName], ...] = (("current", "period"), ("previous", "previous"))
            for prefix, window in windows:
                for name, measure in base.measures.items():
                    measures[f"{prefix}_{name}"] = replace(measure, window=window)
            current = formula.rename(base.numerator, {n: f"current_{n}" for n in base.measures})
            previous = formula.rename(base.numerator, {n: f"previous_{n}" for n in base.measures})
            numerator = ast.BinOp(current, ast.Sub(), previous)
            denominator = previous
        case "ratio":
            numerator = _part("numerator", spec.numerator, measures)
            denominator = _part("denominator", spec.denominator, measures)

    numerator = _inline(numerator, measures, specs, done, (*stack, key))
    if denominator is not None:
        denominator = _inline(denominator, measures, specs, done, (*stack, key))
    for name in spec.requires:
        if name not in measures:
            raise formula.FormulaError(f"'requires' names '{name}', which is not one of its measures")
    kpi = Kpi(
        key=key,
        label=spec.label,
        description=" ".join(spec.description.split()),
        format=spec.format,
        direction=spec.direction,
        type=spec.type,
        aliases=tuple(spec.aliases),
        measures=measures,
        numerator=numerator,
        denominator=denominator,
        scale=spec.scale,
        empty=spec.empty,
        requires=dict(spec.requires),
        parts=spec.parts,
        measured=spec.measured,
        part_names=spec.part_names,
        change=spec.change or ("points" if spec.format == "percent" else "relative"),
        min_sample=spec.min_sample,
        gap={str(role): key for role, key in spec.gap.items()},
    )
    return replace(kpi, ahead=_ahead(kpi, spec.ahead)) if spec.ahead else kpi


def _ahead(kpi: Kpi, spec: AheadSpec) -> Kpi:
    """The KPI over a period ahead: each measure with the ahead time column and conditions."""
    measures = {
        name: replace(measure, time=spec.time or measure.time, where={**measure.where, **spec.where})
        for name, measure in kpi.measures.items()
    }
    return replace(kpi, label=spec.label, measures=measures)


def _part(name: str, part: str | MeasureSpec | None, measures: dict[str, Measure]) -> ast.expr:
    """A ratio's numerator or denominator: an inline measure becomes a measure of that name."""
    if isinstance(part, MeasureSpec):
        measures[name] = _measure(part)
        return formula.parse(name)
    return formula.parse(str(part))


def _inline(
    tree: ast.expr, measures: dict[str, Measure], specs: dict[str, KpiSpec], done: dict[str, Kpi], stack
) -> ast.expr:
    """Replace names of other KPIs by their numerator, adding their measures under prefixed names."""
    replacements: dict[str, ast.expr] = {}
    by_identifier = {formula.identifier(key): key for key in specs}
    for name in formula.names(tree) - set(measures):
        key = by_identifier.get(name)
        if key is None:
            known = sorted(set(measures) | set(specs))
            raise formula.FormulaError(f"'{name}' is neither a measure nor a KPI; known names: {', '.join(known)}")
        other = _expand(key, specs, done, stack)
        if other.denominator is not None:
            raise formula.FormulaError(f"'{key}' is a ratio; formulas may only name sums and counts")
        done.setdefault(key, other)
        prefix = f"{name}__"
        for measure_name, measure in other.measures.items():
            measures[prefix + measure_name] = measure
        replacements[name] = formula.rename(other.numerator, {n: prefix + n for n in other.measures})
    return formula.substitute(tree, replacements) if replacements else tree


def _check_gaps(kpis: dict[str, Kpi], path_of: dict[str, Path]) -> None:
    """A ``gap:`` entry names KPIs of the catalog."""
    for kpi in kpis.values():
        for role, key in kpi.gap.items():
            if key not in kpis:
                close = process.extractOne(key, list(kpis), scorer=fuzz.ratio)
                hint = f" Did you mean '{close[0]}'?" if close and close[1] >= 60 else ""
                raise ConfigError(
                    f"{path_of[kpi.key]}: KPI '{kpi.key}': gap.{role} names '{key}', which is not a KPI.{hint}"
                )


def _check_names_unique(kpis: dict[str, Kpi], path_of: dict[str, Path]) -> None:
    """Two KPIs answering to the same name would make questions ambiguous: refuse at start."""
    seen: dict[str, str] = {}
    for kpi in kpis.values():
        for name in {normalise(n) for n in (kpi.key, kpi.label, *kpi.aliases)}:
            other = seen.setdefault(name, kpi.key)
            if other != kpi.key:
                raise ConfigError(
                    f"{path_of[kpi.key]}: the name '{name}' is used by both '{other}' and '{kpi.key}'. "
                    "Remove it from the aliases of one of them."
                )
