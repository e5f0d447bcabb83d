"""SLA due times travel in the log: the projection, the live tracker's rows and breaches, and the audit's
rebuild take them from ReferralCreated (v2); only an older event (v1, without them) falls back to a policy."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col

from rujukan.core.codec import EventCodec
from rujukan.core.db import Database, make_engine
from rujukan.core.kafka.chain_consumer import BatchResult
from rujukan.core.sla import SlaPolicy
from rujukan.core.vocabulary import SlaClock
from rujukan.tracker.batch import apply_events
from rujukan.tracker.errors import RebuildError, SlaPolicyNeeded
from rujukan.tracker.migrate import upgrade
from rujukan.tracker.models import HandoffRow, SlaBreachRow
from rujukan.tracker.projection import Handoff, project
from rujukan.tracker.rebuild import Rebuild, open_rebuild_database
from rujukan.tracker.sla import breaches, due_times
from tests.factories import OCCURRED_AT

GOLDEN = Path(__file__).parent.parent / "golden"
CODEC = EventCodec()
H = dt.timedelta(hours=1)
DEMO = SlaPolicy.from_hours({"emergency": (0.02, 0.05), "urgent": (0.05, 0.1), "routine": (72.0, 168.0)})
EVENT_DUE = {SlaClock.ACKNOWLEDGE: OCCURRED_AT + 24 * H, SlaClock.RESPOND: OCCURRED_AT + 72 * H}  # in v2's golden
DEMO_DUE = {SlaClock.ACKNOWLEDGE: OCCURRED_AT + 0.05 * H, SlaClock.RESPOND: OCCURRED_AT + 0.1 * H}
EVENT_COLUMNS, DEMO_COLUMNS = tuple(EVENT_DUE.values()), tuple(DEMO_DUE.values())  # (ack_due_at, respond_due_at)


def golden_created(version: int) -> dict[str, Any]:
    """The golden ReferralCreated of ``version``, decoded, as the first event of its referral."""
    record = CODEC.decode(bytes.fromhex((GOLDEN / f"ReferralCreated.v{version}.hex").read_text())).record
    return {**record, "seq": 1, "prev_hash": None, "actor_agency": record["from_agency"]}


def projected(version: int) -> Handoff:
    handoff, _ = project(None, golden_created(version))
    return handoff


def acknowledged(created: dict[str, Any], *, after: dt.timedelta) -> dict[str, Any]:
    return {
        **created,
        "event_id": uuid.uuid4(),
        "event_type": "ReferralAcknowledged",
        "occurred_at": created["occurred_at"] + after,
        "seq": 2,
        "prev_hash": bytes(32),
        "actor_agency": created["to_agency"],
        "sealed_note": None,
    }


def test_a_v2_event_brings_its_due_times_and_no_policy_changes_them() -> None:
    handoff = projected(2)
    assert (handoff.ack_due_at, handoff.respond_due_at) == EVENT_COLUMNS
    assert due_times(handoff, DEMO) == due_times(handoff, None) == EVENT_DUE
    assert breaches(handoff, DEMO, OCCURRED_AT + 2 * H) == []  # the demo policy would say late; the event does not


def test_a_v1_golden_event_still_projects_and_takes_the_policy_due_times() -> None:
    handoff = projected(1)
    assert handoff.status == "requested"
    assert (handoff.ack_due_at, handoff.respond_due_at) == (None, None)
    assert due_times(handoff, SlaPolicy()) == EVENT_DUE  # the golden sample is urgent: the default clocks
    assert due_times(handoff, DEMO) == DEMO_DUE
    with pytest.raises(SlaPolicyNeeded):
        due_times(handoff, None)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _apply(engine: Engine, events: list[dict[str, Any]], policy: SlaPolicy) -> None:
    def dead_letter(record: Any, exc: BaseException) -> None:
        raise AssertionError(f"dead-lettered: {exc}")

    with Database(engine).transaction() as session:
        pairs = [(None, event) for event in events]
        apply_events(session, pairs, policy=policy, dead_letter=dead_letter, result=BatchResult())


def _due_columns(engine: Engine) -> tuple[dt.datetime, dt.datetime]:
    with Database(engine).read() as session:
        row = session.execute(select(HandoffRow)).scalar_one()
        return row.ack_due_at, row.respond_due_at


def test_the_live_tracker_stores_and_judges_the_event_due_times_under_another_policy(engine: Engine) -> None:
    created = golden_created(2)
    _apply(engine, [created], DEMO)
    assert _due_columns(engine) == EVENT_COLUMNS
    _apply(engine, [acknowledged(created, after=2 * H)], DEMO)  # late by the demo policy, in time by the event
    assert _due_columns(engine) == EVENT_COLUMNS
    with Database(engine).read() as session:
        assert session.execute(select(col(SlaBreachRow.clock))).all() == []


def test_the_live_tracker_keeps_a_v1_referral_s_due_times_once_written(engine: Engine) -> None:
    created = golden_created(1)
    _apply(engine, [created], DEMO)
    assert _due_columns(engine) == DEMO_COLUMNS
    _apply(engine, [acknowledged(created, after=2 * H)], SlaPolicy())  # restarted with another policy
    assert _due_columns(engine) == DEMO_COLUMNS


def test_the_rebuild_needs_a_policy_only_for_v1_events(tmp_path: Path) -> None:
    rebuild = Rebuild()
    assert rebuild.apply(golden_created(2)) is None
    scratch = open_rebuild_database(f"sqlite:///{tmp_path / 'v2.db'}")
    rebuild.write(scratch)  # no policy: the events carry the due times
    assert _due_columns(scratch) == EVENT_COLUMNS
    scratch.dispose()

    old = Rebuild()
    assert old.apply(golden_created(1)) is None
    scratch = open_rebuild_database(f"sqlite:///{tmp_path / 'v1.db'}")
    with pytest.raises(RebuildError, match="an SLA policy is needed"):
        old.write(scratch)
    old.write(scratch, DEMO)
    assert _due_columns(scratch) == DEMO_COLUMNS
    scratch.dispose()
