"""The fault suite's checker, on made-up records: it must see each kind of error it reports (a checker
that cannot fail would make the fault suite pass whatever the system did)."""

from __future__ import annotations

import json

from tests.faults.check import Layer, compare, webhook_layer
from tests.notifier.receiver import Received

CHAIN = [(1, "ReferralCreated"), (2, "ReferralAccepted"), (3, "ReferralStarted")]


def judged(found: dict[str, list[tuple[int, str]]]) -> Layer:
    layer = Layer("test")
    compare(layer, {"r1": CHAIN}, found)
    return layer


def test_identical_records_are_clean() -> None:
    layer = judged({"r1": list(CHAIN)})
    assert layer.clean
    assert layer.checked == 3


def test_a_missing_event_is_lost() -> None:
    layer = judged({"r1": CHAIN[:2]})
    assert layer.lost == ["r1 #3 ReferralStarted"]
    assert not layer.duplicated


def test_an_extra_event_or_referral_is_duplicated() -> None:
    layer = judged({"r1": [*CHAIN, (4, "ReferralStarted")], "r2": [(1, "ReferralCreated")]})
    assert len(layer.duplicated) == 2
    assert not layer.lost


def test_events_out_of_seq_order_are_reordered() -> None:
    layer = judged({"r1": [CHAIN[0], CHAIN[2], CHAIN[1]]})
    assert len(layer.reordered) == 1
    assert not layer.lost


def webhook(agency: str, webhook_id: str, event_id: str, seq: int) -> Received:
    body = json.dumps({"data": {"event_id": event_id, "referral_id": "r1", "seq": seq}}).encode()
    return Received(f"/hooks/{agency}", {"webhook-id": webhook_id}, body, 0.0)


EVENTS = {"r1": [(1, "ReferralCreated", "e1", "LAPAS"), (2, "ReferralAccepted", "e2", "BAPAS")]}
PARTIES = {"r1": ("LAPAS", "BAPAS")}


def test_webhooks_each_party_hears_the_other_once_in_order() -> None:
    layer = webhook_layer(EVENTS, PARTIES, [webhook("BAPAS", "w1", "e1", 1), webhook("LAPAS", "w2", "e2", 2)])
    assert layer.clean
    assert layer.checked == 2


def test_webhooks_a_redelivery_is_a_repeat_but_a_second_webhook_id_is_a_duplicate() -> None:
    again = webhook_layer(EVENTS, PARTIES, [webhook("BAPAS", "w1", "e1", 1)] * 2 + [webhook("LAPAS", "w2", "e2", 2)])
    assert again.clean
    assert again.repeats == 1
    twice = webhook_layer(EVENTS, PARTIES, [webhook("BAPAS", "w1", "e1", 1), webhook("BAPAS", "w9", "e1", 1)])
    assert len(twice.duplicated) == 1
    assert twice.lost == ["LAPAS never heard of r1 #2 ReferralAccepted"]


def test_webhooks_to_the_actor_itself_are_reported() -> None:
    layer = webhook_layer(EVENTS, PARTIES, [webhook("LAPAS", "w1", "e1", 1)])
    assert any("not theirs" in line for line in layer.duplicated)


def test_webhooks_out_of_order_per_referral_are_reordered() -> None:
    events = {"r1": [*EVENTS["r1"], (3, "ReferralStarted", "e3", "BAPAS")]}
    arrivals = [webhook("BAPAS", "w1", "e1", 1), webhook("LAPAS", "w3", "e3", 3), webhook("LAPAS", "w2", "e2", 2)]
    layer = webhook_layer(events, PARTIES, arrivals)
    assert layer.reordered == ["LAPAS heard r1 as [3, 2]"]
