"""Opening sealed fields for an authorised audit export, and recording first that it happens.

The referral service holds the subject keys, so opening happens here. Before the first field is opened a
SealedDataDisclosed event is written to the referral database (kept for good) and published to the audit
topic with the broker's acknowledgement; when either fails nothing is opened. An erased subject's fields
open to null: crypto-shredding holds for auditors too.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaError
from sqlalchemy.exc import SQLAlchemyError

from rujukan.core.codec import EventCodec
from rujukan.core.errors import RujukanError
from rujukan.core.kafka.clients import close_producer, make_producer
from rujukan.core.kafka.topics import ensure_topics, make_admin
from rujukan.core.sealing import DataKey
from rujukan.core.settings import CoreSettings
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import Disclosure, Referral
from rujukan.referral.queries import subject_key_or_none
from rujukan.referral.views import open_sealed

PURPOSE_MAX = 300
SEALED_FIELDS = {
    "sealed_subject": "subject",
    "sealed_reason": "reason",
    "sealed_note": "note",
    "sealed_assessment": "assessment",
}


class DisclosureError(RujukanError):
    """The disclosure could not be recorded, or was asked for without what it needs: nothing was opened."""


@dataclass(frozen=True, slots=True)
class DisclosureRequest:
    auditor_credential_id: str
    auditor_name: str
    purpose: str
    export_file: str
    window_from: dt.datetime | None = None
    window_to: dt.datetime | None = None


def record_disclosure(
    ctx: ReferralContext, settings: CoreSettings, request: DisclosureRequest, *, codec: EventCodec | None = None
) -> str:
    """Store and publish the SealedDataDisclosed event; its id. Raises DisclosureError when it cannot."""
    purpose = request.purpose.strip()
    if not purpose or len(purpose) > PURPOSE_MAX:
        raise DisclosureError(f"give the purpose of the disclosure (1 to {PURPOSE_MAX} characters)")
    event_id, now = str(uuid.uuid4()), dt.datetime.now(dt.UTC)
    payload = (codec or EventCodec()).encode(
        {
            "event_id": event_id,
            "event_type": "SealedDataDisclosed",
            "occurred_at": now,
            "auditor_credential_id": request.auditor_credential_id,
            "auditor_name": request.auditor_name,
            "purpose": purpose,
            "topic": settings.topics.referral_events,
            "window_from": request.window_from,
            "window_to": request.window_to,
            "export_file": request.export_file,
        }
    )
    try:
        with ctx.transaction() as session:
            session.add(
                Disclosure(
                    event_id=event_id,
                    auditor_credential_id=request.auditor_credential_id,
                    occurred_at=now,
                    payload=payload,
                )
            )
    except SQLAlchemyError as exc:
        raise DisclosureError(f"the disclosure could not be stored ({type(exc).__name__}): nothing was opened") from exc
    _publish(settings, event_id, payload)
    with ctx.transaction() as session:
        row = session.get(Disclosure, event_id)
        if row is not None:
            row.published_at = dt.datetime.now(dt.UTC)
            session.add(row)
    return event_id


def _publish(settings: CoreSettings, event_id: str, payload: bytes) -> None:
    topic = settings.topics.audit_events
    try:
        admin = make_admin(settings, name="disclosure-admin")
        try:
            ensure_topics(admin, settings, [topic])
        finally:
            admin.close()
        producer = make_producer(settings, name="disclosure")
        try:
            producer.send(topic, key=event_id.encode(), value=payload).get(timeout=15)
        finally:
            close_producer(producer)
    except (KafkaError, OSError) as exc:
        raise DisclosureError(
            f"the disclosure could not be published to {topic} ({type(exc).__name__}): nothing was opened"
        ) from exc


@dataclass
class SealedFieldOpener:
    """Replaces ``sealed_subject``, ``sealed_reason``, ``sealed_note`` and ``sealed_assessment`` by
    ``subject``, ``reason``, ``note`` and ``assessment`` (None when the subject was erased or the field does
    not open)."""

    ctx: ReferralContext
    _keys: dict[str, tuple[str, DataKey | None]] = field(default_factory=dict)  # referral id -> subject, key

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        referral_id = str(event["referral_id"])
        subject_id, key = self._key(referral_id)
        opened = {name: value for name, value in event.items() if name not in SEALED_FIELDS}
        for name, label in SEALED_FIELDS.items():
            if name not in event:
                continue
            context = f"note:{event['seq']}" if label == "note" else label
            text = open_sealed(key, event[name], subject_id=subject_id, referral_id=referral_id, field=context)
            opened[label] = json.loads(text) if label in ("subject", "assessment") and text is not None else text
        return opened

    def _key(self, referral_id: str) -> tuple[str, DataKey | None]:
        if referral_id not in self._keys:
            with self.ctx.read() as session:
                referral = session.get(Referral, referral_id)
                subject_id = referral.subject_id if referral is not None else ""
                key = subject_key_or_none(self.ctx, session, subject_id) if referral is not None else None
            self._keys[referral_id] = (subject_id, key)
        return self._keys[referral_id]
