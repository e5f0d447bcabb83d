"""The notifier's pure parts: signatures (checked with the standardwebhooks reference library), the SSRF
guard, the retry schedule and the routing, with a canary for identifying data in payloads."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from rujukan.notifier.destinations import check_destination
from rujukan.notifier.errors import UnsafeDestination
from rujukan.notifier.retry import RetryPolicy, Verdict, parse_retry_after, verdict
from rujukan.notifier.routing import WEBHOOK_TYPES, Parties, payload, recipients
from rujukan.notifier.signing import new_secret, signature_headers
from tests.factories import EVENT_TYPES, sample_event

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


# -- signatures -------------------------------------------------------------------------------------
@given(body=st.binary(max_size=2000).map(lambda b: b.decode("latin-1").encode()))
def test_every_signature_verifies_with_the_reference_library(body: bytes) -> None:
    secret = new_secret()
    headers = signature_headers([secret], message_id=f"msg_{uuid.uuid4().hex}", timestamp=int(time.time()), body=body)
    Webhook(secret).verify(body, headers, json_parse=False)


def test_during_rotation_both_secrets_verify_and_a_stranger_does_not() -> None:
    new, old = new_secret(), new_secret()
    body = json.dumps({"type": "referral.accepted"}).encode()
    headers = signature_headers([new, old], message_id="msg_1", timestamp=int(time.time()), body=body)
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + b" ", headers)


def test_secrets_are_long_enough_and_distinct() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(s.startswith("whsec_") and len(Webhook(s)._whsecret) >= 24 for s in secrets)


# -- the SSRF guard ---------------------------------------------------------------------------------
def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "0.0.0.0",
        "::ffff:10.0.0.1",
        "100.64.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    with pytest.raises(UnsafeDestination, match="non-public"):
        check_destination("https://receiver.example/hook", resolver=resolver(address))


def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(UnsafeDestination):
        check_destination("https://receiver.example/hook", resolver=resolver("203.0.113.9", "8.8.8.8", "10.0.0.1"))


def test_public_addresses_pass_and_allowed_networks_open_private_ones() -> None:
    check_destination("https://receiver.example/hook", resolver=resolver("8.8.8.8", "2001:4860:4860::8888"))
    check_destination(
        "http://127.0.0.1:9000/hook", allowed_networks=["127.0.0.0/8"], allow_http=True, resolver=resolver("127.0.0.1")
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://receiver.example/hook", "https"),
        ("ftp://receiver.example/hook", "https"),
        ("https://user:pw@receiver.example/hook", "credentials"),
        ("https:///hook", "no host"),
        ("https://receiver.example:99999/hook", "port"),
    ],
)
def test_malformed_or_unsafe_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(UnsafeDestination, match=message):
        check_destination(url, resolver=resolver("8.8.8.8"))


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(UnsafeDestination, match="does not resolve"):
        check_destination("https://no-such-host.invalid/hook")


# -- the retry schedule -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (None, Verdict.RETRY),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (410, Verdict.GONE),
        (400, Verdict.PERMANENT),
        (401, Verdict.PERMANENT),
        (404, Verdict.PERMANENT),
        (301, Verdict.PERMANENT),
    ],
)
def test_answers_are_classified(status: int | None, expected: Verdict) -> None:
    assert verdict(status) is expected


def test_retries_back_off_with_jitter_and_go_on_for_the_whole_window() -> None:
    policy, rng = RetryPolicy(), random.Random(1)
    first, now, attempts, delays = NOW, NOW, 1, []
    while (at := policy.next_attempt(attempts=attempts, first_attempt_at=first, now=now, rng=rng)) is not None:
        delays.append(at - now)
        now, attempts = at, attempts + 1
        assert attempts < 1000
    assert now - first >= dt.timedelta(hours=72)
    assert delays[0] <= dt.timedelta(seconds=30)
    assert delays[5] > delays[0] * 8  # exponential
    assert max(delays) <= dt.timedelta(hours=6)
    assert len(set(delays)) == len(delays)  # jittered


def test_retry_after_is_honoured_within_a_cap() -> None:
    policy, rng = RetryPolicy(), random.Random(1)
    soon = policy.next_attempt(
        attempts=1, first_attempt_at=NOW, now=NOW, rng=rng, retry_after=dt.timedelta(seconds=120)
    )
    assert soon == NOW + dt.timedelta(seconds=120)
    later = policy.next_attempt(attempts=1, first_attempt_at=NOW, now=NOW, rng=rng, retry_after=dt.timedelta(days=9))
    assert later == NOW + dt.timedelta(hours=24)
    assert parse_retry_after("120", NOW) == dt.timedelta(seconds=120)
    assert parse_retry_after("Sun, 22 Nov 2026 12:05:00 GMT", NOW) == dt.timedelta(minutes=5)
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


# -- routing and payloads ---------------------------------------------------------------------------
PARTIES = Parties(from_agency="POLRES-JAKTIM-PPA", to_agency="UPTD-PPA-DKI", status="requested")
HEARD_BY_RECEIVER = {"ReferralCreated", "ReferralCancelled"}
HEARD_BY_REFERRER = {
    "ReferralAcknowledged",
    "ReferralAccepted",
    "ReferralRejected",
    "ReferralStarted",
    "ReferralPutOnHold",
    "ReferralCompleted",
    "ReferralFailed",
    "ReferralForwarded",
}


@pytest.mark.parametrize("event_type", sorted(HEARD_BY_RECEIVER | HEARD_BY_REFERRER))
def test_each_party_hears_what_the_other_did(event_type: str) -> None:
    actor = PARTIES.from_agency if event_type in HEARD_BY_RECEIVER else PARTIES.to_agency
    expected = [PARTIES.to_agency] if event_type in HEARD_BY_RECEIVER else [PARTIES.from_agency]
    assert recipients(sample_event(event_type, actor_agency=actor), PARTIES) == expected


def test_notes_go_to_the_other_party_and_breaches_to_both() -> None:
    note = sample_event("ReferralNoteAdded", actor_agency=PARTIES.from_agency)
    assert recipients(note, PARTIES) == [PARTIES.to_agency]
    note = sample_event("ReferralNoteAdded", actor_agency=PARTIES.to_agency)
    assert recipients(note, PARTIES) == [PARTIES.from_agency]
    assert recipients(sample_event("SlaBreached"), PARTIES) == [PARTIES.from_agency, PARTIES.to_agency]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_payloads_are_thin_canary(event_type: str) -> None:
    """Every field that could identify a subject is planted with a canary; none reaches the payload."""
    canary = "CANARY-3175010101900001"
    event = sample_event(event_type)
    for name in list(event):
        if name.startswith("sealed_"):
            event[name] = canary.encode()
    if "subject_id" in event:
        event["subject_id"] = canary
    body = json.dumps(payload(event, PARTIES))
    assert canary not in body
    assert json.loads(body)["type"] == WEBHOOK_TYPES[event_type]
    assert json.loads(body)["data"]["referral_id"] == str(event["referral_id"])
