"""The hot paths' driver-level statements store exactly what SQLAlchemy stores (the same bytes of every
column, datetimes included), read back the same through the ORM, and raise SQLAlchemy's own errors."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from rujukan.core.db import make_engine
from rujukan.core.fast_sql import Insert, RowByKey, execute_many, fetch_all, fetch_one, placeholders
from rujukan.referral.migrate import upgrade
from rujukan.referral.models import Agency, Subject
from tests.databases import BACKENDS, database_url

pytestmark = pytest.mark.integration
SUBJECTS = Subject.__table__  # type: ignore[attr-defined]
AGENCIES = Agency.__table__  # type: ignore[attr-defined]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database_url(request.param, tmp_path) as url:
        made = make_engine(url)
        upgrade(made)
        yield made
        made.dispose()


def subject(subject_id: str) -> dict[str, Any]:
    return {
        "id": subject_id,
        "controller": "BAPAS-JAKTIM",
        "nik_index": uuid.uuid4().hex,
        "person_index": None,
        "wrapped_key": bytes(range(40)),
        "legal_hold": False,
        "created_at": dt.datetime(2026, 12, 2, 7, 5, 9, 123456, tzinfo=dt.timezone(dt.timedelta(hours=7))),
    }


def stored(engine: Engine, subject_id: str) -> tuple[Any, ...]:
    with engine.connect() as connection:  # as the database keeps them, with no type processing
        row = connection.exec_driver_sql(
            placeholders(
                "SELECT id, controller, nik_index, person_index, wrapped_key, legal_hold, "
                "CAST(created_at AS VARCHAR(64)) FROM subjects WHERE id = ?",
                engine.dialect,
            ),
            (subject_id,),
        ).one()
    return tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)


def test_a_driver_insert_stores_what_sqlalchemy_stores(engine: Engine) -> None:
    by_sqlalchemy, by_driver = subject("sub_by_sqlalchemy"), subject("sub_by_driver")
    statement = Insert(SUBJECTS, list(by_driver), engine.dialect)
    with engine.begin() as connection:
        connection.execute(insert(SUBJECTS), [by_sqlalchemy])
        statement.run(connection, [by_driver])
    differ = {0, 2}  # the id and the (unique) NIK index
    mine, theirs = stored(engine, "sub_by_driver"), stored(engine, "sub_by_sqlalchemy")
    assert [v for i, v in enumerate(mine) if i not in differ] == [v for i, v in enumerate(theirs) if i not in differ]
    with Session(engine) as session:
        read = session.get(Subject, "sub_by_driver")
        assert read is not None
        assert read.created_at == by_driver["created_at"]  # the same instant, read back as UTC
        assert read.created_at.tzinfo == dt.UTC
        assert read.wrapped_key == by_driver["wrapped_key"]


def test_driver_errors_are_sqlalchemys_and_name_no_values(engine: Engine) -> None:
    row = subject("sub_twice")
    statement = Insert(SUBJECTS, list(row), engine.dialect)
    with engine.begin() as connection:
        statement.run(connection, [row])
    with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
        statement.run(connection, [row])
    assert row["nik_index"] not in str(raised.value)  # the statement is named, its parameters are not
    with engine.connect() as connection:
        found = fetch_one(
            connection, placeholders("SELECT controller FROM subjects WHERE id = ?", engine.dialect), ["sub_twice"]
        )
        assert found == ("BAPAS-JAKTIM",)
        assert (
            fetch_one(connection, placeholders("SELECT id FROM subjects WHERE id = ?", engine.dialect), ["none"])
            is None
        )
        assert connection.execute(text("SELECT count(*) FROM subjects")).scalar_one() == 1


def test_a_row_by_key_reads_what_the_orm_reads(engine: Engine) -> None:
    """Every column, datetimes aware in UTC and bytes as bytes, equal to the ORM's read; None when absent."""
    row = subject("sub_read")
    with engine.begin() as connection:
        connection.execute(insert(SUBJECTS), [row])
    lookup = RowByKey(SUBJECTS, ["id"], engine.dialect)
    with engine.connect() as connection:
        read = lookup.one(connection, ("sub_read",))
        assert lookup.one(connection, ("sub_missing",)) is None
    with Session(engine) as session:
        orm = session.get(Subject, "sub_read")
    assert orm is not None
    assert read._asdict() == {column.name: getattr(orm, column.name) for column in SUBJECTS.c}
    assert read.created_at == row["created_at"]
    assert read.created_at.tzinfo == dt.UTC
    assert isinstance(read.wrapped_key, bytes)
    assert read.legal_hold is False


def test_execute_many_and_fetch_all_on_the_driver(engine: Engine) -> None:
    rows = [subject(f"sub_many_{i}") for i in range(3)]
    with engine.begin() as connection:
        connection.execute(insert(SUBJECTS), rows)
        sql = placeholders("UPDATE subjects SET person_index = ? WHERE id = ?", engine.dialect)
        execute_many(connection, sql, [(f"person-{i}", f"sub_many_{i}") for i in (0, 2)])
    with engine.connect() as connection:
        read = fetch_all(
            connection,
            placeholders(
                "SELECT id, person_index, wrapped_key FROM subjects WHERE id LIKE ? ORDER BY id", engine.dialect
            ),
            ("sub_many_%",),
        )
    assert read == [
        ("sub_many_0", "person-0", bytes(range(40))),
        ("sub_many_1", None, bytes(range(40))),
        ("sub_many_2", "person-2", bytes(range(40))),
    ]
