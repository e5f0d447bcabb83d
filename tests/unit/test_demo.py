"""The demo scenario as data: the table loads and refuses rows that name what it does not hold, the
interpreter plays it in order (one progress step a journey), it only asks agencies for what they offer
(the referral service refuses a service an agency does not list; the demo must not stop half-way), and a
second run on the same day sends the very same requests, so the system answers them as done."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from rujukan.cli.demo import AGENCIES, SCENARIO, Driver, Tally, demo_day
from rujukan.cli.demo_scenario import SCENARIO_FILE, ScenarioError, load_scenario, play

OFFERS = {a.code: {str(s) for s in a.services} for a in AGENCIES}


class Recorder:
    """Stands in for the agency API: remembers what was asked of whom, answers with made-up ids."""

    day = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)

    def __init__(self) -> None:
        self.created: dict[str, tuple[str, dict[str, Any]]] = {}  # id -> (by, body)
        self.keys: dict[str, str] = {}  # scenario key -> id
        self.actions: list[tuple[str, str, str, dict[str, str]]] = []

    def refer(self, key: str, by: str, body: dict[str, Any]) -> dict[str, Any]:
        referral_id = f"ref-{len(self.created) + 1}"
        self.created[referral_id] = (by, body)
        self.keys[key] = referral_id
        return {"id": referral_id, "case_id": body.get("case_id", f"case-{referral_id}")}

    def act(self, by: str, referral_id: str, action: str, body: dict[str, str]) -> None:
        self.actions.append((by, referral_id, action, body))

    def body_of(self, key: str) -> dict[str, Any]:
        return self.created[self.keys[key]][1]


def played() -> Recorder:
    recorder = Recorder()
    list(play(SCENARIO, recorder))
    return recorder


def test_the_interpreter_yields_one_progress_step_a_journey_in_order() -> None:
    labels = list(play(SCENARIO, Recorder()))
    assert labels == [journey.label for journey in SCENARIO.journeys]
    assert len(labels) == len(SCENARIO.journeys) == 28
    assert labels[0] == "Lapas -> Bapas: pembimbingan klien pemasyarakatan"
    assert labels[-1] == "Rujukan darurat yang belum dijawab"


def test_every_agency_is_registered_and_offers_what_it_is_asked() -> None:
    recorder = played()
    asked = [(body["to_agency"], body["service_type"]) for _, body in recorder.created.values()]
    for by, referral_id, action, body in recorder.actions:
        assert by in OFFERS
        if action == "forward":
            asked.append((body["to_agency"], recorder.created[referral_id][1]["service_type"]))
    for agency, service in asked:
        assert agency in OFFERS
        assert not OFFERS[agency] or service in OFFERS[agency], f"{agency} does not offer {service}"
    involved = {by for by, _ in recorder.created.values()} | {
        body["to_agency"] for _, body in recorder.created.values()
    }
    assert involved == set(OFFERS)


def test_rows_resolve_to_the_referrals_they_name_and_actions_go_to_the_responder_unless_told() -> None:
    recorder = played()
    assert len(recorder.created) == 38
    assert len(recorder.actions) == 79
    again = recorder.body_of("exinmate-1-again")
    assert again["parent_referral_id"] == recorder.keys["exinmate-1"]
    assert again["case_id"] == f"case-{recorder.keys['exinmate-1']}"
    assert "case_id" not in recorder.body_of("exinmate-1-dup")
    legal = recorder.body_of("woman-1-legal")
    assert legal["consent"] == {"given_by": "subject", "recorded_at": "2026-11-22T00:00:00+00:00"}
    assert legal["subject"]["full_name"] == "Siti Fiktif (fiktif)"
    work = recorder.keys["inmate-1-work"]
    assert [(by, action) for by, r, action, _ in recorder.actions if r == work] == [
        ("YAYASAN-KARYA-MANDIRI", "acknowledge"),
        ("BAPAS-JAKTIM", "note"),  # the requester's note, as its row says
    ]
    forward = [a for a in recorder.actions if a[2] == "forward"]
    assert forward == [
        (
            "KEMENSOS-REHSOS",
            recorder.keys["derad-1-family"],
            "forward",
            {"to_agency": "DINSOS-DKI", "reason_code": "out_of_area"},
        )
    ]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda t: t["journeys"][0]["steps"][0].update(to="NOWHERE"), "no agency NOWHERE"),
        (lambda t: t["journeys"][0]["steps"][1].update(on="inmate-2"), "no earlier referral inmate-2"),
        (lambda t: t["journeys"][1]["steps"][0].update(case_of="victim-6"), "no earlier referral victim-6"),
        (lambda t: t["journeys"][0]["steps"][0].update(subject="nobody"), "no subject nobody"),
        (lambda t: t["journeys"][1]["steps"][0].update(refer="inmate-1"), "referral inmate-1 is made twice"),
        (lambda t: t["journeys"][0]["steps"][1].update(act="approve"), "act"),
        (lambda t: t["journeys"][0]["steps"][0].update(urgency="soon"), "urgency"),
    ],
)
def test_a_table_that_names_what_it_does_not_hold_is_refused(tmp_path: Path, change: Any, complaint: str) -> None:
    table = json.loads(SCENARIO_FILE.read_text())
    change(table)
    broken = tmp_path / "scenario.json"
    broken.write_text(json.dumps(table))
    with pytest.raises(ScenarioError, match=complaint):
        load_scenario(broken)


def test_a_second_run_on_the_same_day_sends_the_same_requests_and_counts_them_as_done() -> None:
    seen: list[tuple[str, str | None, bytes]] = []
    taken: set[str] = set()

    def system(request: httpx.Request) -> httpx.Response:
        """Answers creates idempotently by key and a repeated action (but a note) with 409."""
        key = request.headers.get("Idempotency-Key")
        seen.append((request.url.path, key, request.content))
        if request.url.path == "/v1/referrals":
            replayed = "true" if key in taken else "false"
            taken.add(str(key))
            return httpx.Response(
                201, json={"id": key, "case_id": f"case-{key}"}, headers={"Idempotent-Replayed": replayed}
            )
        if request.url.path in taken and not request.url.path.endswith("/note"):
            return httpx.Response(409, json={"title": "Conflict"})
        taken.add(request.url.path)
        return httpx.Response(200, json={})

    secrets = {agency.code: f"secret-{agency.code}" for agency in AGENCIES}
    tallies = []
    with httpx.Client(base_url="http://demo.test", transport=httpx.MockTransport(system)) as client:
        for _ in range(2):
            tally = Tally()
            list(play(SCENARIO, Driver(client, secrets, tally)))
            tallies.append(tally)
    first, second = seen[: len(seen) // 2], seen[len(seen) // 2 :]
    assert first == second
    assert len(first) == 38 + 79
    assert tallies[0] == Tally(created=38, actions=79, already_done=0)
    assert tallies[1] == Tally(created=0, actions=1, already_done=78)  # only the note is taken again


@pytest.mark.parametrize(
    "now",
    [
        dt.datetime(2026, 11, 30, 0, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 30, 0, 20, 5, tzinfo=dt.UTC),  # a CI run just after midnight UTC
        dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 30, 6, 30, tzinfo=dt.timezone(dt.timedelta(hours=7))),  # 23:30 UTC the day before
    ],
)
def test_the_demo_day_is_never_later_than_now_and_names_the_utc_date(now: dt.datetime) -> None:
    day = demo_day(now)
    assert day <= now
    assert day.date() == now.astimezone(dt.UTC).date()
    assert (day.hour, day.minute, day.second, day.microsecond) == (0, 0, 0, 0)
