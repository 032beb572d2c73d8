"""The CSV mapping, ``csv.yaml``: which file feeds which canonical object, and how each field is read.

The format, in brief (config/csv.yaml is the commented example to copy)::

    source: csv                  # the crm value stored with every record
    timezone: Europe/Paris       # optional; times without a zone are local to it (default org.timezone)
    date_format: "%d/%m/%Y"      # optional strptime formats; ISO 8601 (2024-03-31) by default
    datetime_format: "%d/%m/%Y %H:%M"
    lookups:                     # small reference files, read whole, used by if_empty
      products: {file: products.csv, key: product}
    imports:                     # read in canonical order: teams, reps, accounts, deals, ...
      - file: deals.csv
        object: deals
        id: deal_id              # the column (or {template: ...}) that identifies a record
        distinct: false          # true: many rows share an id (derived records); one record per id
        where: {type: [Call, Meeting]}   # optional: only the rows whose column holds one of these values
        url: "https://crm.example.com/deals/{id}"   # optional: where a record opens ({id}: its id)
        fields:                  # canonical field -> where its value comes from
          name: deal_name                                   # a column
          currency: {value: EUR}                            # a constant
          status: {column: stage, map: {Won: won, ...}}     # a value map (case ignored)
          owner: {column: owner_email, by: email}           # a reference, by id (default), name or email
          amount: {column: amount, if_empty: {lookup: products, by_field: product, take: price}}

A field is given as a column name, or as a mapping with exactly one of ``column``, ``template``
("{first} {last}"), ``value`` or ``columns`` (several columns kept together in a JSON field).

Loading validates the shape with pydantic, then the meaning against the canonical schema (unknown field,
value outside a closed vocabulary, lookup not declared...). Every problem raises
:class:`kpi.config.ConfigError` naming the file, the key and the fix. Columns are checked against the CSV
headers when the connector opens the folder (:mod:`crm.csv_source`).
"""

from __future__ import annotations

import codecs
import difflib
import string
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from crm import canonical
from crm.canonical import ALLOWED_VALUES, OBJECTS
from crm.people import CONFIG_CRM
from kpi.config import ConfigError, Strict, load_model
from kpi.links import template_problem

MAPPING_FILE = "csv.yaml"


class Fallback(Strict):
    """Where a field's value comes from when its column is empty: a lookup file."""

    lookup: str = Field(description="a name declared under lookups:")
    by_field: str = Field(description="a field of this import whose value is looked up in the lookup's key")
    take: str = Field(description="the lookup file's column that holds the value")
    when: dict[str, Any] = Field(default_factory=dict, description="only records whose fields have these values")


class FieldSpec(Strict):
    """Where one canonical field comes from; written as a bare column name in the simple case."""

    column: str | None = None
    template: str | None = None
    value: Any = None
    columns: list[str] | None = None
    map: dict[str, Any] | None = None
    unmapped: Literal["reject", "keep", "empty"] = "reject"
    format: str | None = None
    by: Literal["id", "name", "email"] = "id"
    if_empty: Fallback | None = None
    required: bool = False
    decimal: Literal[".", ","] | None = Field(None, description="the decimal mark of this column's numbers")

    @model_validator(mode="before")
    @classmethod
    def _column_shorthand(cls, data: Any) -> Any:
        return {"column": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        given = [name for name in ("column", "template", "value", "columns") if name in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("give exactly one of column, template, value or columns")
        return self

    @property
    def source_columns(self) -> list[str]:
        """The CSV columns this field reads."""
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return [name for _, name, _, _ in string.Formatter().parse(self.template) if name is not None]
        return list(self.columns or [])

    def describe(self) -> str:
        """How an admin would name the source of this field in a message."""
        return self.column or (f"template {self.template!r}" if self.template else "value")


class Import(Strict):
    """One file feeding one canonical object; ``where`` keeps only the rows whose columns hold one of the
    given values (case ignored), so that one export can feed two objects (calls and meetings, say)."""

    file: str
    object: str
    id: FieldSpec
    distinct: bool = False
    where: dict[str, str | list[str]] = Field(default_factory=dict)
    fields: dict[str, FieldSpec]
    url: str | None = Field(None, description="where a record opens in the CRM: {id} and the record's fields")

    @field_validator("where", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        as_text: dict[Any, str | list[str]] = {}
        for column, allowed in value.items():
            if isinstance(allowed, list):
                as_text[column] = ["" if item is None else str(item) for item in allowed]
            else:
                as_text[column] = "" if allowed is None else str(allowed)
        return as_text

    @field_validator("object")
    @classmethod
    def _known_object(cls, value: str) -> str:
        if value not in OBJECTS:
            raise ValueError(f"expected one of {', '.join(OBJECTS)}")
        return value


class Lookup(Strict):
    file: str
    key: str


class CsvMapping(Strict):
    source: str = Field("csv", pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$")
    encoding: str = Field("utf-8-sig", description="the files' encoding: utf-8-sig (with or without BOM), cp1252...")
    decimal: Literal[".", ","] = Field(".", description='the decimal mark of the numbers: "." (1,234.50) or ","')
    delimiter: str = Field(",", min_length=1, max_length=1)
    timezone: str | None = None
    date_format: str | None = None
    datetime_format: str | None = None
    lookups: dict[str, Lookup] = Field(default_factory=dict)
    imports: list[Import] = Field(min_length=1)

    @field_validator("source")
    @classmethod
    def _not_config(cls, value: str) -> str:
        if value == CONFIG_CRM:
            raise ValueError(f"{CONFIG_CRM!r} is reserved for people.yaml; choose another name")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError("expected a Python encoding name such as utf-8-sig, latin-1 or cp1252") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError("expected an IANA time zone such as UTC or Europe/Paris") from exc
        return value


def load_csv_mapping(config_dir: Path) -> CsvMapping:
    """Read and validate ``csv.yaml`` from the config folder."""
    path = config_dir / MAPPING_FILE
    if not path.exists():
        raise ConfigError(f"{path}: not found. Copy config/csv.yaml there and adapt it to your export.")
    mapping = load_model(CsvMapping, path)
    problems = list(_problems(mapping))
    if problems:
        raise ConfigError("\n".join(f"{path}: {problem}." for problem in problems))
    return mapping


def _problems(mapping: CsvMapping) -> Iterator[str]:
    """Check the mapping's meaning against the canonical schema; yield one sentence per problem."""
    for index, item in enumerate(mapping.imports):
        key = f"imports.{index}"
        spec = canonical.spec(item.object)
        if item.id.column is None and item.id.template is None:
            yield f"key '{key}.id': give the id as a column name or {{template: ...}}"
        for name, field in item.fields.items():
            yield from _field_problems(mapping, item, name, field, f"{key}.fields.{name}")
        missing = sorted(spec.required - set(item.fields))
        if missing:
            yield f"key '{key}.fields': {item.object} need {', '.join(missing)}; add them"
        if item.url is not None and (problem := template_problem(item.url, set(item.fields) & set(spec.columns))):
            yield f"key '{key}.url': {problem}"


def _field_problems(mapping: CsvMapping, item: Import, name: str, field: FieldSpec, key: str) -> Iterator[str]:
    spec = canonical.spec(item.object)
    reference = spec.references.get(f"{name}_crm_id")
    if name not in spec.columns and reference is None:
        names = [*spec.columns, *(ref.name for ref in spec.references.values())]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"Did you mean '{close[0]}'?" if close else f"Known fields: {', '.join(names)}"
        yield f"key '{key}': {item.object} have no field '{name}'. {hint}"
        return
    kind = "reference" if reference else spec.kind(name)
    if field.by != "id" and reference is None:
        yield f"key '{key}.by': only references (owner, account, team...) are looked up by name or email"
    if field.decimal is not None and kind not in ("decimal", "integer"):
        yield f"key '{key}.decimal': only numbers have a decimal mark"
    if field.format is not None and kind not in ("date", "datetime"):
        yield f"key '{key}.format': only dates and times have a format"
    if field.columns is not None and kind != "json":
        yield f"key '{key}.columns': only a JSON field (attributes) keeps several columns; give one column"
    if kind == "json" and field.columns is None:
        yield f"key '{key}': '{name}' keeps several columns together: write {{columns: [a, b]}}"
    allowed = ALLOWED_VALUES.get((item.object, name))
    if allowed:
        given = [field.value] if field.value is not None else list((field.map or {}).values())
        for value in given:
            if value is not None and value not in allowed:
                yield f"key '{key}': {value!r} is not one of {', '.join(allowed)}"
    if field.if_empty is not None:
        yield from _fallback_problems(mapping, item, name, field.if_empty, f"{key}.if_empty")


def _fallback_problems(mapping: CsvMapping, item: Import, name: str, fallback: Fallback, key: str) -> Iterator[str]:
    if fallback.lookup not in mapping.lookups:
        declared = ", ".join(mapping.lookups) or "none"
        yield f"key '{key}.lookup': no lookup named '{fallback.lookup}' under lookups: (declared: {declared})"
    if fallback.by_field not in item.fields or fallback.by_field == name:
        yield f"key '{key}.by_field': expected another field of this import, such as product"
    for field, value in fallback.when.items():
        allowed = ALLOWED_VALUES.get((item.object, field))
        if field not in item.fields:
            yield f"key '{key}.when.{field}': expected a field of this import"
        elif allowed and value not in allowed:
            yield f"key '{key}.when.{field}': {value!r} is not one of {', '.join(allowed)}"
