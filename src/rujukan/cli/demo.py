"""``rujukan demo`` (and ``rujukan up --demo``): a realistic multi-agency scenario, driven through the
HTTP API of a running system, with a local webhook inbox that verifies every signature.

Every name, NIK and phone number is fictional. The scenario can run again on the same system: creates
carry idempotency keys and actions already taken answer 409, which the demo counts as done.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx2 as httpx
import typer
from rich.progress import Progress

from rujukan.cli.common import DataDir, notifier_database, notifier_settings, referral_context, referral_settings
from rujukan.cli.output import err, fail
from rujukan.cli.system import CREDENTIALS, local_webhooks, read_json, running_system, write_private
from rujukan.core.vocabulary import AgencyKind, ServiceType
from rujukan.notifier.signing import signature_headers
from rujukan.notifier.subscriptions import Owner, OwnerKind, set_subscription
from rujukan.referral.registry import AgencyIn, add_agency, issue_credential

COORDINATOR_INBOX = "KOORDINATOR"
S = ServiceType


def _agency(code: str, name: str, kind: AgencyKind, region: str, *services: ServiceType) -> AgencyIn:
    return AgencyIn(code=code, name=name, kind=kind, region_code=region, services=list(services))


AGENCIES = [
    _agency("LAPAS-CIPINANG", "Lapas Kelas I Cipinang", AgencyKind.CORRECTIONS, "31.75"),
    _agency("BAPAS-JAKTIM", "Bapas Kelas I Jakarta Timur", AgencyKind.CORRECTIONS, "31.75", S.SUPERVISION),
    _agency(
        "KEMENSOS-REHSOS",
        "Kementerian Sosial, Direktorat Rehabilitasi Sosial",
        AgencyKind.MINISTRY,
        "31.71",
        S.SOCIAL_ASSISTANCE,
        S.FAMILY_REINTEGRATION,
    ),
    _agency(
        "SENTRA-HANDAYANI",
        "Sentra Handayani Jakarta (Kemensos)",
        AgencyKind.MINISTRY,
        "31.75",
        S.SKILLS_TRAINING,
        S.SAFE_SHELTER,
        S.PSYCHOSOCIAL_SUPPORT,
    ),
    _agency("POLRES-JAKTIM-PPA", "Unit PPA Polres Metro Jakarta Timur", AgencyKind.POLICE, "31.75"),
    _agency("RSUD-PASAR-REBO", "RSUD Pasar Rebo", AgencyKind.HEALTH, "31.75", S.HEALTH_CARE, S.MENTAL_HEALTH),
    _agency("PUSKESMAS-DUREN-SAWIT", "Puskesmas Kecamatan Duren Sawit", AgencyKind.HEALTH, "31.75", S.HEALTH_CARE),
    _agency(
        "UPTD-PPA-DKI",
        "UPTD Perlindungan Perempuan dan Anak DKI Jakarta",
        AgencyKind.LOCAL_GOVERNMENT,
        "31",
        S.SAFE_SHELTER,
        S.COUNSELLING,
        S.PSYCHOSOCIAL_SUPPORT,
    ),
    _agency(
        "DINSOS-DKI",
        "Dinas Sosial Provinsi DKI Jakarta",
        AgencyKind.LOCAL_GOVERNMENT,
        "31",
        S.SOCIAL_ASSISTANCE,
        S.CIVIL_DOCUMENTATION,
        S.ECONOMIC_EMPOWERMENT,
        S.FAMILY_REINTEGRATION,
    ),
    _agency("LBH-APIK-JAKARTA", "LBH APIK Jakarta (bantuan hukum)", AgencyKind.CSO, "31.71", S.LEGAL_AID),
    _agency(
        "YAYASAN-PULIH",
        "Yayasan Pulih (layanan psikososial)",
        AgencyKind.CSO,
        "31.74",
        S.PSYCHOSOCIAL_SUPPORT,
        S.COUNSELLING,
    ),
    _agency("YAYASAN-KARYA-MANDIRI", "Yayasan Karya Mandiri (kerja)", AgencyKind.CSO, "31.75", S.EMPLOYMENT),
    _agency("BNPT", "Badan Nasional Penanggulangan Terorisme", AgencyKind.OTHER, "31.71", S.DERADICALISATION_PROGRAMME),
]


# -- the local webhook inbox --------------------------------------------------------------------------
class WebhookInbox:
    """``POST /demo/webhooks/{OWNER}`` verifies the signature with the owner's current secrets (asked of
    ``secrets_of``), answers 204 or 401, and keeps the last deliveries in memory; ``GET /demo/webhooks``
    shows them (thin payloads only)."""

    def __init__(self, secrets_of: Callable[[str], list[str]], keep: int = 500) -> None:
        self._secrets_of = secrets_of
        self._received: deque[dict[str, Any]] = deque(maxlen=keep)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False) and len(body) < 65536
        agency = scope["path"].rstrip("/").rsplit("/", 1)[-1]
        if scope["method"] == "GET":
            await _answer(send, 200, json.dumps(self.summary()).encode())
        elif scope["method"] == "POST":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            verified = self._verify(agency, headers, body)
            self._record(agency, verified, body, headers)
            await _answer(send, 204 if verified else 401, b"")
        else:
            await _answer(send, 405, b"")

    def _verify(self, agency: str, headers: dict[str, str], body: bytes) -> bool:
        secrets = self._secrets_of(agency)
        given = set(headers.get("webhook-signature", "").split())
        if not secrets or not given or "webhook-id" not in headers or "webhook-timestamp" not in headers:
            return False
        try:
            timestamp = int(headers["webhook-timestamp"])
        except ValueError:
            return False
        if abs(time.time() - timestamp) > 300:
            return False
        for secret in secrets:
            expected = signature_headers([secret], message_id=headers["webhook-id"], timestamp=timestamp, body=body)
            if any(hmac.compare_digest(expected["webhook-signature"], g) for g in given):
                return True
        return False

    def _record(self, agency: str, verified: bool, body: bytes, headers: dict[str, str]) -> None:
        try:
            message = json.loads(body)
        except ValueError:
            message = {}
        with self._lock:
            self._counts["verified" if verified else "refused"] += 1
            self._received.appendleft(
                {
                    "agency": agency,
                    "verified": verified,
                    "type": message.get("type"),
                    "referral_id": message.get("data", {}).get("referral_id"),
                    "webhook_id": headers.get("webhook-id"),
                    "received_at": dt.datetime.now(dt.UTC).isoformat(),
                }
            )

    def summary(self) -> dict[str, Any]:
        with self._lock:
            by_agency = Counter(str(r["agency"]) for r in self._received)
            return {"counts": dict(self._counts), "by_agency": dict(by_agency), "latest": list(self._received)[:50]}


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json")] if body else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- the scenario ---------------------------------------------------------------------------------------
@dataclass
class Tally:
    created: int = 0
    actions: int = 0
    already_done: int = 0


class Driver:
    """Creates referrals and takes actions through the agency API, as each agency's system would."""

    def __init__(self, client: httpx.Client, secrets: dict[str, str], tally: Tally) -> None:
        self.day = dt.datetime.now(dt.UTC).replace(hour=1, minute=0, second=0, microsecond=0)
        self._client = client
        self._secrets = secrets
        self.tally = tally

    def _headers(self, agency: str, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._secrets[agency]}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def refer(
        self, key: str, by: str, to: str, service: ServiceType, urgency: str, subject: dict[str, Any], **more: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "to_agency": to,
            "service_type": service.value,
            "urgency": urgency,
            "reason": more.pop("reason", "Rujukan demo (fiktif)"),
            "legal_basis": more.pop("legal_basis", "public_task"),
            "subject": subject,
            **{k: v for k, v in more.items() if v is not None},
        }
        answer = self._client.post(
            "/v1/referrals", json=body, headers=self._headers(by, f"demo-{self.day:%Y%m%d}-{key}")
        )
        if answer.status_code != 201:
            raise DemoError(f"creating referral {key} answered {answer.status_code}: {_problem(answer)}")
        self.tally.created += answer.headers.get("Idempotent-Replayed") != "true"
        referral: dict[str, Any] = answer.json()
        return referral

    def act(self, by: str, referral: dict[str, Any], action: str, **body: Any) -> None:
        answer = self._client.post(f"/v1/referrals/{referral['id']}/{action}", json=body, headers=self._headers(by))
        if answer.status_code == 409:
            self.tally.already_done += 1
            return
        if answer.status_code != 200:
            raise DemoError(f"{action} on a referral answered {answer.status_code}: {_problem(answer)}")
        self.tally.actions += 1


class DemoError(Exception):
    """The running system refused a step of the demo."""


def _problem(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail") or answer.json().get("title"))
    except ValueError:
        return answer.text[:200]


def person(n: int, name: str, sex: str, category: str, region: str, born: str, **more: Any) -> dict[str, Any]:
    return {
        "full_name": f"{name} (fiktif)",
        "nik": f"{region.replace('.', '')[:4]:0<4}99{n:010d}",
        "birth_date": born,
        "sex": sex,
        "category": category,
        "region_code": region,
        "phone": f"+62 812 0000 {n:04d}",
        **more,
    }


def steps(d: Driver) -> Iterator[str]:
    """The scenario, one step at a time (each yields a label for the progress bar)."""
    now = d.day.isoformat()  # consent recorded today; the same body when the demo runs again today
    # 1. An inmate nearing release: Lapas -> Bapas, and Bapas on to Kemensos (skills) and a CSO (work).
    budi = person(1, "Budi Contoh", "male", "inmate_pre_release", "31.75", "1988-04-12")
    lapas = d.refer(
        "inmate-1",
        "LAPAS-CIPINANG",
        "BAPAS-JAKTIM",
        S.SUPERVISION,
        "urgent",
        budi,
        reason="Pembebasan bersyarat tiga minggu lagi; butuh pembimbingan",
        legal_basis="legal_obligation",
    )
    d.act("BAPAS-JAKTIM", lapas, "acknowledge")
    d.act("BAPAS-JAKTIM", lapas, "accept")
    d.act("BAPAS-JAKTIM", lapas, "start")
    yield "Lapas -> Bapas: pembimbingan klien pemasyarakatan"
    skills = d.refer(
        "inmate-1-skills",
        "BAPAS-JAKTIM",
        "SENTRA-HANDAYANI",
        S.SKILLS_TRAINING,
        "routine",
        budi,
        case_id=lapas["case_id"],
        reason="Pelatihan las untuk persiapan kerja",
    )
    d.act("SENTRA-HANDAYANI", skills, "accept")
    d.act("SENTRA-HANDAYANI", skills, "start")
    d.act("SENTRA-HANDAYANI", skills, "complete", outcome="goals_met")
    work = d.refer(
        "inmate-1-work",
        "BAPAS-JAKTIM",
        "YAYASAN-KARYA-MANDIRI",
        S.EMPLOYMENT,
        "routine",
        budi,
        case_id=lapas["case_id"],
        reason="Penyaluran kerja setelah pelatihan",
    )
    d.act("YAYASAN-KARYA-MANDIRI", work, "acknowledge")
    d.act("BAPAS-JAKTIM", work, "note", note="Klien sudah punya sertifikat las (fiktif)")
    yield "Bapas -> Sentra Handayani (pelatihan) dan Yayasan Karya Mandiri (kerja)"
    # 2. A woman victim of violence: police -> UPTD PPA (shelter), UPTD -> hospital and legal aid.
    siti = person(2, "Siti Fiktif", "female", "violence_victim_woman", "31.75", "1994-09-30")
    shelter = d.refer(
        "woman-1",
        "POLRES-JAKTIM-PPA",
        "UPTD-PPA-DKI",
        S.SAFE_SHELTER,
        "emergency",
        siti,
        reason="Korban KDRT, butuh rumah aman malam ini",
        legal_basis="vital_interest",
    )
    d.act("UPTD-PPA-DKI", shelter, "accept")
    d.act("UPTD-PPA-DKI", shelter, "start")
    hospital = d.refer(
        "woman-1-health",
        "UPTD-PPA-DKI",
        "RSUD-PASAR-REBO",
        S.HEALTH_CARE,
        "urgent",
        siti,
        case_id=shelter["case_id"],
        reason="Visum dan perawatan luka",
        legal_basis="vital_interest",
    )
    d.act("RSUD-PASAR-REBO", hospital, "accept")
    d.act("RSUD-PASAR-REBO", hospital, "complete", outcome="service_delivered")
    legal = d.refer(
        "woman-1-legal",
        "UPTD-PPA-DKI",
        "LBH-APIK-JAKARTA",
        S.LEGAL_AID,
        "urgent",
        siti,
        case_id=shelter["case_id"],
        reason="Pendampingan laporan polisi dan gugatan",
        legal_basis="consent",
        consent={"given_by": "subject", "recorded_at": now},
    )
    d.act("LBH-APIK-JAKARTA", legal, "acknowledge")
    d.act("LBH-APIK-JAKARTA", legal, "accept")
    d.act("LBH-APIK-JAKARTA", legal, "start")
    d.act("UPTD-PPA-DKI", shelter, "complete", outcome="goals_met")
    yield "Polres PPA -> UPTD PPA -> RSUD dan LBH APIK"
    # 3. A child victim, with the guardian's consent.
    anak = person(3, "Anak Contoh", "female", "violence_victim_child", "31.75", "2014-02-03")
    child = d.refer(
        "child-1",
        "POLRES-JAKTIM-PPA",
        "UPTD-PPA-DKI",
        S.PSYCHOSOCIAL_SUPPORT,
        "urgent",
        anak,
        reason="Anak korban kekerasan seksual; pendampingan psikologis",
        legal_basis="consent",
        consent={"given_by": "guardian", "recorded_at": now},
    )
    d.act("UPTD-PPA-DKI", child, "accept")
    counselling = d.refer(
        "child-1-counselling",
        "UPTD-PPA-DKI",
        "YAYASAN-PULIH",
        S.COUNSELLING,
        "urgent",
        anak,
        case_id=child["case_id"],
        legal_basis="consent",
        consent={"given_by": "guardian", "recorded_at": now},
        reason="Konseling trauma anak",
    )
    d.act("YAYASAN-PULIH", counselling, "accept")
    d.act("YAYASAN-PULIH", counselling, "start")
    d.act("YAYASAN-PULIH", counselling, "complete", outcome="partially_met")
    clinic = d.refer(
        "child-1-clinic",
        "UPTD-PPA-DKI",
        "PUSKESMAS-DUREN-SAWIT",
        S.HEALTH_CARE,
        "routine",
        anak,
        case_id=child["case_id"],
        legal_basis="consent",
        consent={"given_by": "guardian", "recorded_at": now},
        reason="Pemeriksaan kesehatan lanjutan",
    )
    d.act("PUSKESMAS-DUREN-SAWIT", clinic, "acknowledge")
    d.act("UPTD-PPA-DKI", child, "start")
    d.act("UPTD-PPA-DKI", child, "complete", outcome="goals_met")
    yield "Anak korban: UPTD PPA -> Yayasan Pulih dan Puskesmas (izin wali)"
    # 4. A deradicalisation partner: Lapas -> BNPT, then BNPT -> Dinas Sosial for family reintegration.
    rudi = person(4, "Rudi Contoh", "male", "deradicalisation_partner", "31.71", "1985-07-21")
    bnpt = d.refer(
        "derad-1",
        "LAPAS-CIPINANG",
        "BNPT",
        S.DERADICALISATION_PROGRAMME,
        "routine",
        rudi,
        reason="Mitra deradikalisasi menjelang bebas",
        legal_basis="legal_obligation",
    )
    d.act("BNPT", bnpt, "accept")
    d.act("BNPT", bnpt, "start")
    family = d.refer(
        "derad-1-family",
        "BNPT",
        "KEMENSOS-REHSOS",
        S.FAMILY_REINTEGRATION,
        "routine",
        rudi,
        case_id=bnpt["case_id"],
        reason="Reintegrasi keluarga setelah program",
    )
    d.act("KEMENSOS-REHSOS", family, "forward", to_agency="DINSOS-DKI", reason_code="out_of_area")
    yield "Lapas -> BNPT -> Kemensos, diteruskan ke Dinas Sosial"
    # 5. A rejection, and the re-referral elsewhere; a cancellation.
    joko = person(5, "Joko Fiktif", "male", "ex_inmate", "31.72", "1990-11-11")
    full = d.refer(
        "exinmate-1",
        "BAPAS-JAKTIM",
        "SENTRA-HANDAYANI",
        S.SKILLS_TRAINING,
        "routine",
        joko,
        reason="Pelatihan keterampilan untuk klien bebas",
    )
    d.act("SENTRA-HANDAYANI", full, "reject", reason_code="capacity_full")
    again = d.refer(
        "exinmate-1-again",
        "BAPAS-JAKTIM",
        "DINSOS-DKI",
        S.ECONOMIC_EMPOWERMENT,
        "routine",
        joko,
        case_id=full["case_id"],
        parent_referral_id=full["id"],
        reason="Rujukan ulang: usaha mikro",
    )
    d.act("DINSOS-DKI", again, "acknowledge")
    dup = d.refer(
        "exinmate-1-dup", "BAPAS-JAKTIM", "DINSOS-DKI", S.CIVIL_DOCUMENTATION, "routine", joko, reason="Pembuatan KTP"
    )
    d.act("BAPAS-JAKTIM", dup, "cancel", reason_code="duplicate")
    yield "Penolakan (kapasitas penuh), rujukan ulang dan pembatalan"
    # 6. More women and children across Jakarta, for the funnel and indicator 354.
    regions = ["31.71", "31.72", "31.73", "31.74", "31.75"]
    for n in range(6, 26):
        category = "violence_victim_woman" if n % 3 else "violence_victim_child"
        sex = "female" if category == "violence_victim_woman" or n % 2 else "male"
        born = "1992-05-05" if category == "violence_victim_woman" else "2012-08-08"
        subject = person(n, f"Korban {n} (contoh)", sex, category, regions[n % 5], born)
        consent = {"given_by": "guardian" if category == "violence_victim_child" else "subject", "recorded_at": now}
        to = "YAYASAN-PULIH" if n % 2 else "UPTD-PPA-DKI"
        r = d.refer(
            f"victim-{n}",
            "POLRES-JAKTIM-PPA",
            to,
            S.PSYCHOSOCIAL_SUPPORT,
            "urgent" if n % 4 else "emergency",
            subject,
            legal_basis="consent",
            consent=consent,
            reason="Pendampingan psikososial",
        )
        label = f"Korban kekerasan {n - 5} dari 20"
        if n % 5 == 0:
            yield label
            continue  # left waiting: overdue soon (the demo's SLA clocks are short)
        d.act(to, r, "acknowledge")
        if n % 7 == 0:
            d.act(to, r, "reject", reason_code="not_eligible")
            yield label
            continue
        d.act(to, r, "accept")
        if n % 3 != 1:
            d.act(to, r, "start")
            d.act(to, r, "complete", outcome="goals_met" if n % 2 else "service_delivered")
        yield label
    # 7. Emergencies nobody has answered yet: overdue on the dashboard within a minute or two.
    for n in range(26, 29):
        subject = person(n, f"Darurat {n} (contoh)", "female", "trafficking_victim", "31.75", "2001-01-01")
        d.refer(
            f"urgent-{n}",
            "POLRES-JAKTIM-PPA",
            "SENTRA-HANDAYANI",
            S.SAFE_SHELTER,
            "emergency",
            subject,
            legal_basis="vital_interest",
            reason="Korban perdagangan orang, butuh penampungan",
        )
    yield "Rujukan darurat yang belum dijawab"


STEP_COUNT = 27  # the labels steps() yields


def register(data_dir: Path, base_url: str, client: httpx.Client) -> dict[str, str]:
    """Register the agencies and give each a credential (kept in credentials.json) and a webhook
    subscription to the local inbox; coordinators get one for breaches."""
    path = data_dir / CREDENTIALS
    stored = read_json(path)
    agencies: dict[str, str] = stored.get("agencies", {})
    with referral_context(data_dir) as ctx:
        for agency in AGENCIES:
            add_agency(ctx, agency=agency, replace=True)
            if agency.code not in agencies:
                agencies[agency.code] = issue_credential(ctx, agency_code=agency.code).secret
    stored["agencies"] = agencies
    write_private(path, stored)
    for code, secret in agencies.items():
        answer = client.put(
            "/v1/subscription",
            json={"url": f"{base_url}/demo/webhooks/{code}"},
            headers={"Authorization": f"Bearer {secret}"},
        )
        if answer.status_code != 200:
            raise DemoError(f"subscribing {code} answered {answer.status_code}: {_problem(answer)}")
    settings = local_webhooks(notifier_settings(data_dir))
    owner = Owner(OwnerKind.COORDINATOR, COORDINATOR_INBOX)
    with notifier_database(data_dir) as db:
        set_subscription(db, settings, owner, url=f"{base_url}/demo/webhooks/{COORDINATOR_INBOX}")
    return agencies


def wait_until_up(client: httpx.Client, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise DemoError(f"nothing answers at {client.base_url} after {timeout:.0f} s")


def run_demo(data_dir: Path, base_url: str, *, progress: bool) -> Tally:
    tally = Tally()
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as client:
        wait_until_up(client)
        secrets = register(data_dir, base_url, client)
        driver = Driver(client, secrets, tally)
        if progress:
            with Progress(console=err, transient=True) as bar:
                task = bar.add_task("demo journeys", total=STEP_COUNT)
                for label in steps(driver):
                    bar.update(task, advance=1, description=label[:60])
        else:
            for _ in steps(driver):
                pass
    err.print(
        f"demo: {tally.created} referrals created, {tally.actions} actions taken"
        + (f" ({tally.already_done} already done before)" if tally.already_done else "")
        + f"; credentials of {len(AGENCIES)} agencies in {data_dir / CREDENTIALS}; "
        f"webhooks received: {base_url}/demo/webhooks",
        markup=False,
    )
    return tally


def demo(
    data_dir: DataDir = None,
    url: Annotated[
        str | None, typer.Option(help="Base URL of the running system (default: from the data dir).")
    ] = None,
) -> None:
    """Register demo agencies and drive realistic journeys through the HTTP API of a running system."""
    data = (data_dir or referral_settings(None).data_dir).resolve()
    running = running_system(data)
    base_url = url or (running or {}).get("http")
    if not base_url:
        fail(f"no running system found for {data}; start one with `rujukan up --data-dir {data}` or give --url")
    try:
        run_demo(data, str(base_url), progress=True)
    except (DemoError, httpx.HTTPError) as exc:
        fail(f"the demo stopped: {exc if isinstance(exc, DemoError) else type(exc).__name__}")
