"""Bulk loading: many rows into one table at once, for the CRM sync (crm/writer.py) and the demo (demo/load.py).

Why one module: both write hundreds of thousands of rows, and both do it the same way. On PostgreSQL (through
psycopg 3, the driver kpi/db.py picks) rows go in with ``COPY ... FROM STDIN`` in COPY's text format, which is
three times faster than an executemany ``INSERT`` and twice as fast as psycopg's own per-value adaptation; the
escaping that format needs lives here once. A load into an empty table can also drop the table's secondary
indexes (and, for the demo, its foreign keys and unique constraints) and rebuild them once at the end
(:func:`drop_indexes`). Elsewhere (SQLite) rows go in with executemany ``INSERT``, in chunks.

psycopg is only ever imported inside the PostgreSQL paths, and numpy and pandas inside the DataFrame ones: no
module of kpi needs them to be imported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.schema import ScalarElementColumnDefault

if TYPE_CHECKING:
    import pandas as pd

#: Rows per executemany when a DataFrame is inserted (SQLite): bounded memory for the Python values.
INSERT_CHUNK = 10_000
#: Rows per COPY write when a DataFrame is copied: formatted while the previous chunk is being sent.
COPY_CHUNK = 200_000
#: COPY's text format: ``\\N`` is NULL, and backslash escapes the characters that separate fields and rows.
NULL = "\\N"
ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def uses_copy(connection: sa.Connection) -> bool:
    """True when rows go in with COPY: PostgreSQL through psycopg."""
    return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg"


def insert_rows(connection: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that all have the same keys, with the column defaults SQLAlchemy would have added:
    ``COPY`` on PostgreSQL, one executemany ``INSERT`` elsewhere."""
    if not rows:
        return
    if not uses_copy(connection):
        connection.execute(sa.insert(table), list(rows))
        return
    keys = list(rows[0])
    defaults = _scalar_defaults(table, keys)
    columns = [*keys, *defaults]
    formats = [_format(table.c[name]) for name in columns]
    constant = tuple(defaults.values())
    values = itemgetter(*keys)  # a tuple when there are two keys or more
    as_tuple = values if len(keys) > 1 else lambda row: (values(row),)
    _copy(connection, table, columns, [_text((as_tuple(row) + constant for row in rows), formats)])


def insert_frame(connection: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Insert a DataFrame's rows (one column per table column), with the column defaults SQLAlchemy would have
    added: ``COPY`` on PostgreSQL, a chunk of rows at a time with each column converted by numpy; executemany
    ``INSERT`` of chunks elsewhere."""
    if not uses_copy(connection):
        for start in range(0, len(frame), INSERT_CHUNK):
            connection.execute(sa.insert(table), _records(table, frame.iloc[start : start + INSERT_CHUNK]))
        return
    defaults = _scalar_defaults(table, frame.columns)
    if defaults:
        frame = frame.assign(**defaults)
    chunks = (frame.iloc[start : start + COPY_CHUNK] for start in range(0, len(frame), COPY_CHUNK))
    _copy(connection, table, list(frame.columns), map(_frame_text, chunks), queued=True)


def _scalar_defaults(table: sa.Table, present: Iterable[str]) -> dict[str, Any]:
    """The constant defaults of the columns not given, which an ``INSERT`` through SQLAlchemy would add (COPY
    would leave them NULL)."""
    given = set(present)
    return {
        column.name: column.default.arg
        for column in table.columns
        if isinstance(column.default, ScalarElementColumnDefault) and column.name not in given
    }


def _copy(
    connection: sa.Connection, table: sa.Table, columns: list[str], texts: Iterable[str], *, queued: bool = False
) -> None:
    """``COPY table (columns) FROM STDIN`` with each of ``texts`` (rows in COPY's text format) written in turn.

    ``queued``: a writer thread sends one text while the next is being formatted, which pays when there are
    several (a DataFrame of a million rows), not for a sync page written in one piece.
    """
    from psycopg import sql
    from psycopg.copy import QueuedLibpqWriter

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(name) for name in columns)
    )
    driver = connection.connection.driver_connection
    assert driver is not None, "the connection was invalidated"
    with driver.cursor() as cursor:
        writer = QueuedLibpqWriter(cursor) if queued else None
        with cursor.copy(statement, writer=writer) as copy:
            for text in texts:
                copy.write(text)


def _text(rows: Iterable[tuple[Any, ...]], formats: list[Callable[[Any], str]]) -> str:
    """Rows in COPY's text format: tab-separated fields, ``\\N`` for NULL, one line per row."""
    lines = [
        "\t".join(NULL if value is None else write(value) for write, value in zip(formats, row, strict=True))
        for row in rows
    ]
    lines.append("")
    return "\n".join(lines)


def _format(column: sa.Column) -> Callable[[Any], str]:
    """How one column's values are written for COPY (text is escaped; numbers and times are plain)."""
    if isinstance(column.type, sa.JSON):
        return lambda value: json.dumps(value).translate(ESCAPES)
    python_type = column.type.python_type
    if python_type is bool:
        return lambda value: "t" if value else "f"
    if python_type is str:
        return lambda value: value.translate(ESCAPES)
    return str  # int, Decimal, date, datetime: their str() is what PostgreSQL reads


def _frame_text(frame: pd.DataFrame) -> str:
    """A DataFrame's rows in COPY's text format, converted column by column."""
    texts = [_column_texts(frame[name]) for name in frame.columns]
    return "".join(line + "\n" for line in map("\t".join, zip(*texts, strict=True)))


def _column_texts(column: pd.Series) -> list[str]:
    """A column as COPY text values, converted by numpy where possible (pandas' to_csv costs a microsecond
    per value, which is minutes for the big tables)."""
    import numpy as np
    import pandas as pd

    missing = column.isna().to_numpy()
    if column.dtype.kind in "iuf":  # numpy and nullable (Int64) numbers
        texts = column.to_numpy(dtype=np.float64 if column.dtype.kind == "f" else np.int64, na_value=0).astype(str)
    elif column.dtype.kind == "M":
        texts = column.to_numpy().astype(str)  # ISO 8601: 2026-11-18T09:30:00
    elif column.dtype.kind == "b":
        texts = np.where(column.to_numpy(), "t", "f")
    else:  # text and dates: escape each distinct value once (most text columns hold a handful of values)
        codes, distinct = pd.factorize(column)
        escaped = np.array([str(value).translate(ESCAPES) for value in distinct] + [NULL], dtype=object)
        texts = escaped[codes]  # code -1 (missing) picks the last item
    return np.where(missing, NULL, texts).tolist()


def _records(table: sa.Table, frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as dicts of plain Python values (int, float, str, date, datetime, None) for executemany."""
    columns = {name: _python_values(frame[name], table.c[name].type) for name in frame.columns}
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _python_values(column: pd.Series, sql_type: sa.types.TypeEngine) -> Sequence[object]:
    if column.dtype.kind == "M":
        return column.to_numpy().astype("datetime64[us]").astype(object).tolist()
    if isinstance(sql_type, sa.String) and column.dtype.kind in "iu":
        return column.astype(str).tolist()
    return column.astype(object).where(column.notna(), None).tolist()


# -- indexes ----------------------------------------------------------------------------------------------


@dataclass
class DroppedIndexes:
    """What :func:`drop_indexes` dropped, as the database defined it, for :meth:`rebuild` to put back."""

    constraints: list[tuple[str, str, str]] = field(default_factory=list)  # table, quoted name, definition
    indexes: list[tuple[str, str]] = field(default_factory=list)  # name, CREATE INDEX statement

    def __bool__(self) -> bool:
        return bool(self.constraints or self.indexes)

    def rebuild(self, connection: sa.Connection) -> None:
        """Build each index once, by sorting, and check each foreign key with one join."""
        if not self:
            return
        connection.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
        for _name, definition in self.indexes:
            connection.execute(sa.text(definition))
        for table, name, definition in self.constraints:
            connection.execute(sa.text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"))


def drop_indexes(connection: sa.Connection, tables: Iterable[sa.Table], *, constraints: bool) -> DroppedIndexes:
    """On PostgreSQL, drop the tables' secondary indexes for a bulk load (with ``constraints``, their foreign
    keys and unique constraints too) and return the very same definitions, to :meth:`~DroppedIndexes.rebuild`
    after the load in the same transaction.

    Why: checking a foreign key (a locking lookup per row) and maintaining several B-trees row by row makes a
    bulk load several times slower than building each index once by sorting and validating each key with one
    join. Nothing else can see the tables meanwhile (the DDL locks them until commit), and a failed load rolls
    the drops back with everything else. Primary keys stay: other tables' foreign keys need them; so do unique
    constraints without ``constraints`` (an upsert relies on them).

    Nothing is dropped on other databases, nor when the database user may not drop (one that does not own the
    tables): the load then grows the indexes row by row.
    """
    if connection.dialect.name != "postgresql":
        return DroppedIndexes()
    names = {"tables": [table.name for table in tables]}
    dropped = DroppedIndexes()
    if constraints:
        dropped.constraints = [
            tuple(row)
            for row in connection.execute(
                sa.text(
                    "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid)"
                    " FROM pg_constraint WHERE conrelid::regclass::text = ANY(:tables) AND contype IN ('u', 'f')"
                    " ORDER BY contype DESC"
                ),
                names,
            )
        ]  # unique constraints before foreign keys, the order to put them back in
    dropped.indexes = [
        tuple(row)
        for row in connection.execute(
            sa.text(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
                " WHERE i.indrelid::regclass::text = ANY(:tables) AND NOT EXISTS"
                " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)"
            ),
            names,
        )
    ]
    try:
        with connection.begin_nested():
            for table, name, _definition in reversed(dropped.constraints):
                connection.execute(sa.text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
            for name, _definition in dropped.indexes:
                connection.execute(sa.text(f"DROP INDEX {name}"))
    except DBAPIError:
        return DroppedIndexes()
    return dropped


def update_rows(connection: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Update rows by id: each of ``rows`` holds ``_id`` and the new values of the same columns. On PostgreSQL
    one ``UPDATE ... FROM`` the rows as arrays (:func:`literal_rows`; a sync page of 1,000 changed deals at 5M:
    105 ms, against 170-205 ms as an executemany); elsewhere one executemany ``UPDATE``."""
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        connection.execute(sa.update(table).where(table.c.id == sa.bindparam("_id")), list(rows))
        return
    names = [key for key in rows[0] if key != "_id"]
    columns = {"_id": table.c.id.type} | {name: table.c[name].type for name in names}
    changed = literal_rows(connection, "changed", columns, [tuple(row[key] for key in columns) for row in rows])
    statement = sa.update(table).where(table.c.id == changed.c._id)
    connection.execute(statement.values({name: changed.c[name] for name in names}))


#: The most terms SQLite takes in one compound SELECT (its SQLITE_MAX_COMPOUND_SELECT).
SQLITE_UNION = 500


def literal_rows(
    connection: sa.Connection, name: str, columns: Mapping[str, Any], rows: Sequence[tuple]
) -> sa.FromClause:
    """Literal rows as a table of ``columns`` (name to type): on PostgreSQL one ``unnest`` of an array per column
    (a few parameters, whatever the rows), elsewhere a ``UNION ALL`` of one-row selects (SQLite has no arrays), in
    unions of at most :data:`SQLITE_UNION`."""
    if connection.dialect.name == "postgresql":
        arrays = [sa.bindparam(None, [row[k] for row in rows], type_=ARRAY(t)) for k, t in enumerate(columns.values())]
        names = [sa.column(key, t) for key, t in columns.items()]
        return sa.func.unnest(*arrays).table_valued(*names).render_derived(name)
    selects = [
        sa.select(*(sa.literal(v, t).label(key) for v, (key, t) in zip(row, columns.items(), strict=True)))
        for row in rows
    ]
    if len(selects) <= SQLITE_UNION:
        return (sa.union_all(*selects) if len(selects) > 1 else selects[0]).subquery(name)
    # SQLite refuses a compound SELECT of more terms ("too many terms"): a sync page that touched 540 owner-months
    # failed on it. Unions of at most that many, each a subquery, unioned.
    parts = [
        literal_rows(connection, f"{name}_{i}", columns, rows[i : i + SQLITE_UNION])
        for i in range(0, len(rows), SQLITE_UNION)
    ]
    return sa.union_all(*(sa.select(part) for part in parts)).subquery(name)
