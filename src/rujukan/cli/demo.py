"""``rujukan demo`` (and ``rujukan up --demo``): a realistic multi-agency scenario, driven through the
HTTP API of a running system; ``rujukan up`` serves the webhook inbox the demo agencies subscribe to
(``webhook_inbox``).

What happens is data: the agencies and journeys are the table in ``demo_scenario.json``, played by
``demo_scenario.play``; this module registers the agencies and carries each step over HTTP. The scenario
can run again on the same system: creates carry idempotency keys and actions already taken answer 409,
which the demo counts as done.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx2 as httpx
import typer
from rich.progress import Progress

from rujukan.cli.data_dir import DataDir, notifier_database, notifier_settings, referral_context, referral_settings
from rujukan.cli.demo_scenario import load_scenario, play
from rujukan.cli.output import err, fail
from rujukan.cli.system import CREDENTIALS, local_webhooks, read_json, running_system, write_private
from rujukan.notifier.subscriptions import Owner, OwnerKind, set_subscription
from rujukan.referral.registry import add_agency, issue_credential
from rujukan.referral.staff import StaffRole, add_staff

COORDINATOR_INBOX = "KOORDINATOR"
DIRECTORY_FILE = Path(__file__).with_name("demo_directory.json")  # `rujukan directory load` takes it too
PATHWAYS_FILE = Path(__file__).with_name("demo_pathways.json")  # one pathway of each bundled template
SCENARIO = load_scenario()
AGENCIES = SCENARIO.agencies


@dataclass
class Tally:
    created: int = 0
    actions: int = 0
    already_done: int = 0
    directory_entries: int = 0
    pathways: int = 0
    steps: int = 0
    planned: int = 0  # steps not sent yet: their day is still to come


def demo_day(now: dt.datetime) -> dt.datetime:
    """The start of ``now``'s day in UTC: the demo's consent time and the day its idempotency keys name.
    Never later than ``now``, so the referral service never sees consent recorded in the future."""
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class Driver:
    """Creates referrals and takes actions through the agency API, as each agency's system would (the
    ``AgencyApi`` the scenario is played against)."""

    def __init__(self, client: httpx.Client, secrets: dict[str, str], tally: Tally) -> None:
        self.day = demo_day(dt.datetime.now(dt.UTC))
        self._client = client
        self._secrets = secrets
        self.tally = tally

    def _headers(self, agency: str, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._secrets[agency]}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def refer(self, key: str, by: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self._client.post(
            "/v1/referrals", json=body, headers=self._headers(by, f"demo-{self.day:%Y%m%d}-{key}")
        )
        if answer.status_code != 201:
            raise DemoError(f"creating referral {key} answered {answer.status_code}: {_problem(answer)}")
        self.tally.created += answer.headers.get("Idempotent-Replayed") != "true"
        referral: dict[str, Any] = answer.json()
        return referral

    def act(self, by: str, referral_id: str, action: str, body: dict[str, str]) -> None:
        answer = self._client.post(f"/v1/referrals/{referral_id}/{action}", json=body, headers=self._headers(by))
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


def register(data_dir: Path, base_url: str, client: httpx.Client) -> dict[str, str]:
    """Register the agencies and give each a credential and a staff account for the inbox (a supervisor;
    both kept in credentials.json) and a webhook subscription to the local inbox; coordinators get one for
    breaches."""
    path = data_dir / CREDENTIALS
    stored = read_json(path)
    agencies: dict[str, str] = stored.get("agencies", {})
    staff: dict[str, dict[str, str]] = stored.get("staff", {})
    with referral_context(data_dir) as ctx:
        for agency in AGENCIES:
            add_agency(ctx, agency=agency, replace=True)
            if agency.code not in agencies:
                agencies[agency.code] = issue_credential(ctx, agency_code=agency.code).secret
            if agency.code not in staff:
                issued = add_staff(ctx, agency_code=agency.code, name=f"Demo {agency.code}", role=StaffRole.SUPERVISOR)
                staff[agency.code] = {"staff_id": issued.staff.id, "name": issued.staff.name, "secret": issued.secret}
    stored["agencies"], stored["staff"] = agencies, staff
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


def fill_directory(client: httpx.Client, secrets: dict[str, str]) -> int:
    """Each demo agency publishes its directory entries (``demo_directory.json``; one service is full)
    over the API, as an agency maintains its own; the number of entries."""
    entries = json.loads(DIRECTORY_FILE.read_text(encoding="utf-8"))
    for entry in entries:
        agency, service_type = entry["agency"], entry["service_type"]
        body = {name: value for name, value in entry.items() if name not in ("agency", "service_type")}
        answer = client.put(
            f"/v1/directory/services/{service_type}", json=body, headers={"Authorization": f"Bearer {secrets[agency]}"}
        )
        if answer.status_code != 200:
            raise DemoError(
                f"the directory entry {agency}/{service_type} answered {answer.status_code}: {_problem(answer)}"
            )
    return len(entries)


def start_pathways(client: httpx.Client, secrets: dict[str, str], tally: Tally, *, day: dt.datetime) -> None:
    """Start one pathway of each template (``demo_pathways.json``) over the API, its anchor days from today,
    so that some steps are sent at once and others are planned; the same day's rerun starts nothing new."""
    for start in json.loads(PATHWAYS_FILE.read_text(encoding="utf-8")):
        body = {name: start[name] for name in ("agencies", "reason", "legal_basis", "subject")}
        body["anchor_date"] = (day + dt.timedelta(days=start["anchor_in_days"])).date().isoformat()
        if "consent" in start:
            body["consent"] = {**start["consent"], "recorded_at": day.isoformat()}
        headers = {
            "Authorization": f"Bearer {secrets[start['by']]}",
            "Idempotency-Key": f"demo-{day:%Y%m%d}-{start['key']}",
        }
        answer = client.post(f"/v1/pathway-templates/{start['template']}/start", json=body, headers=headers)
        if answer.status_code != 201:
            raise DemoError(f"starting pathway {start['key']} answered {answer.status_code}: {_problem(answer)}")
        if answer.headers.get("Idempotent-Replayed") != "true":
            steps = answer.json()["steps"]
            tally.pathways += 1
            tally.steps += len(steps)
            tally.planned += sum(step["status"] == "planned" for step in steps)


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
        tally.directory_entries = fill_directory(client, secrets)
        journeys = play(SCENARIO, Driver(client, secrets, tally))
        if progress:
            _show_progress(journeys, total=len(SCENARIO.journeys))
        else:
            for _ in journeys:
                pass
        start_pathways(client, secrets, tally, day=demo_day(dt.datetime.now(dt.UTC)))
    err.print(
        f"demo: {tally.directory_entries} directory entries, {tally.created} referrals created, "
        f"{tally.actions} actions taken"
        + (f" ({tally.already_done} already done before)" if tally.already_done else "")
        + f"; credentials of {len(AGENCIES)} agencies in {data_dir / CREDENTIALS}; "
        f"webhooks received: {base_url}/demo/webhooks; {tally.pathways} pathways started "
        f"({tally.steps} steps, {tally.planned} planned for later days)",
        markup=False,
    )
    return tally


def _show_progress(journeys: Iterator[str], *, total: int) -> None:
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("demo journeys", total=total)
        for label in journeys:
            bar.update(task, advance=1, description=label[:60])


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
