"""The fixed statements of the create and action paths and of the relay, on the driver
(:mod:`rujukan.core.fast_sql`), built once per database dialect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

from rujukan.core.fast_sql import Insert, RowByKey, binder, placeholders
from rujukan.referral.models import DirectoryEntry, IdempotencyKey, LogNode, Referral, ReferralEvent, Subject

REFERRALS: Table = Referral.__table__  # type: ignore[attr-defined]
EVENTS: Table = ReferralEvent.__table__  # type: ignore[attr-defined]
SUBJECTS: Table = Subject.__table__  # type: ignore[attr-defined]
IDEMPOTENCY: Table = IdempotencyKey.__table__  # type: ignore[attr-defined]
DIRECTORY: Table = DirectoryEntry.__table__  # type: ignore[attr-defined]
NODES: Table = LogNode.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Statements:
    insert_referral: Insert
    insert_event: Insert
    insert_subject: Insert
    insert_idempotency: Insert
    services_of: str  # (code) -> services
    subject_by_nik: str  # (nik_index) -> id, wrapped_key
    idempotency_row: str  # (agency_code, key) -> request_hash, response
    directory_entry: RowByKey  # (agency_code, service_type) -> the entry's columns (a create's pre-flight)
    # the relay's sequencing (rujukan.referral.transparency)
    any_unsequenced: str  # () -> a row when a stored event waits for its log index
    give_log_index: str  # (log_index, position): the index given, the event unpublished
    log_node: str  # (level, idx) -> hash
    insert_node: Insert
    unpublished: str  # (limit) -> the oldest sequenced events not (re)published, as transparency.STORED
    mark_published: str  # (published_at, position)
    published_at: Callable[[Any], Any]  # the bind of published_at
    waiting_refusal: str  # () -> a row when a refused event is not dead-lettered yet


_BUILT: dict[str, Statements] = {}


def _for(dialect: Dialect) -> Statements:
    def sql(text: str) -> str:
        return placeholders(text, dialect)

    return Statements(
        insert_referral=Insert(REFERRALS, [c.name for c in REFERRALS.columns], dialect),
        insert_event=Insert(
            EVENTS,
            ["event_id", "referral_id", "seq", "event_type", "actor_agency", "occurred_at", "payload", "signature"],
            dialect,
        ),
        insert_subject=Insert(
            SUBJECTS,
            ["id", "controller", "nik_index", "person_index", "wrapped_key", "legal_hold", "created_at"],
            dialect,
        ),
        insert_idempotency=Insert(IDEMPOTENCY, [c.name for c in IDEMPOTENCY.columns], dialect),
        services_of=sql("SELECT services FROM agencies WHERE code = ?"),
        subject_by_nik=sql("SELECT id, wrapped_key FROM subjects WHERE nik_index = ?"),
        idempotency_row=sql("SELECT request_hash, response FROM idempotency_keys WHERE agency_code = ? AND key = ?"),
        directory_entry=RowByKey(DIRECTORY, ["agency_code", "service_type"], dialect),
        any_unsequenced=sql("SELECT 1 FROM referral_events WHERE log_index IS NULL AND refused IS NULL LIMIT 1"),
        give_log_index=sql("UPDATE referral_events SET log_index = ?, published_at = NULL WHERE position = ?"),
        log_node=sql("SELECT hash FROM log_nodes WHERE level = ? AND idx = ?"),
        insert_node=Insert(NODES, ["level", "idx", "hash", "event_id", "referral_id"], dialect),
        unpublished=sql(
            "SELECT position, event_id, referral_id, event_type, payload, signature, log_index FROM referral_events "
            "WHERE published_at IS NULL AND log_index IS NOT NULL AND refused IS NULL ORDER BY log_index LIMIT ?"
        ),
        mark_published=sql("UPDATE referral_events SET published_at = ? WHERE position = ?"),
        published_at=binder(EVENTS, "published_at", dialect),
        waiting_refusal=sql(
            "SELECT 1 FROM referral_events WHERE refused IS NOT NULL AND dead_lettered_at IS NULL LIMIT 1"
        ),
    )


def statements(connection: Connection) -> Statements:
    dialect = connection.dialect
    found = _BUILT.get(dialect.name)
    if found is None:
        found = _BUILT[dialect.name] = _for(dialect)
    return found
