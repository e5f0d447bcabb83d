"""The transparency log as an auditor meets it, on ``rujukan up --demo``:

- the rebuild equals the live tracker whatever today's SLA settings (the due times travel in the events);
- ``rujukan audit checkpoint`` verifies with ``rujukan audit public-key`` in Go's reference code for
  signed notes, and its root is the RFC 9162 root of the stored events in log order, computed by Go's
  tlog package from the stored bytes;
- an event written into the event store without the referral service's key is refused by the relay: a
  dead letter and an alarm in ``/readyz``;
- a referral deleted from the event store while Rujukan is stopped (the embedded broker forgets its log
  on restart, so the relay republishes what is left) is named by ``audit replay --checkpoint``, exit 2.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import signal
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from rujukan.core.broker import free_port
from rujukan.core.codec import EventCodec, event_hash
from tests.interop.tlogcheck import check
from tests.system.test_demo_against_up import EXPECTED_HANDOFFS, handoffs, shape
from tests.system.test_up import RUJUKAN, clean_env, cli, up, wait_for

pytestmark = pytest.mark.integration


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUJUKAN, *args, "--data-dir", str(data)],
        env=clean_env() | {"COLUMNS": "250"},  # a wide terminal: ids in the findings table are not folded
        capture_output=True,
        text=True,
        timeout=120,
    )


def stored_events(data: Path, size: int) -> list[bytes]:
    with sqlite3.connect(data / "referral.db") as db:
        rows = db.execute(
            "SELECT payload FROM referral_events WHERE log_index < ? ORDER BY log_index", (size,)
        ).fetchall()
    return [bytes(row[0]) for row in rows]


def checkpoint_size(note: str) -> int:
    return int(note.split("\n")[1])


def stored_count(data: Path) -> int:
    with sqlite3.connect(data / "referral.db") as db:
        return int(db.execute("SELECT count(*) FROM referral_events").fetchone()[0])


def checkpoint_of_everything(data: Path) -> str | None:
    """The newest checkpoint once it covers every stored event."""
    done = run(data, "audit", "checkpoint")
    if done.returncode != 0:
        return None
    return done.stdout if checkpoint_size(done.stdout) == stored_count(data) else None


def forge_a_last_event(data: Path) -> str:
    """As someone with write access to the database but not the key: a legal acknowledgement appended to a
    requested referral's chain (right seq, right prev_hash), without a signature. Its event id."""
    codec = EventCodec()
    with sqlite3.connect(data / "referral.db") as db:
        referral_id, case_id, to_agency, last_seq = db.execute(
            "SELECT id, case_id, to_agency, last_seq FROM referrals WHERE status = 'requested' LIMIT 1"
        ).fetchone()
        [last] = db.execute(
            "SELECT payload FROM referral_events WHERE referral_id = ? AND seq = ?", (referral_id, last_seq)
        ).fetchone()
        event_id = uuid.uuid4()
        now = dt.datetime.now(dt.UTC)
        payload = codec.encode(
            {
                "event_id": event_id,
                "event_type": "ReferralAcknowledged",
                "occurred_at": now,
                "referral_id": uuid.UUID(referral_id),
                "case_id": uuid.UUID(case_id),
                "seq": last_seq + 1,
                "prev_hash": event_hash(bytes(last)),
                "actor_agency": to_agency,
                "sealed_note": None,
            }
        )
        db.execute(
            "INSERT INTO referral_events (event_id, referral_id, seq, event_type, actor_agency, occurred_at, payload)"
            " VALUES (?, ?, ?, 'ReferralAcknowledged', ?, ?, ?)",
            (str(event_id), referral_id, last_seq + 1, to_agency, now.isoformat(), payload),
        )
    return str(event_id)


def test_checkpoints_hold_the_log_to_account_and_replay_depends_only_on_the_log(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    with up(data, port, "--demo") as process:
        coordinator = wait_for(lambda: json.loads((data / "credentials.json").read_text()).get("coordinator"))
        wait_for(lambda: shape(handoffs(base, coordinator)) == EXPECTED_HANDOFFS, timeout=120)
        compared = run(data, "audit", "replay", "--compare", f"sqlite:///{data / 'tracker.db'}", "--idle-timeout", "20")
        assert compared.returncode == 0, compared.stderr  # the demo's short SLA clocks are in its events

        saved = wait_for(lambda: checkpoint_of_everything(data), timeout=30)
        verifier_key = cli(data, "audit", "public-key")
        events = stored_events(data, checkpoint_size(saved))
        go = check(
            {"verifier_key": verifier_key, "note": saved, "leaves": [base64.b64encode(e).decode() for e in events]}
        )
        assert go["note_verified"], go
        assert go["root_matches_leaves"], go
        assert go["size"] == len(events) == stored_count(data)

        forged = forge_a_last_event(data)
        ready = wait_for(lambda: (r := httpx.get(f"{base}/readyz")).status_code == 503 and r.json(), timeout=30)
        assert "refused" in ready["checks"]["referral.event_store"]
        replay = run(data, "audit", "replay", "--idle-timeout", "20")
        assert replay.returncode == 0, replay.stderr  # the forged event never reached the log
        with sqlite3.connect(data / "referral.db") as db:
            refused = db.execute(
                "SELECT refused, log_index FROM referral_events WHERE event_id = ?", (forged,)
            ).fetchone()
            assert refused == ("the event is not signed", None)
            db.execute("DELETE FROM referral_events WHERE event_id = ?", (forged,))  # the operator cleans up

        process.send_signal(signal.SIGINT)
        process.wait(30)
    (tmp_path / "saved.txt").write_text(saved)

    with sqlite3.connect(data / "referral.db") as db:  # while Rujukan is stopped: a whole referral goes
        [victim] = db.execute("SELECT referral_id FROM referral_events WHERE seq = 3 LIMIT 1").fetchone()
        deleted = db.execute("DELETE FROM referral_events WHERE referral_id = ?", (victim,)).rowcount
    assert deleted >= 3

    def replay_with_checkpoint() -> tuple[subprocess.CompletedProcess[str], dict[str, Any]] | None:
        """Once the relay has published again every event left in the store."""
        done = run(data, "audit", "replay", "--checkpoint", str(tmp_path / "saved.txt"), "--report", str(report_file))
        if not report_file.exists():
            return None
        report = json.loads(report_file.read_text())
        return (done, report) if report["counts"].get("leaves") == stored_count(data) else None

    report_file = tmp_path / "report.json"
    with up(data, port) as again:
        found, report = wait_for(replay_with_checkpoint, timeout=60, every=1.0)
        assert found.returncode == 2, found.stderr
        missing = [v for v in report["violations"] if v["kind"] == "missing_from_log"]
        assert [v["referral_id"] for v in missing] == [victim]
        assert f"{deleted} event(s) missing from the log" in missing[0]["detail"]
        assert victim in found.stderr
        again.send_signal(signal.SIGINT)
        again.wait(30)
