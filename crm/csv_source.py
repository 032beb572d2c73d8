"""The CSV connector: a folder of CSV exports, read through the mapping in ``csv.yaml``.

``csv_connector(folder, config_dir)`` loads the mapping (:mod:`crm.csv_mapping`) and the org time zone,
checks every file and column it names, and returns a :class:`crm.interface.Connector` for the sync runner.
A CSV folder is always a complete export, so it is synced with ``full=True``: a row removed from a file
is marked deleted on the next sync.

Each file is streamed with the ``csv`` module, one page of rows at a time. Rows that cannot be read
(unparseable date, unknown stage, negative amount, missing id, duplicate id...) are rejected with the
file, the line number as a spreadsheet shows it (the header is line 1) and the reason; the rest import.

What stays in memory besides a page: the lookup files (small reference data), the ids read so far per
object (to report duplicates), and the records of ``distinct`` imports (one per manager, office...).
"""

from __future__ import annotations

import collections
import csv
import functools
import re
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from crm import canonical
from crm.canonical import Problem
from crm.csv_mapping import MAPPING_FILE, CsvMapping, Fallback, FieldSpec, Import, load_csv_mapping
from crm.csv_values import NumberFormat, converter, identity
from crm.interface import Page, Reject
from kpi.config import ConfigError, load_org

#: Records (and rejects) per page handed to the runner.
PAGE_SIZE = 2000
#: From this size (all the mapped files together), an export is read in a process of its own.
PROCESS_FROM_BYTES = 16 * 1024**2

Row = Sequence[str]
Reader = Callable[[Row], Any]

AMBIGUOUS = object()  # marks a name shared by several people in a by-name index


def csv_connector(
    folder: Path, config_dir: Path, *, page_size: int = PAGE_SIZE, process_from: int | None = PROCESS_FROM_BYTES
) -> CsvConnector:
    """The connector for the CSV files in ``folder``, mapped by ``config_dir``/csv.yaml.

    An export of ``process_from`` bytes or more is read in a process of its own while the database writes
    (parsing is CPU work: a thread would take turns with the writer); None never does.
    """
    mapping = load_csv_mapping(config_dir)
    timezone = mapping.timezone or load_org(config_dir).timezone
    connector = CsvConnector(Path(folder), mapping, zoneinfo.ZoneInfo(timezone), config_dir / MAPPING_FILE, page_size)
    if process_from is not None and connector.size() >= process_from:
        connector.reopen = functools.partial(csv_connector, folder, config_dir, page_size=page_size, process_from=None)
    return connector


class CsvConnector:
    """Reads the imports of a :class:`CsvMapping`, one canonical object at a time."""

    def __init__(
        self, folder: Path, mapping: CsvMapping, timezone: zoneinfo.ZoneInfo, mapping_path: Path, page_size: int
    ) -> None:
        if not folder.is_dir():
            raise ConfigError(f"{folder}: no such folder. Give the folder that holds the CSV files.")
        self.folder = folder
        self.mapping = mapping
        self.timezone = timezone
        self.mapping_path = mapping_path
        self.page_size = page_size
        self.source = mapping.source
        self.objects = tuple(dict.fromkeys(item.object for item in mapping.imports))
        # object -> "name"/"email" -> folded value -> crm_id, for references by name or email
        self.indexes: dict[str, dict[str, dict[str, Any]]] = {}
        # object -> crm_id -> (import number, line) where it was first read, to report duplicates
        self.seen: dict[str, dict[str, tuple[int, int]]] = {}
        self.lookup_headers: dict[str, list[str]] = {}
        self.lookups = {name: self._load_lookup(name) for name in mapping.lookups}
        self.readers = [_ImportReader(self, index, item) for index, item in enumerate(mapping.imports)]
        #: Set for a large export: builds this connector again in the process that reads it (crm.reading).
        self.reopen: Callable[[], CsvConnector] | None = None

    def links(self) -> dict[str, str]:
        """The ``url:`` templates csv.yaml gives, by object (the first import of an object that gives one)."""
        links: dict[str, str] = {}
        for item in self.mapping.imports:
            if item.url is not None:
                links.setdefault(item.object, item.url)
        return links

    def size(self) -> int:
        """The bytes of the files the mapping reads."""
        files = {item.file for item in self.mapping.imports}
        return sum((self.folder / name).stat().st_size for name in files if (self.folder / name).is_file())

    def read(self, object: str, cursor: str | None = None) -> Iterator[Page]:
        """Yield the pages of every import of ``object``; a CSV export has no cursor.

        An import that names records of an object read later by name or email (a team's manager by email:
        teams come before people) first has that object read once to index those names and emails.
        """
        for target in self._named_ahead(object):
            for _ in self._pages(target):
                pass
        yield from self._pages(object)

    def _pages(self, object: str) -> Iterator[Page]:
        self.seen[object] = {}
        for by in self.indexes.get(object, {}).values():
            by.clear()
        for reader in self.readers:
            if reader.item.object == object:
                yield from reader.pages()

    def _named_ahead(self, object: str) -> list[str]:
        """The objects, read after ``object``, that its imports refer to by name or email."""
        order = canonical.OBJECTS.index(object)
        return sorted(
            {
                target
                for reader in self.readers
                if reader.item.object == object
                for target in reader.named_targets
                if canonical.OBJECTS.index(target) > order
            }
        )

    # -- files ---------------------------------------------------------------------------------------

    def open(self, name: str, key: str) -> tuple[TextIO, list[str]]:
        """Open a CSV file of the folder; return the file and its header (ConfigError if missing).

        Bytes that are not text in the mapping's encoding are kept as escapes, so that one bad row is
        rejected with its line (:class:`_Lines`) instead of failing the file; a header that is not
        text means the encoding is wrong, which the admin must fix.
        """
        path = self.folder / name
        if not path.is_file():
            self.fail(key, name, f"no such file in {self.folder}")
        handle = path.open(newline="", encoding=self.mapping.encoding, errors="surrogateescape")
        header = next(csv.reader(handle, delimiter=self.mapping.delimiter), [])
        if any(_undecodable(cell) for cell in header):
            handle.close()
            raise ConfigError(
                f"{self.folder / name}: this is not {self.mapping.encoding} text. Set 'encoding:' in "
                f"{self.mapping_path} to the export's encoding, for example latin-1 or cp1252."
            )
        handle.seek(0)
        return handle, [cell.strip() for cell in header]

    def column(self, header: list[str], column: str, file: str, key: str) -> int:
        if column not in header:
            self.fail(key, column, f"{file} has no such column (its columns: {', '.join(header)})")
        return header.index(column)

    def fail(self, key: str, value: Any, message: str) -> None:
        raise ConfigError(f"{self.mapping_path}: key '{key}' has value {value!r}: {message}.")

    def _load_lookup(self, name: str) -> dict[str, dict[str, str]]:
        """A lookup file, read whole: folded key -> {column: value} (the first row of a key wins)."""
        lookup = self.mapping.lookups[name]
        handle, header = self.open(lookup.file, f"lookups.{name}.file")
        self.column(header, lookup.key, lookup.file, f"lookups.{name}.key")
        self.lookup_headers[name] = header
        table: dict[str, dict[str, str]] = {}
        with handle:
            for _, row in self.rows(handle, len(header)):
                if not isinstance(row, Problem):  # a malformed reference row can only mislead: skip it
                    values = dict(zip(header, (cell.strip() for cell in row), strict=True))
                    table.setdefault(values.get(lookup.key, "").casefold(), values)
        return table

    def rows(self, handle: TextIO, width: int) -> Iterator[tuple[int, list[str] | Problem]]:
        """The data rows of an open CSV file with their line numbers (the header is line 1).

        A row that cannot be read as ``width`` values comes as a :class:`Problem` instead: too few or too
        many values, a quote that never closes or is followed by text, a NUL byte, bytes that are not
        text. When such a row spans several lines (a quote opened and never closed swallows the lines
        after it), only its first line is rejected and the lines after it are read again as rows.
        """
        lines = _Lines(handle)
        header = True
        while True:
            reader = csv.reader(lines, delimiter=self.mapping.delimiter, strict=True)
            try:
                for row in reader:
                    taken, damage = lines.take()
                    if header:
                        header = False
                    elif damage:
                        yield taken[0][0], Problem(damage)
                    elif len(row) == width:
                        yield taken[0][0], row
                    elif any(row):  # a blank line is no row
                        yield taken[0][0], Problem(_width_problem(row, width, len(taken)))
                        lines.give_back(taken[1:])
                        break
                else:
                    return
            except csv.Error as error:
                taken, damage = lines.take()
                yield taken[0][0], Problem(damage or _csv_problem(error))
                lines.give_back(taken[1:])

    def index(self, object: str, by: str) -> dict[str, Any]:
        return self.indexes.setdefault(object, {}).setdefault(by, {})


class _ImportReader:
    """One import compiled into functions of a CSV row, so reading a row does no mapping work."""

    def __init__(self, connector: CsvConnector, index: int, item: Import) -> None:
        self.connector = connector
        self.item = item
        self.number = index
        self.key = f"imports.{index}"
        self.firsts: dict[str, dict[str, Any]] = {}  # crm_id -> first record, for a distinct import
        self.spec = canonical.spec(item.object)
        handle, self.header = connector.open(item.file, f"{self.key}.file")
        handle.close()
        self.read_id = self._compile(item.id, "text", f"{self.key}.id")
        self.keep = self._filter(item.where, f"{self.key}.where")
        self.named_targets: set[str] = set()  # objects this import refers to by name or email
        self.fields: list[tuple[str, Reader]] = []
        self.fallbacks: list[tuple[str, Callable[[dict[str, Any]], Any]]] = []
        for name, field in item.fields.items():
            key = f"{self.key}.fields.{name}"
            reference = self.spec.references.get(f"{name}_crm_id")
            if reference is not None:
                read = self._compile(field, "text", key)
                if field.by != "id":
                    read = self._by(read, field, reference.target)
                    self.named_targets.add(reference.target)
                self.fields.append((reference.field, read))
            else:
                self.fields.append((name, self._compile(field, self.spec.kind(name), key, name)))
            if field.if_empty is not None:
                self.fallbacks.append((name, self._fallback(field.if_empty, name, key)))

    # -- reading -------------------------------------------------------------------------------------

    def pages(self) -> Iterator[Page]:
        handle, _ = self.connector.open(self.item.file, f"{self.key}.file")
        self.firsts.clear()
        with handle:
            page = Page(locations=[])
            for line, row in self.connector.rows(handle, len(self.header)):
                if self.keep is not None and not isinstance(row, Problem) and not self.keep(row):
                    continue
                self._read(row, line, page)
                if len(page.records) + len(page.rejects) >= self.connector.page_size:
                    yield page
                    page = Page(locations=[])
            if page.records or page.rejects:
                yield page

    def _read(self, row: list[str] | Problem, line: int, page: Page) -> None:
        """Add the row's record to the page, or its reject."""
        location = f"{self.item.file} line {line}"
        if isinstance(row, Problem):
            page.rejects.append(Reject(self.item.object, location, str(row), {}, None))
            return
        crm_id = None
        try:
            crm_id = self.read_id(row)
            if crm_id is None:
                raise Problem(f"missing id: {self.item.id.describe()} is empty")
            record = self._record(crm_id, row)
            if self._repeated(crm_id, record, line):
                return
        except Problem as problem:
            raw = dict(zip(self.header, row, strict=False))
            page.rejects.append(Reject(self.item.object, location, str(problem), raw, crm_id))
            return
        page.records.append(record)
        page.locations.append(location)
        for by, index in self.connector.indexes.get(self.item.object, {}).items():
            if record.get(by):
                folded = record[by].casefold()
                index[folded] = AMBIGUOUS if index.get(folded, crm_id) != crm_id else crm_id

    def _record(self, crm_id: str, row: Row) -> dict[str, Any]:
        record = {"crm_id": crm_id}
        for name, read in self.fields:
            record[name] = read(row)
        for name, fill in self.fallbacks:
            if record[name] is None:
                record[name] = fill(record)
        return record

    def _repeated(self, crm_id: str, record: dict[str, Any], line: int) -> bool:
        """True for a repeat of a distinct record (skip it); Problem for a duplicate id."""
        first = self.connector.seen[self.item.object].setdefault(crm_id, (self.number, line))
        if first == (self.number, line):
            if self.item.distinct:
                self.firsts[crm_id] = dict(record)  # the runner changes the record it gets
            return False
        where = f"{self.connector.readers[first[0]].item.file} line {first[1]}"
        earlier = self.firsts.get(crm_id) if first[0] == self.number else None
        if earlier is None:
            raise Problem(f"duplicate id {crm_id!r}, already read on {where}")
        for name, value in record.items():
            if earlier[name] != value:
                field = name.removesuffix("_crm_id")
                raise Problem(f"{crm_id!r} was read on {where} with {field} {earlier[name]!r}, not {value!r}")
        return True

    # -- compiling fields ----------------------------------------------------------------------------

    def _compile(self, field: FieldSpec, kind: str, key: str, name: str = "") -> Reader:
        """A function of a row giving the field's canonical value (or raising Problem)."""
        number = self._number(name, field.decimal)
        convert = converter(kind, self._formats(field, kind), self.connector.timezone, number)
        if "value" in field.model_fields_set:
            try:
                constant = None if field.value is None else convert(str(field.value))
            except Problem as problem:
                self.connector.fail(f"{key}.value", field.value, str(problem))
            return lambda row: constant
        read = self._raw(field, key)
        if field.map is not None:
            read = _mapped(read, field, field.map)
        if field.required:
            read = _required(read, field.describe())
        return read if convert is identity else _converted(read, convert)

    def _filter(self, where: dict[str, str | list[str]], key: str) -> Callable[[Row], bool] | None:
        """The test of ``where:``: every named column holds one of its values (case and spaces ignored)."""
        if not where:
            return None
        tests = []
        for column, allowed in where.items():
            index = self.connector.column(self.header, column, self.item.file, f"{key}.{column}")
            values = allowed if isinstance(allowed, list) else [allowed]
            tests.append((index, frozenset(value.strip().casefold() for value in values)))
        return lambda row: all(row[index].strip().casefold() in values for index, values in tests)

    def _raw(self, field: FieldSpec, key: str) -> Reader:
        """The stripped text of the field's column(s); None when empty."""
        file = self.item.file
        if field.column is not None:
            index = self.connector.column(self.header, field.column, file, f"{key}.column")
            return lambda row: row[index].strip() or None
        if field.template is not None:
            template, names = field.template, field.source_columns
            indexes = [self.connector.column(self.header, name, file, f"{key}.template") for name in names]

            def read_template(row: Row) -> str | None:
                values = [row[index].strip() for index in indexes]
                return template.format_map(dict(zip(names, values, strict=True))) if all(values) else None

            return read_template
        names = field.source_columns  # the field's columns: neither column nor template is given
        columns = {name: self.connector.column(self.header, name, file, f"{key}.columns") for name in names}
        return lambda row: {name: row[i].strip() for name, i in columns.items() if row[i].strip()} or None

    def _number(self, name: str, decimal: str | None = None) -> NumberFormat:
        """How field ``name``'s numbers are written: its decimal mark (the column's, else the mapping's), and
        whether it is a rate ("40%")."""
        return NumberFormat(decimal or self.connector.mapping.decimal, (self.item.object, name) in canonical.RATES)

    def _formats(self, field: FieldSpec, kind: str) -> list[str]:
        mapping = self.connector.mapping
        if field.format is not None:
            return [field.format]
        if kind == "datetime":
            return [fmt for fmt in (mapping.datetime_format, mapping.date_format) if fmt]
        return [mapping.date_format] if kind == "date" and mapping.date_format else []

    def _by(self, read: Reader, field: FieldSpec, target: str) -> Reader:
        """Turn a name or email into the crm_id of the record of ``target`` that has it."""
        index = self.connector.index(target, field.by)

        def crm_id(row: Row) -> str | None:
            value = read(row)
            if value is None:
                return None
            found = index.get(value.casefold())
            if found is None:
                raise Problem(f"unknown {field.describe()} {value!r}: no {target} record has this {field.by}")
            if found is AMBIGUOUS:
                raise Problem(f"{field.describe()} {value!r} is the {field.by} of several {target} records")
            return found

        return crm_id

    def _fallback(self, fallback: Fallback, name: str, key: str) -> Callable[[dict[str, Any]], Any]:
        """Fill an empty field from a lookup file, for records matching ``when`` (a field's ``if_empty``)."""
        lookup = self.connector.lookups[fallback.lookup]
        header, file = self.connector.lookup_headers[fallback.lookup], self.connector.mapping.lookups[fallback.lookup]
        self.connector.column(header, fallback.take, file.file, f"{key}.take")
        convert = converter(self.spec.kind(name), [], self.connector.timezone, self._number(name))
        by_key = self._record_key(fallback.by_field)
        when = [(self._record_key(other), value) for other, value in fallback.when.items()]

        def fill(record: dict[str, Any]) -> Any:
            if not all(record.get(other) == value for other, value in when):
                return None
            row = lookup.get(str(record.get(by_key)).casefold())
            text = row[fallback.take] if row else ""
            return convert(text) if text else None

        return fill

    def _record_key(self, name: str) -> str:
        """The key of a mapped field in the record: references are given by crm_id."""
        reference = self.spec.references.get(f"{name}_crm_id")
        return reference.field if reference else name


class _Lines:
    """The physical lines of a CSV file, numbered, for a ``csv.reader`` that may need to read some again.

    :meth:`take` hands over the lines of the row just read (and what damages them); :meth:`give_back`
    puts lines back to be read again, after a row that swallowed them was rejected.
    """

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.number = 0
        self.pending: collections.deque[tuple[int, str]] = collections.deque()
        self.taken: list[tuple[int, str]] = []
        self.damage: str | None = None

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pending:
            number, text = self.pending.popleft()
        else:
            text = next(self.handle)
            self.number += 1
            number = self.number
        self.taken.append((number, text))
        if "\x00" in text:
            self.damage = "a NUL byte in the row (the file is damaged, or not text)"
        elif not text.isascii() and _undecodable(text):
            self.damage = "bytes that are not text in the file's encoding (set 'encoding:' in the mapping)"
        return text

    def take(self) -> tuple[list[tuple[int, str]], str | None]:
        taken, damage = self.taken, self.damage
        self.taken, self.damage = [], None
        return taken, damage

    def give_back(self, lines: list[tuple[int, str]]) -> None:
        self.pending.extendleft(reversed(lines))


def _undecodable(text: str) -> bool:
    """True when ``text`` holds bytes its encoding could not decode (kept as lone surrogates)."""
    return _ESCAPED_BYTES.search(text) is not None


_ESCAPED_BYTES = re.compile("[\udc80-\udcff]")


def _width_problem(row: list[str], width: int, lines: int) -> str:
    problem = f"{len(row)} values but the header has {width} columns"
    if lines > 1:
        problem += " (a quote opened in this row never closes)"
    return problem


def _csv_problem(error: csv.Error) -> str:
    reason = str(error)
    if "unexpected end of data" in reason:
        return "a quote opened in this row never closes"
    if "expected after" in reason:
        return "a quote in this row does not close where its value ends"
    return f"malformed CSV: {reason}"


def _mapped(read: Reader, field: FieldSpec, value_map: dict[str, Any]) -> Reader:
    """Apply the field's value map (case ignored); an unmapped value is rejected, kept or emptied."""
    table = {str(key).casefold(): value for key, value in value_map.items()}
    known = ", ".join(str(key) for key in value_map)

    def mapped(row: Row) -> Any:
        value = read(row)
        if value is None:
            return None
        found = table.get(value.casefold(), table)
        if found is not table:
            return found
        if field.unmapped == "keep":
            return value
        if field.unmapped == "empty":
            return None
        raise Problem(f"unknown {field.describe()} {value!r} (the mapping knows {known})")

    return mapped


def _required(read: Reader, what: str) -> Reader:
    def required(row: Row) -> Any:
        value = read(row)
        if value is None:
            raise Problem(f"{what} is empty")
        return value

    return required


def _converted(read: Reader, convert: Callable[[str], Any]) -> Reader:
    def converted(row: Row) -> Any:
        value = read(row)
        return convert(value) if isinstance(value, str) else value

    return converted
