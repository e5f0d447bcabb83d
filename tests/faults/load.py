"""The load: worker threads create referrals between the demo agencies over the HTTP API and take random
lifecycle actions on them, as a careful integrator would: every create and every action carries an
Idempotency-Key; a 503 or 429 is retried after its Retry-After, and a lost answer (a connection cut, an
API instance killed mid-request) is retried with the same key on the next API instance, as a client
behind a proxy would see it. The API takes each request once however often it is retried.

Each referral is driven by one worker only, so its confirmed history (what the API answered 2xx, or
what a read showed applied) is known exactly and in order: the checker holds every other record of the
system against it. Choices come from ``random.Random(seed, worker)``.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx

from rujukan.cli.demo import AGENCIES
from rujukan.core.lifecycle import RULES, Action, Role, Status, allowed_actions
from rujukan.core.vocabulary import Outcome, ReasonCode

OFFERS = {agency.code: {str(s) for s in agency.services} for agency in AGENCIES}
RETRY_AFTER_CAP_S = 10.0
MAX_TRIES = 60  # per request: a bounded loop, even if the system never comes back
NAMES = ["Siti", "Budi", "Ayu", "Joko", "Dewi", "Rudi", "Wati", "Agus", "Rina", "Hadi"]
CATEGORIES = ["inmate_pre_release", "ex_inmate", "violence_victim_woman", "trafficking_victim", "other"]


@dataclass
class Confirmed:
    """One referral as the client knows it: its events in order, and the children its forwards made."""

    id: str
    from_agency: str
    to_agency: str
    service_type: str
    status: Status
    events: list[str]
    children: list[tuple[str, str]] = field(default_factory=list)  # (child id, receiving agency)


class Clients:
    """A worker's HTTP clients, one per API instance; it moves to the next one when an answer is lost."""

    def __init__(self, clients: list[httpx.Client], first: int) -> None:
        self._clients, self._at = clients, first % len(clients)

    @property
    def current(self) -> httpx.Client:
        return self._clients[self._at]

    def next(self) -> None:
        self._at = (self._at + 1) % len(self._clients)

    def close(self) -> None:
        for client in self._clients:
            client.close()


@dataclass
class LoadTally:
    requests: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    retry_after_missing: int = 0  # a 503 or 429 without Retry-After
    server_errors: list[str] = field(default_factory=list)  # "METHOD path -> status"
    unexpected: list[str] = field(default_factory=list)  # answers a correct client cannot get
    idempotent_replays: int = 0  # retries the API recognised as taken already (creates and actions)
    gave_up: int = 0


class Load:
    def __init__(
        self, base_urls: list[str], secrets: dict[str, str], *, seed: int, referrals: int, deadline: float
    ) -> None:
        self.base_urls = base_urls
        self.secrets = secrets
        self.seed = seed
        self.total = referrals  # at least this many; more while the faults are still being injected
        self.deadline = deadline
        self.faults_done = threading.Event()
        self.tally = LoadTally()
        self.referrals: dict[str, Confirmed] = {}
        self._next = 0
        self._lock = threading.Lock()

    # -- progress --------------------------------------------------------------------------------------
    def claim(self) -> int | None:
        with self._lock:
            if (self._next >= self.total and self.faults_done.is_set()) or time.monotonic() > self.deadline:
                return None
            self._next += 1
            return self._next

    # -- running -------------------------------------------------------------------------------------
    def run(self, workers: int) -> None:
        threads = [threading.Thread(target=self._worker, args=(n,), daemon=True) for n in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(1.0, self.deadline - time.monotonic() + 120))

    def _worker(self, n: int) -> None:
        rng = random.Random(f"{self.seed}-{n}")
        clients = Clients([httpx.Client(base_url=url, timeout=30, trust_env=False) for url in self.base_urls], n)
        try:
            while (number := self.claim()) is not None:
                referral = self._create(clients, rng, number)
                if referral is None:
                    continue
                for _ in range(rng.randint(0, 4)):
                    if not self._act(clients, rng, referral):
                        break
        finally:
            clients.close()

    # -- one request, retried as the API asks ------------------------------------------------------------
    def _send(self, clients: Clients, method: str, path: str, agency: str, **kw: Any) -> httpx.Response | None:
        """The first answer that is not 503/429, or None after MAX_TRIES; a lost answer is sent again (with
        its Idempotency-Key) to the next API instance."""
        headers = {"Authorization": f"Bearer {self.secrets[agency]}", **kw.pop("headers", {})}
        for _ in range(MAX_TRIES):
            with self._lock:
                self.tally.requests += 1
            try:
                answer = clients.current.request(method, path, headers=headers, **kw)
            except httpx.TransportError:
                with self._lock:
                    self.tally.transport_errors += 1
                clients.next()
                time.sleep(0.2)
                continue
            with self._lock:
                self.tally.answers[answer.status_code] += 1
                if answer.status_code >= 500 and answer.status_code != 503:
                    self.tally.server_errors.append(f"{method} {path.split('/')[2]} -> {answer.status_code}")
            if answer.status_code not in (429, 503):
                return answer
            retry_after = answer.headers.get("Retry-After")
            if retry_after is None or not retry_after.isdigit():
                with self._lock:
                    self.tally.retry_after_missing += 1
                retry_after = "1"
            time.sleep(min(float(retry_after), RETRY_AFTER_CAP_S))
        with self._lock:
            self.tally.gave_up += 1
        return None

    def _unexpected(self, what: str, answer: httpx.Response | None) -> None:
        status = answer.status_code if answer is not None else "no answer"
        title = answer.json().get("title") if answer is not None and answer.content else ""
        with self._lock:
            self.tally.unexpected.append(f"{what}: {status} {title}")

    # -- create ----------------------------------------------------------------------------------------
    def _create(self, clients: Clients, rng: random.Random, number: int) -> Confirmed | None:
        sender = rng.choice(sorted(OFFERS))
        service = rng.choice(sorted({s for code, offers in OFFERS.items() if code != sender for s in offers}))
        receiver = rng.choice(sorted(code for code, offers in OFFERS.items() if service in offers and code != sender))
        body = {
            "to_agency": receiver,
            "service_type": service,
            "urgency": rng.choice(["routine", "urgent", "emergency"]),
            "reason": f"Rujukan uji gangguan {number}",
            "legal_basis": "legal_obligation",
            "subject": {
                "full_name": f"{rng.choice(NAMES)} Uji {number}",
                "sex": rng.choice(["female", "male"]),
                "category": rng.choice(CATEGORIES),
                "region_code": rng.choice(["31.71", "31.75", "32.73", "35.78"]),
            },
        }
        key = {"Idempotency-Key": f"fault-{self.seed}-{number}"}
        answer = self._send(clients, "POST", "/v1/referrals", sender, json=body, headers=key)
        if answer is None or answer.status_code != 201:
            self._unexpected("create", answer)
            return None
        if answer.headers.get("Idempotent-Replayed") == "true":
            with self._lock:
                self.tally.idempotent_replays += 1
        created = answer.json()
        referral = Confirmed(created["id"], sender, receiver, service, Status.REQUESTED, ["ReferralCreated"])
        with self._lock:
            self.referrals[referral.id] = referral
        return referral

    # -- act -------------------------------------------------------------------------------------------
    def _choose(self, rng: random.Random, referral: Confirmed) -> tuple[Action, str, dict[str, Any]] | None:
        options = [
            (action, agency)
            for role, agency in ((Role.REQUESTER, referral.from_agency), (Role.RESPONDER, referral.to_agency))
            for action in allowed_actions(referral.status, role)
        ]
        if not options:
            return None
        action, agency = rng.choice(options)
        body: dict[str, Any] = {}
        requires = RULES[action].requires
        if "reason_code" in requires:
            body["reason_code"] = rng.choice(list(ReasonCode)).value
        if "outcome" in requires:
            body["outcome"] = rng.choice(list(Outcome)).value
        if "note" in requires or rng.random() < 0.2:
            body["note"] = f"Catatan {rng.randrange(10**6)}"
        if "to_agency" in requires:
            targets = sorted(
                code
                for code, offers in OFFERS.items()
                if referral.service_type in offers and code not in (referral.from_agency, referral.to_agency)
            )
            if not targets:
                return None
            body["to_agency"] = rng.choice(targets)
        return action, agency, body

    def _act(self, clients: Clients, rng: random.Random, referral: Confirmed) -> bool:
        """Take one random allowed action; False when nothing more can be done with the referral."""
        chosen = self._choose(rng, referral)
        if chosen is None:
            return False
        action, agency, body = chosen
        expected_seq = len(referral.events) + 1
        key = {"Idempotency-Key": f"fault-{self.seed}-{referral.id}-{expected_seq}"}
        answer = self._send(
            clients, "POST", f"/v1/referrals/{referral.id}/{action.value}", agency, json=body, headers=key
        )
        if answer is None or answer.status_code != 200:
            self._unexpected(action.value, answer)
            return False
        if answer.headers.get("Idempotent-Replayed") == "true":
            with self._lock:
                self.tally.idempotent_replays += 1
        view = answer.json()
        entry = view["history"][expected_seq - 1]
        if entry["seq"] != expected_seq or entry["event_type"] != RULES[action].event_type:
            self._unexpected(f"{action.value} recorded as {entry['event_type']} at {entry['seq']}", None)
            return False
        referral.events.append(entry["event_type"])
        referral.status = Status(view["status"])
        if action is Action.FORWARD:
            referral.children.append((entry["child_referral_id"], body["to_agency"]))
        return True
