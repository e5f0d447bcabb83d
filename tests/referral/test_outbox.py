"""Outbox guarantees: a failed use case leaves nothing behind; a broker restart under load loses nothing."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from rujukan.core.codec import EventCodec
from rujukan.referral import act as act_module
from rujukan.referral import create as create_module
from rujukan.referral.api.app import create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import IdempotencyKey, Referral, ReferralEvent, Subject
from rujukan.referral.settings import ReferralSettings
from tests.brokers import own_broker
from tests.kafka_helpers import own_topics, read_topic
from tests.referral.conftest import Agencies, referral_body, wait_until_published

pytestmark = pytest.mark.integration
LAPAS, BAPAS = "LAPAS-CIPINANG", "BAPAS-JAKTIM"


def _counts(ctx: ReferralContext) -> tuple[int, int, int, int]:
    with ctx.read() as session:
        return (
            len(session.exec(select(Referral)).all()),
            len(session.exec(select(ReferralEvent)).all()),
            len(session.exec(select(Subject)).all()),
            len(session.exec(select(IdempotencyKey)).all()),
        )


class Boom(Exception):
    pass


def test_a_failure_after_the_rows_are_written_leaves_neither_row_nor_event(
    client: TestClient, agencies: Agencies, ctx: ReferralContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    class ExplodingSummary:
        @staticmethod
        def model_validate(values: dict[str, object]) -> None:
            raise Boom  # the subject, referral and event rows are inserted by now

    monkeypatch.setattr(create_module, "ReferralSummary", ExplodingSummary)
    response = client.post("/v1/referrals", json=referral_body(), headers={**agencies[LAPAS], "Idempotency-Key": "k"})
    assert response.status_code == 500
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal error",
        "status": 500,
        "detail": "an unexpected error occurred; it has been logged",
    }
    assert _counts(ctx) == (0, 0, 0, 0)


def test_a_failed_action_changes_neither_status_nor_chain(
    client: TestClient, agencies: Agencies, ctx: ReferralContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    referral_id = client.post("/v1/referrals", json=referral_body(), headers=agencies[LAPAS]).json()["id"]

    def explode(*args: object, **kwargs: object) -> None:
        raise Boom

    monkeypatch.setattr(act_module, "view_in_session", explode)  # after the event row is flushed
    assert client.post(f"/v1/referrals/{referral_id}/accept", headers=agencies[BAPAS]).status_code == 500
    monkeypatch.undo()
    view = client.get(f"/v1/referrals/{referral_id}", headers=agencies[BAPAS]).json()
    assert view["status"] == "requested"
    assert [h["seq"] for h in view["history"]] == [1]
    assert client.post(f"/v1/referrals/{referral_id}/accept", headers=agencies[BAPAS]).status_code == 200


def test_broker_restarts_while_creating_lose_no_event(
    settings: ReferralSettings, ctx: ReferralContext, agencies: Agencies, tmp_path: Path
) -> None:
    with own_broker(tmp_path) as broker:
        run_settings = settings.model_copy(
            update={
                "kafka_bootstrap": broker.bootstrap,
                "relay_in_process": True,
                "topics": own_topics(),
            }
        )
        expected: dict[str, int] = {}
        with TestClient(create_app(run_settings, context=ctx)) as client:
            for index in range(60):
                if index in (15, 35, 50):
                    broker.kill() if index == 35 else broker.stop()
                    broker.start()
                created = client.post("/v1/referrals", json=referral_body(), headers=agencies[LAPAS])
                assert created.status_code == 201
                expected[created.json()["id"]] = 1
                if index % 2:
                    client.post(f"/v1/referrals/{created.json()['id']}/acknowledge", headers=agencies[BAPAS])
                    expected[created.json()["id"]] = 2
            wait_until_published(ctx, timeout=60)
        records = read_topic(run_settings, run_settings.topics.referral_events, expected=sum(expected.values()))
    seqs: dict[str, list[int]] = defaultdict(list)
    codec = EventCodec()
    for record in records:
        event = codec.decode(record.value).record
        seqs[str(event["referral_id"])].append(event["seq"])
    for referral_id, count in expected.items():
        first_seen = list(dict.fromkeys(seqs[referral_id]))
        assert first_seen == list(range(1, count + 1)), referral_id
