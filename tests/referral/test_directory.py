"""The service directory through the agency API, on both backends: agencies keep their own entries, anyone
reads them; every change is an event (Avro, decodable by Apache avro); matching ranks and explains;
pre-flight says what a create would meet and stores nothing; a create refuses an ineligible person and
carries its warnings; parallel referrals are counted without naming another agency to a non-party; a
rejection for lack of capacity shows the service full; the HSDS export is valid HSDS 3.1 and loads back."""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
import jsonschema
import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from rujukan.core.catalogue import default_schemas_dir
from rujukan.core.codec import HEADER_SIZE
from rujukan.core.vocabulary import ServiceType, SubjectCategory
from rujukan.referral.context import ReferralContext
from rujukan.referral.directory import candidates, fill_row
from rujukan.referral.directory_models import DirectoryServiceIn
from rujukan.referral.hsds import entries_of
from rujukan.referral.matching import Person, mismatches
from rujukan.referral.models import Agency, DirectoryEntry, DirectoryEvent, Referral
from rujukan.referral.receivers import ReceiverFigures
from tests.referral.conftest import SUBJECT, Agencies, referral_body

HSDS = Path(__file__).resolve().parents[1] / "data" / "hsds"
LAPAS, BAPAS, SENTRA, RSUD = "LAPAS-CIPINANG", "BAPAS-JAKTIM", "KEMENSOS-HANDAYANI", "RSUD-KRAMATJATI"


def entry(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Pembimbingan kemasyarakatan",
        "description": "Pembimbingan klien pemasyarakatan menjelang dan sesudah bebas.",
        "eligibility": {"categories": ["inmate_pre_release", "ex_inmate"], "sex": [], "min_age": 18},
        "regions": ["31.75"],
        "languages": ["id"],
        "contact": {"phone": "+62 21 000 0000", "email": "layanan@bapas.example", "url": "https://bapas.example"},
        "capacity": {"available": 3, "maximum": 10, "unit": "places", "waitlist": "short"},
    }
    body.update(changes)
    return body


def put(client: TestClient, agencies: Agencies, agency: str, service: str, body: dict[str, Any]) -> Any:
    return client.put(f"/v1/directory/services/{service}", json=body, headers=agencies[agency])


def events(ctx: ReferralContext) -> list[DirectoryEvent]:
    with ctx.read() as session:
        return list(session.exec(select(DirectoryEvent).order_by(col(DirectoryEvent.occurred_at))).all())


def decode_with_apache_avro(payload: bytes, event_type: str) -> dict[str, Any]:
    path = default_schemas_dir() / "directory" / f"{event_type}.v1.avsc"
    schema = avro.schema.parse(path.read_text())
    reader = avro.io.DatumReader(schema)
    decoded = reader.read(avro.io.BinaryDecoder(io.BytesIO(payload[HEADER_SIZE:])))
    assert isinstance(decoded, dict)
    return decoded


def test_an_agency_keeps_its_own_entries_and_anyone_reads_them(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    made = put(client, agencies, BAPAS, "supervision", entry())
    assert made.status_code == 200, made.text
    assert made.json()["agency"] == BAPAS
    assert made.json()["capacity"]["available"] == 3
    again = put(client, agencies, BAPAS, "supervision", entry(name="Pembimbingan klien"))
    assert again.json()["id"] == made.json()["id"]  # one entry per agency and service type

    offered_not = put(client, agencies, RSUD, "supervision", entry())
    assert offered_not.status_code == 422
    assert "does not offer supervision" in offered_not.json()["detail"]
    no_entry = client.put("/v1/directory/services/legal_aid/capacity", json={"available": 1}, headers=agencies[BAPAS])
    assert no_entry.status_code == 404
    full = client.put(
        "/v1/directory/services/supervision/capacity",
        json={"available": 0, "maximum": 10, "unit": "places", "waitlist": "medium"},
        headers=agencies[BAPAS],
    )
    assert full.status_code == 200
    bad = client.put(
        "/v1/directory/services/supervision/capacity", json={"available": 11, "maximum": 10}, headers=agencies[BAPAS]
    )
    assert bad.status_code == 422

    read = client.get("/v1/directory/services", params={"region_code": "31.75.01"}, headers=agencies[LAPAS])
    assert [(e["agency"], e["name"], e["capacity"]["waitlist"]) for e in read.json()["items"]] == [
        (BAPAS, "Pembimbingan klien", "medium")
    ]
    elsewhere = client.get("/v1/directory/services", params={"region_code": "32.01"}, headers=agencies[LAPAS])
    assert elsewhere.json()["items"] == []
    assert client.get("/v1/directory/services").status_code == 401

    stored = events(ctx)
    assert [e.event_type for e in stored] == [
        "DirectoryServiceUpdated",
        "DirectoryServiceUpdated",
        "DirectoryCapacityUpdated",
    ]
    first = decode_with_apache_avro(stored[0].payload, "DirectoryServiceUpdated")
    assert (first["agency_code"], first["service_type"], first["regions"]) == (BAPAS, "supervision", ["31.75"])
    assert first["capacity"]["available"] == 3
    last = decode_with_apache_avro(stored[-1].payload, "DirectoryCapacityUpdated")
    assert (last["capacity"]["available"], last["capacity"]["waitlist"], last["cause"]) == (0, "medium", "set")
    assert {e.key for e in stored} == {f"{BAPAS}/supervision"}


def test_pre_flight_says_what_a_create_would_meet_and_stores_nothing(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    put(client, agencies, BAPAS, "supervision", entry(capacity={"available": 0, "unit": "places", "waitlist": "long"}))

    def dry(**changes: Any) -> dict[str, Any]:
        answer = client.post("/v1/referrals", json=referral_body(dry_run=True, **changes), headers=agencies[LAPAS])
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    fine = dry()
    assert fine["would_create"] is True
    assert fine["errors"] == []
    assert [w["code"] for w in fine["warnings"]] == ["receiver_at_capacity"]
    assert fine["warnings"][0]["waitlist"] == "long"

    child = dry(subject={**SUBJECT, "category": "violence_victim_child", "birth_date": "2015-01-01"})
    assert child["would_create"] is False
    assert {e["code"] for e in child["errors"]} == {"category_not_eligible", "age_not_eligible"}
    away = dry(subject={**SUBJECT, "region_code": "32.01"})
    assert "region_not_served" in [w["code"] for w in away["warnings"]]
    assert away["would_create"] is True
    unlisted = dry(to_agency=SENTRA, service_type="skills_training")
    assert [w["code"] for w in unlisted["warnings"]] == ["not_in_directory"]
    unknown = dry(to_agency="NOBODY")
    assert unknown["would_create"] is False
    assert unknown["errors"][0]["detail"] == "unknown agency NOBODY"

    with ctx.read() as session:
        assert session.exec(select(func.count()).select_from(Referral)).one() == 0  # nothing stored

    refused = client.post(
        "/v1/referrals",
        json=referral_body(subject={**SUBJECT, "category": "violence_victim_woman", "sex": "female"}),
        headers=agencies[LAPAS],
    )
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("category_not_eligible: ")
    created = client.post("/v1/referrals", json=referral_body(), headers=agencies[LAPAS])
    assert created.status_code == 201
    assert [w["code"] for w in created.json()["warnings"]] == ["receiver_at_capacity"]
    mine = client.get(f"/v1/referrals/{created.json()['id']}", headers=agencies[LAPAS]).json()
    assert [w["code"] for w in mine["warnings"]] == ["receiver_at_capacity"]  # stored on the referral
    theirs = client.get(f"/v1/referrals/{created.json()['id']}", headers=agencies[BAPAS]).json()
    assert theirs["warnings"] == []  # the referring agency's own finding


def test_parallel_referrals_are_counted_and_never_name_another_agency_to_a_non_party(
    client: TestClient, agencies: Agencies
) -> None:
    by_lapas = client.post("/v1/referrals", json=referral_body(), headers=agencies[LAPAS]).json()
    to_rsud = referral_body(to_agency=RSUD, service_type="health_care")
    by_sentra = client.post("/v1/referrals", json=to_rsud, headers=agencies[SENTRA])
    assert by_sentra.status_code == 201
    [parallel] = [w for w in by_sentra.json()["warnings"] if w["code"] == "parallel_referral"]
    assert parallel["counts"] == {"supervision": 1}
    assert parallel["referrals"] == []  # Sentra is no party to Lapas -> Bapas: no agency, no id
    assert LAPAS not in json.dumps(parallel)
    assert BAPAS not in json.dumps(parallel)
    assert by_lapas["id"] not in json.dumps(by_sentra.json())

    third = client.post(
        "/v1/referrals",
        json=referral_body(dry_run=True, to_agency=SENTRA, service_type="skills_training"),
        headers=agencies[LAPAS],
    ).json()
    [seen] = [w for w in third["warnings"] if w["code"] == "parallel_referral"]
    assert seen["counts"] == {"health_care": 1, "supervision": 1}
    assert [(r["referral_id"], r["to_agency"]) for r in seen["referrals"]] == [(by_lapas["id"], BAPAS)]
    without_nik = {k: v for k, v in SUBJECT.items() if k != "nik"}
    alone = client.post(
        "/v1/referrals", json=referral_body(dry_run=True, subject=without_nik), headers=agencies[LAPAS]
    ).json()
    assert "parallel_referral" not in [w["code"] for w in alone["warnings"]]


def test_a_rejection_for_lack_of_capacity_shows_the_service_full(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    put(client, agencies, BAPAS, "supervision", entry())
    created = client.post("/v1/referrals", json=referral_body(), headers=agencies[LAPAS]).json()
    rejected = client.post(
        f"/v1/referrals/{created['id']}/reject", json={"reason_code": "capacity_full"}, headers=agencies[BAPAS]
    )
    assert rejected.status_code == 200, rejected.text
    [shown] = client.get("/v1/directory/services", headers=agencies[LAPAS]).json()["items"]
    assert (shown["capacity"]["available"], shown["capacity_rejections"]) == (0, 1)
    last = decode_with_apache_avro(events(ctx)[-1].payload, "DirectoryCapacityUpdated")
    assert (last["cause"], last["actor_agency"]) == ("rejected_for_capacity", "rujukan")


def test_matching_ranks_explains_and_leaves_out_who_cannot_take_the_person(
    client: TestClient, agencies: Agencies
) -> None:
    services = ["skills_training"]
    put(
        client,
        agencies,
        SENTRA,
        services[0],
        entry(name="Pelatihan", regions=["31"], capacity={"available": 9, "maximum": 10, "unit": "places"}),
    )
    put(
        client,
        agencies,
        BAPAS,
        services[0],
        entry(name="Pelatihan kerja", regions=["31.75"], capacity={"available": 5, "maximum": 10, "unit": "places"}),
    )
    put(
        client,
        agencies,
        LAPAS,
        services[0],
        entry(name="Pelatihan di lapas", regions=[], eligibility={"categories": ["inmate_pre_release"]}, capacity=None),
    )
    answer = client.get(
        "/v1/directory/match",
        params={"service_type": services[0], "region_code": "31.75.02", "category": "ex_inmate", "age": 30},
        headers=agencies[RSUD],
    )
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [i["agency"] for i in items] == [BAPAS, SENTRA]  # Lapas serves only inmates before release
    assert [r["code"] for r in items[0]["reasons"]] == [
        "has_capacity",
        "same_kabupaten_kota",
        "no_record",
        "speed_unknown",
    ]
    assert [r["code"] for r in items[1]["reasons"]][:2] == ["has_capacity", "same_province"]
    assert items[0]["score"] > items[1]["score"]  # near with half its room beats the province with 9 of 10
    put(client, agencies, BAPAS, services[0], entry(regions=["31.75"], capacity={"available": 0, "unit": "places"}))
    again = client.get(
        "/v1/directory/match",
        params={"service_type": services[0], "region_code": "31.75.02", "category": "ex_inmate", "age": 30},
        headers=agencies[RSUD],
    ).json()["items"]
    assert [i["agency"] for i in again] == [SENTRA, BAPAS]  # full now: still listed, lower
    assert again[1]["reasons"][0]["code"] == "at_capacity"


def test_the_hsds_export_is_valid_hsds_and_loads_back(client: TestClient, agencies: Agencies) -> None:
    put(client, agencies, BAPAS, "supervision", entry())
    put(
        client,
        agencies,
        RSUD,
        "health_care",
        entry(
            name="Rawat jalan",
            regions=[],
            capacity=None,
            eligibility={"categories": [], "sex": ["female"], "max_age": 60},
        ),
    )
    document = client.get("/v1/directory/hsds", headers=agencies[LAPAS]).json()
    assert document["hsds_version"] == "3.1"
    service_schema = json.loads((HSDS / "service.json").read_text())
    organization_schema = json.loads((HSDS / "organization.json").read_text())
    checker = jsonschema.Draft202012Validator
    for service in document["services"]:
        checker(service_schema, format_checker=checker.FORMAT_CHECKER).validate(service)
    for organization in document["organizations"]:
        checker(organization_schema, format_checker=checker.FORMAT_CHECKER).validate(organization)
    assert len(document["organizations"]) == 2
    loaded = {(agency, service.value): e for agency, service, e in entries_of(document)}
    listed = client.get("/v1/directory/services", headers=agencies[LAPAS]).json()["items"]
    for item in listed:
        back = loaded[(item["agency"], item["service_type"])].model_dump(mode="json")
        expected = {k: item[k] for k in back if k != "capacity"}
        assert {k: v for k, v in back.items() if k != "capacity"} == expected
        if item["capacity"]:
            assert back["capacity"] == {k: item["capacity"][k] for k in back["capacity"]}


def test_every_directory_route_needs_a_credential(client: TestClient) -> None:
    for method, path in [
        ("PUT", "/v1/directory/services/supervision"),
        ("PUT", "/v1/directory/services/supervision/capacity"),
        ("GET", "/v1/directory/services"),
        ("GET", "/v1/directory/match?service_type=supervision"),
        ("GET", "/v1/directory/hsds"),
    ]:
        assert client.request(method, path, json={}).status_code == 401, path


@pytest.mark.parametrize(("age", "kept"), [(17, False), (18, True), (60, True), (61, False)])
def test_match_keeps_exactly_the_ages_in_the_range(
    client: TestClient, agencies: Agencies, age: int, kept: bool
) -> None:
    assert (
        put(client, agencies, BAPAS, "supervision", entry(eligibility={"min_age": 18, "max_age": 60})).status_code
        == 200
    )
    found = client.get(
        "/v1/directory/match", params={"service_type": "supervision", "age": age}, headers=agencies[LAPAS]
    )
    assert found.status_code == 200, found.text
    assert [item["agency"] for item in found.json()["items"]] == ([BAPAS] if kept else [])


def test_a_dry_run_that_breaks_the_rules_says_nothing_of_the_persons_other_referrals(
    client: TestClient, agencies: Agencies
) -> None:
    """Otherwise any agency could ask, for any NIK, what others hold, with a request it could never make."""
    assert client.post("/v1/referrals", json=referral_body(), headers=agencies[LAPAS]).status_code == 201
    probes = [
        referral_body(dry_run=True, to_agency=RSUD, service_type="health_care"),  # to itself
        referral_body(dry_run=True, to_agency="NO-SUCH-AGENCY"),
        referral_body(dry_run=True, to_agency=SENTRA, service_type="skills_training", legal_basis="consent"),
    ]
    for body in probes:
        answer = client.post("/v1/referrals", json=body, headers=agencies[RSUD])
        assert answer.status_code == 200, answer.text
        assert answer.json()["would_create"] is False, body
        assert "parallel_referral" not in [w["code"] for w in answer.json()["warnings"]], body
    fine = referral_body(dry_run=True, to_agency=SENTRA, service_type="skills_training")
    counted = client.post("/v1/referrals", json=fine, headers=agencies[RSUD]).json()
    assert counted["would_create"] is True
    assert "parallel_referral" in [w["code"] for w in counted["warnings"]]  # a create it could make: counted


def test_a_restricted_subject_is_counted_for_its_controller_only(client: TestClient, agencies: Agencies) -> None:
    created = client.post("/v1/referrals", json=referral_body(), headers=agencies[LAPAS]).json()
    restricted = client.post(f"/v1/subjects/{created['subject_id']}/restrict", headers=agencies[LAPAS])
    assert restricted.status_code == 200, restricted.text
    probe = referral_body(dry_run=True, to_agency=SENTRA, service_type="skills_training")
    other = client.post("/v1/referrals", json=probe, headers=agencies[RSUD]).json()
    assert other["would_create"] is True
    assert "parallel_referral" not in [w["code"] for w in other["warnings"]]
    own = client.post("/v1/referrals", json=probe, headers=agencies[LAPAS]).json()
    assert "parallel_referral" in [w["code"] for w in own["warnings"]]


@pytest.mark.parametrize(
    "eligibility",
    [
        {"sex": ["female"] * 12},
        {"sex": ["unknown"]},
        {"categories": ["ex_inmate"] * 200},
    ],
)
def test_entries_beyond_what_is_stored_are_refused_with_422(
    client: TestClient, agencies: Agencies, eligibility: dict[str, Any]
) -> None:
    answer = put(client, agencies, BAPAS, "supervision", entry(eligibility=eligibility))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "changes",
    [
        {"languages": ["id-" + "-".join(["abcdefgh"] * 60)]},
        {"contact": {"email": "a" * 60 + "@" + "b" * 190}},
    ],
)
def test_over_long_fields_are_refused_with_422(client: TestClient, agencies: Agencies, changes: dict[str, Any]) -> None:
    answer = put(client, agencies, BAPAS, "supervision", entry(**changes))
    assert answer.status_code == 422, answer.text


def test_the_databases_filter_never_leaves_out_a_service_the_person_may_use(ctx: ReferralContext) -> None:
    """``candidates`` filters in SQL (a superset of what matching keeps): over a random directory, what it
    and the exact rules keep is what the exact rules keep of the whole directory, for many people."""
    rng = random.Random(7)
    provinces, categories = ["31", "32", "35"], [c.value for c in SubjectCategory]
    now = ctx.clock()
    with ctx.transaction() as session:
        for number in range(300):
            code = f"AGENCY-{number:03d}"
            session.add(Agency(code=code, name=code, kind="cso", region_code="31", created_at=now))
            province = rng.choice(provinces)
            regions = rng.choice([[], [province], [f"{province}.{rng.randint(1, 9):02d}"], [province, "31.75"]])
            low = rng.choice([None, 5, 18])
            body = DirectoryServiceIn.model_validate(
                entry(
                    eligibility={
                        "categories": rng.sample(categories, rng.choice([0, 1, 3])),
                        "sex": rng.choice([[], ["female"], ["male"]]),
                        "min_age": low,
                        "max_age": rng.choice([None, 17, 60]) if low is None or low < 17 else None,
                    },
                    regions=regions,
                )
            )
            row = DirectoryEntry(
                agency_code=code,
                service_type="supervision",
                id=str(uuid.uuid4()),
                name="",
                description="",
                updated_at=now,
            )
            fill_row(row, body, now)
            session.add(row)
    everything = candidates(ctx, service_type=ServiceType.SUPERVISION)
    assert len(everything) == 300
    for _ in range(60):
        person = Person(
            region_code=rng.choice(["31", "31.75", "32.01", "35.03", "36.01"]),
            category=rng.choice([None, *categories]),
            age=rng.choice([None, 4, 16, 30, 70]),
            sex=rng.choice([None, "female", "male"]),
        )
        exact = {e.agency for e in everything if not mismatches(e, person)}
        filtered = candidates(
            ctx,
            service_type=ServiceType.SUPERVISION,
            region_code=person.region_code,
            category=person.category,
            age=person.age,
            sex=person.sex,
        )
        assert {e.agency for e in filtered if not mismatches(e, person)} == exact, person
        assert len(filtered) < len(everything)  # and it does filter


def test_receiver_figures_are_counted_and_refreshed_without_making_a_match_wait(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    def decide(action: str, **body: str) -> None:
        created = client.post("/v1/referrals", json=referral_body(), headers=agencies[LAPAS]).json()
        answer = client.post(f"/v1/referrals/{created['id']}/{action}", json=body or None, headers=agencies[BAPAS])
        assert answer.status_code == 200, answer.text

    decide("accept")
    decide("reject", reason_code="not_eligible")
    figures = ReceiverFigures(ttl_s=0.0)
    first = figures.get(ctx)[(BAPAS, "supervision")]
    assert (first.accepted, first.rejected) == (1, 1)
    assert first.median_hours_to_accept is not None
    decide("accept")
    assert figures.get(ctx)[(BAPAS, "supervision")].accepted in (1, 2)  # the stale set, or the new one
    deadline = time.monotonic() + 10
    while figures.get(ctx)[(BAPAS, "supervision")].accepted != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert figures.get(ctx)[(BAPAS, "supervision")].accepted == 2
    while figures._refreshing and time.monotonic() < deadline:  # the last get's refresh, before the database goes
        time.sleep(0.05)


def test_a_forward_meets_the_new_receivers_directory_entry_as_a_create_would(
    client: TestClient, agencies: Agencies
) -> None:
    """Eligibility refuses the forward (422, nothing changes); a full receiver is a warning on the child,
    which the forwarding agency (the child's referrer) reads."""
    created = client.post("/v1/referrals", json=referral_body(), headers=agencies[LAPAS]).json()
    adults_elsewhere = entry(eligibility={"categories": ["violence_victim_child"]}, regions=["31"])
    assert put(client, agencies, SENTRA, "supervision", adults_elsewhere).status_code == 200
    forward = {"to_agency": SENTRA, "reason_code": "referred_elsewhere"}
    refused = client.post(f"/v1/referrals/{created['id']}/forward", json=forward, headers=agencies[BAPAS])
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"].startswith("category_not_eligible: ")
    assert SUBJECT["full_name"] not in refused.text
    unchanged = client.get(f"/v1/referrals/{created['id']}", headers=agencies[BAPAS]).json()
    assert unchanged["status"] == "requested"

    full = entry(regions=["31"], capacity={"available": 0, "maximum": 10, "unit": "places", "waitlist": "long"})
    assert put(client, agencies, SENTRA, "supervision", full).status_code == 200
    forwarded = client.post(f"/v1/referrals/{created['id']}/forward", json=forward, headers=agencies[BAPAS])
    assert forwarded.status_code == 200, forwarded.text
    [child] = client.get("/v1/referrals", params={"direction": "outgoing"}, headers=agencies[BAPAS]).json()["items"]
    codes = [w["code"] for w in child["warnings"]]
    assert "receiver_at_capacity" in codes
    assert "parallel_referral" not in codes  # the referral it forwards is not another one of the person's


def test_control_characters_are_refused_before_they_reach_the_database(
    client: TestClient, agencies: Agencies, ctx: ReferralContext
) -> None:
    """Found by the API fuzzer on PostgreSQL, which refuses a NUL in text: a name with one answered 500."""
    for field, value in (("name", "Layanan\x00uji"), ("description", "Uraian\x07")):
        answer = put(client, agencies, "BAPAS-JAKTIM", "supervision", entry(**{field: value}))
        assert answer.status_code == 422, answer.text
        assert value not in answer.text
    assert events(ctx) == []
    # the net under what a check missed: a NUL compared in a query is the caller's error, never a 500
    looked_up = client.get("/v1/pathway-templates/a%00b", headers=agencies["LAPAS-CIPINANG"])
    assert looked_up.status_code in (404, 422), looked_up.text  # SQLite finds nothing; PostgreSQL refuses it
    assert looked_up.headers["content-type"] == "application/problem+json"
