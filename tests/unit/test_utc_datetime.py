"""``UTCDateTime`` binds a value on SQLite in one call; the text must be SQLAlchemy's own, byte for byte
(SQLite compares and orders datetimes as this text, so rows written either way must agree)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite

from rujukan.core.db import UTCDateTime

SQLITE = sqlite.dialect()
POSTGRESQL = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
WIB, NEWFOUNDLAND = dt.timezone(dt.timedelta(hours=7)), dt.timezone(-dt.timedelta(hours=3, minutes=30))
VALUES = [
    dt.datetime(2026, 12, 6, 21, 1, 40, 123456, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 6, 21, 1, 40, tzinfo=dt.UTC),  # no microseconds: still six digits
    dt.datetime(2026, 12, 7, 2, 0, 0, 7, tzinfo=WIB),  # the day before in UTC
    dt.datetime(2026, 12, 31, 22, 30, 0, 999999, tzinfo=NEWFOUNDLAND),  # the year after in UTC
    dt.datetime(1, 1, 1, tzinfo=dt.UTC),
    dt.datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=dt.UTC),  # a three-digit year, padded
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    None,
]


def sqlalchemys(value: dt.datetime | None) -> str | None:
    """The text SQLAlchemy itself gives: the decorator's UTC value through SQLite's ``DATETIME`` processor."""
    process = DateTime(timezone=True).dialect_impl(SQLITE).bind_processor(SQLITE)
    assert process is not None
    return process(None if value is None else value.astimezone(dt.UTC))  # type: ignore[no-any-return]


@pytest.mark.parametrize("value", VALUES, ids=str)
def test_the_sqlite_bind_is_sqlalchemys_text(value: dt.datetime | None) -> None:
    bind = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert bind is not None
    assert bind(value) == sqlalchemys(value)


def test_a_naive_datetime_is_refused_on_every_backend() -> None:
    for dialect in (SQLITE, POSTGRESQL):
        bind = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
        assert bind is not None
        with pytest.raises(ValueError, match="naive"):
            bind(dt.datetime(2026, 12, 6, 12, 0))


def test_postgresql_gets_the_aware_utc_datetime() -> None:
    bind = UTCDateTime().dialect_impl(POSTGRESQL).bind_processor(POSTGRESQL)
    value = dt.datetime(2026, 12, 7, 2, 0, tzinfo=WIB)
    bound = value if bind is None else bind(value)
    assert bound == value
    assert bound.tzinfo == dt.UTC
