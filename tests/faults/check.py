"""The checker: every record the system keeps, held against what the API confirmed to the clients.

Per referral, the client's confirmed history (see load.py) must be, event for event and in order:
- the referral database's event store (the system of record);
- the referral topic (audit replay: each event id once in the result, in seq order by first appearance;
  a republished copy of the same event id is at-least-once delivery, counted but not an error);
- the tracker's projection (history rows, status, last seq);
- the webhooks: every party that should hear of an event (the other party) got exactly one delivery
  of it (a webhook id received again is a redelivery receivers deduplicate; two webhook ids for one
  event would be a duplicate), and per referral the first arrivals come in seq order.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import psycopg

from rujukan.audit.reader import read_topic
from rujukan.core.codec import EventCodec
from rujukan.core.settings import CoreSettings
from rujukan.notifier.routing import Parties, recipients
from tests.faults.load import Confirmed
from tests.notifier.receiver import Received

Chain = list[tuple[int, str]]  # (seq, event type) in order


@dataclass
class Layer:
    """What one record of the system got wrong, against the confirmed histories."""

    name: str
    checked: int = 0  # events compared
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    reordered: list[str] = field(default_factory=list)
    repeats: int = 0  # the same event id (or webhook id) seen again: at-least-once, not an error

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.reordered)

    def line(self) -> str:
        return (
            f"{self.name:<9} checked {self.checked:>6}  lost {len(self.lost)}  duplicated {len(self.duplicated)}"
            f"  reordered {len(self.reordered)}  (repeats {self.repeats})"
        )


def expected_chains(confirmed: dict[str, Confirmed]) -> dict[str, Chain]:
    chains: dict[str, Chain] = {}
    for referral in confirmed.values():
        chains[referral.id] = [(n, event) for n, event in enumerate(referral.events, start=1)]
        for child, _ in referral.children:
            chains[child] = [(1, "ReferralCreated")]
    return chains


def compare(layer: Layer, expected: dict[str, Chain], found: dict[str, Chain]) -> None:
    for referral_id, chain in expected.items():
        seen = found.get(referral_id, [])
        layer.checked += len(chain)
        if seen == chain:
            continue
        if [s for s, _ in seen] != sorted({s for s, _ in seen}):
            layer.reordered.append(f"{referral_id}: seqs {[s for s, _ in seen]}")
        missing = [item for item in chain if item not in seen]
        extra = [item for item in seen if item not in chain]
        layer.lost += [f"{referral_id} #{s} {t}" for s, t in missing]
        layer.duplicated += [f"{referral_id} #{s} {t}" for s, t in extra]
    for referral_id in found.keys() - expected.keys():
        layer.duplicated += [f"{referral_id} #{s} {t} (referral nobody created)" for s, t in found[referral_id]]


def database_layer(url: str, expected: dict[str, Chain]) -> tuple[Layer, dict[str, list[tuple[int, str, str, str]]]]:
    """The event store; also returns each referral's (seq, type, event id, actor) for the other layers."""
    rows: dict[str, list[tuple[int, str, str, str]]] = defaultdict(list)
    with psycopg.connect(libpq(url)) as db:
        for referral_id, seq, event_type, event_id, actor in db.execute(
            "SELECT referral_id, seq, event_type, event_id, actor_agency FROM referral_events ORDER BY referral_id, seq"
        ):
            rows[referral_id].append((seq, event_type, event_id, actor))
    layer = Layer("database")
    compare(layer, expected, {r: [(s, t) for s, t, _, _ in events] for r, events in rows.items()})
    return layer, rows


def topic_layer(settings: CoreSettings, expected: dict[str, Chain]) -> Layer:
    codec = EventCodec()
    found: dict[str, Chain] = defaultdict(list)
    seen_ids: dict[str, tuple[str, int]] = {}
    layer = Layer("topic")
    for batch in read_topic(settings, settings.topics.referral_events, idle_timeout_s=10):
        for message in batch:
            record = codec.decode(message.value).record
            event_id, referral_id, seq = str(record["event_id"]), str(record["referral_id"]), int(record["seq"])
            if event_id in seen_ids:
                layer.repeats += 1
                continue
            seen_ids[event_id] = (referral_id, seq)
            found[referral_id].append((seq, str(record["event_type"])))
    compare(layer, expected, found)
    return layer


def tracker_layer(url: str, expected: dict[str, Chain], statuses: dict[str, str]) -> Layer:
    found: dict[str, Chain] = defaultdict(list)
    layer = Layer("tracker")
    with psycopg.connect(libpq(url)) as db:
        for referral_id, seq, event_type in db.execute(
            "SELECT referral_id, seq, event_type FROM handoff_history ORDER BY referral_id, seq"
        ):
            found[referral_id].append((seq, event_type))
        for referral_id, status, last_seq in db.execute("SELECT referral_id, status, last_seq FROM handoffs"):
            if statuses.get(referral_id) != status or last_seq != len(expected.get(referral_id, [])):
                layer.lost.append(f"{referral_id}: handoff at {status} #{last_seq}")
    compare(layer, expected, found)
    return layer


def referral_statuses(url: str) -> dict[str, str]:
    with psycopg.connect(libpq(url)) as db:
        return {r: s for r, s in db.execute("SELECT id, status FROM referrals")}


def webhook_layer(
    events: dict[str, list[tuple[int, str, str, str]]], parties: dict[str, tuple[str, str]], received: list[Received]
) -> Layer:
    layer = Layer("webhooks")
    webhook_ids, arrivals = _arrivals(layer, received)
    expected: set[tuple[str, str]] = set()
    for referral_id, chain in events.items():
        from_agency, to_agency = parties[referral_id]
        for seq, event_type, event_id, actor in chain:
            event = {"event_type": event_type, "actor_agency": actor}
            for agency in recipients(event, Parties(from_agency, to_agency, None)):
                expected.add((agency, event_id))
                layer.checked += 1
                ids = webhook_ids.get((agency, event_id), set())
                if not ids:
                    layer.lost.append(f"{agency} never heard of {referral_id} #{seq} {event_type}")
                elif len(ids) > 1:
                    layer.duplicated.append(f"{agency} heard {referral_id} #{seq} as {len(ids)} webhooks")
    for key in webhook_ids.keys() - expected:
        layer.duplicated.append(f"{key[0]} heard of event {key[1]}, which is not theirs or does not exist")
    for (agency, referral_id), seqs in arrivals.items():
        if seqs != sorted(seqs):
            layer.reordered.append(f"{agency} heard {referral_id} as {seqs}")
    return layer


def _arrivals(
    layer: Layer, received: list[Received]
) -> tuple[dict[tuple[str, str], set[str]], dict[tuple[str, str], list[int]]]:
    """(agency, event id) -> the webhook ids it came as; (agency, referral) -> seqs in order of first arrival."""
    webhook_ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    arrivals: dict[tuple[str, str], list[int]] = defaultdict(list)
    first_seen: set[str] = set()
    for request in received:
        agency = request.path.rsplit("/", 1)[1]
        data = json.loads(request.body)["data"]
        webhook_id = request.headers["webhook-id"]
        webhook_ids[(agency, data["event_id"])].add(webhook_id)
        if webhook_id in first_seen:
            layer.repeats += 1
            continue
        first_seen.add(webhook_id)
        arrivals[(agency, data["referral_id"])].append(int(data["seq"]))
    return webhook_ids, arrivals


def parties_of(url: str) -> dict[str, tuple[str, str]]:
    with psycopg.connect(libpq(url)) as db:
        return {r: (f, t) for r, f, t in db.execute("SELECT id, from_agency, to_agency FROM referrals")}


def libpq(url: str) -> str:
    """postgresql+psycopg://user@host:port/name -> a URL psycopg takes."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def totals(layers: list[Layer]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for layer in layers:
        counts["lost"] += len(layer.lost)
        counts["duplicated"] += len(layer.duplicated)
        counts["reordered"] += len(layer.reordered)
    return counts
