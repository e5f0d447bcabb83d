"""Statements of the hot paths (a create, an action, the relay) straight on the database driver.

SQLAlchemy costs 30-90 microseconds a statement before the database sees it (compilation cache keys,
parameter processing, result wrapping, the ORM's session bookkeeping); the driver itself takes 2-3 (measured
on SQLite, the README's Performance). A create runs half a dozen statements: that overhead was most of its time.

So the hot paths keep SQLAlchemy's tables, types and transactions (a unit of work runs in the session's
transaction, on its connection) but hand a few fixed statements to the driver:

- SQL is written once with ``?`` placeholders; for psycopg they become ``%s``.
- A driver error is raised as SQLAlchemy's own (``IntegrityError``, ``OperationalError`` ...), exactly as
  if SQLAlchemy had run the statement, so every caller's error handling holds.
- Values are bound through each column's own SQLAlchemy bind processor, so what is stored is exactly what
  SQLAlchemy would store (SQLite keeps a UTC datetime as ``YYYY-MM-DD HH:MM:SS.ffffff`` text; PostgreSQL
  gets the aware datetime). Reads return plain columns (text, numbers, bytes), except a
  :class:`RowByKey`, whose values go through each column's result processor as SQLAlchemy would.

Nothing here builds SQL from input: table and column names come from the models.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session


def connection_of(session: Session) -> Connection:
    """The session's connection in its transaction (begun if it was not), remembered for the session's
    life: asking the session each time costs more than a statement."""
    found = session.info.get(_CONNECTION)
    if found is None:
        found = session.info[_CONNECTION] = session.connection()
    connection: Connection = found
    return connection


_CONNECTION = "rujukan_connection"


def driver(connection: Connection) -> Any:
    """The DBAPI connection under a SQLAlchemy connection (in its transaction)."""
    return connection.connection.driver_connection


def placeholders(sql: str, dialect: Dialect) -> str:
    """``sql`` (written with ``?``) in the driver's parameter style."""
    return sql if dialect.paramstyle == "qmark" else sql.replace("%", "%%").replace("?", "%s")


class Insert:
    """``INSERT INTO table (columns) VALUES (...)`` for rows given as mappings, bound as SQLAlchemy binds."""

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect) -> None:
        self.columns = tuple(columns)
        names = ", ".join(f'"{name}"' for name in self.columns)
        marks = ", ".join("?" for _ in self.columns)
        # names from the table's own metadata, values bound: nothing of a request reaches the SQL text
        self.sql = placeholders(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', dialect)  # noqa: S608
        binds = [binder(table, name, dialect) for name in self.columns]
        self._processed = [(index, bind) for index, bind in enumerate(binds) if bind is not _same]

    def params(self, row: Mapping[str, Any]) -> list[Any]:
        values = [row[name] for name in self.columns]
        for index, bind in self._processed:  # most columns (text, numbers) go to the driver as they are
            values[index] = bind(values[index])
        return values

    def run(self, connection: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        params = [self.params(row) for row in rows]
        with _cursor(connection, self.sql) as cursor:
            cursor.executemany(self.sql, params)


_BUILT_INSERTS: dict[tuple[str, str, tuple[str, ...]], Insert] = {}


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (mappings with the first one's keys) through an :class:`Insert` built once per
    dialect, table and columns."""
    if not rows:
        return
    key = (connection.dialect.name, table.name, tuple(rows[0]))
    statement = _BUILT_INSERTS.get(key)
    if statement is None:
        statement = _BUILT_INSERTS[key] = Insert(table, key[2], connection.dialect)
    statement.run(connection, rows)


class Upsert(Insert):
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET`` the other columns (SQLite 3.24+ and PostgreSQL)."""

    def __init__(self, table: Table, columns: Sequence[str], keys: Sequence[str], dialect: Dialect) -> None:
        super().__init__(table, columns, dialect)
        conflict = ", ".join(f'"{name}"' for name in keys)
        updates = ", ".join(f'"{name}" = excluded."{name}"' for name in self.columns if name not in keys)
        self.sql = f"{self.sql} ON CONFLICT ({conflict}) DO UPDATE SET {updates}"


class RowByKey:
    """``SELECT`` every column of ``table`` ``WHERE`` each key column equals its value: the one row as a
    named tuple whose values are what SQLAlchemy would read (each through its column's result processor:
    an aware datetime from SQLite's text, for example), or None."""

    def __init__(self, table: Table, keys: Sequence[str], dialect: Dialect) -> None:
        self.columns = tuple(table.c.keys())
        names = ", ".join(f'"{name}"' for name in self.columns)
        where = " AND ".join(f'"{name}" = ?' for name in keys)
        # names from the table's own metadata, values bound
        self.sql = placeholders(f'SELECT {names} FROM "{table.name}" WHERE {where}', dialect)  # noqa: S608
        self._binds = [binder(table, name, dialect) for name in keys]
        types = [table.c[name].type.dialect_impl(dialect) for name in self.columns]
        self._reads = [kind.result_processor(dialect, None) for kind in types]
        self._row: Callable[..., Any] = namedtuple(f"{table.name}_row", self.columns)  # type: ignore[misc]

    def one(self, connection: Connection, key: Sequence[Any]) -> Any:
        found = fetch_one(connection, self.sql, [bind(value) for bind, value in zip(self._binds, key, strict=True)])
        if found is None:
            return None
        values = zip(self._reads, found, strict=True)
        return self._row(*(value if read is None else read(value) for read, value in values))


def binder(table: Table, name: str, dialect: Dialect) -> Callable[[Any], Any]:
    """What SQLAlchemy does to a value of this column before the driver gets it."""
    processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    return processor if processor is not None else _same


def _same(value: Any) -> Any:
    return value


def fetch_one(connection: Connection, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """The first row of a query (``sql`` in the driver's style, see ``placeholders``), or None."""
    with _cursor(connection, sql) as cursor:
        cursor.execute(sql, tuple(params))
        row = cursor.fetchone()
    return None if row is None else tuple(row)


def fetch_all(connection: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row of a query (``sql`` in the driver's style), bytes as bytes."""
    with _cursor(connection, sql) as cursor:
        cursor.execute(sql, tuple(params))
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cursor.fetchall()]


def execute(connection: Connection, sql: str, params: Sequence[Any]) -> int:
    """Run one statement (``sql`` in the driver's style); the number of rows it changed."""
    with _cursor(connection, sql) as cursor:
        cursor.execute(sql, tuple(params))
        return int(cursor.rowcount)


def execute_many(connection: Connection, sql: str, params: Iterable[Sequence[Any]]) -> None:
    """Run one statement once for each parameter tuple (values the driver takes as they are: numbers,
    text, None)."""
    with _cursor(connection, sql) as cursor:
        cursor.executemany(sql, [tuple(row) for row in params])


@contextmanager
def _cursor(connection: Connection, sql: str) -> Iterator[Any]:
    """A driver cursor whose errors come out as SQLAlchemy's (the statement named, never its values)."""
    dbapi = connection.dialect.loaded_dbapi
    cursor = driver(connection).cursor()
    try:
        yield cursor
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, None, exc, dbapi.Error, hide_parameters=True) from exc
    finally:
        cursor.close()
