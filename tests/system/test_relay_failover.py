"""Two ``rujukan relay run`` on one PostgreSQL database while referrals keep coming: one publishes, the
other stands by; the active one is killed -9 mid-stream and the standby takes over. Every event reaches
the topic, each referral's events in order (a repeat only as the same event again), and the takeover
time is printed."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import IO

import pytest
from sqlmodel import select

from rujukan.core.broker import Broker
from rujukan.core.codec import EventCodec
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import ReferralEvent
from rujukan.referral.settings import ReferralSettings
from tests.kafka_helpers import own_topics, read_topic
from tests.referral.conftest import MASTER_KEY_B64, ctx, settings
from tests.referral.test_relay import make_referrals
from tests.system.test_up import RUJUKAN, clean_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
__all__ = ["ctx", "settings"]  # the referral tests' fixtures, on PostgreSQL
REFERRALS = 300
ACTIVE = "relay: holding the lease"


@pytest.fixture
def backend() -> str:
    return "postgresql"  # two processes on one database: the deployment this is for


def test_the_standby_relay_takes_over_within_10_s_and_nothing_is_lost_or_reordered(
    ctx: ReferralContext, settings: ReferralSettings, broker: Broker, tmp_path: Path
) -> None:
    topics = own_topics()
    env = clean_env() | {
        "RUJUKAN_REFERRAL_DATABASE_URL": settings.database_url(),
        "RUJUKAN_MASTER_KEY": MASTER_KEY_B64,
        "RUJUKAN_KAFKA_BOOTSTRAP": broker.bootstrap,
        **{f"RUJUKAN_TOPICS__{name.upper()}": str(value) for name, value in topics.model_dump().items()},
    }
    first, first_log = relay(env, tmp_path / "relay-a.log")
    second = second_log = None
    try:
        wait_for_line(first_log, ACTIVE)
        second, second_log = relay(env, tmp_path / "relay-b.log")
        wait_for_line(second_log, "relay publishing to")
        events: dict[str, int] = {}
        writer = threading.Thread(
            target=lambda: events.update(make_referrals(ctx, REFERRALS, pause_s=0.02)), daemon=True
        )
        writer.start()
        time.sleep(2.0)
        os.kill(first.pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for_line(second_log, ACTIVE, timeout=15)
        takeover = time.monotonic() - killed
        writer.join(120)
        deadline = time.monotonic() + 60
        while unpublished(ctx) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert unpublished(ctx) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
        for log in (first_log, second_log):
            if log is not None:
                log.close()
    total = sum(events.values())
    records = read_topic(settings.model_copy(update={"kafka_bootstrap": broker.bootstrap}), topics.referral_events,
                         expected=total, timeout=30)  # fmt: skip
    firsts: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    codec = EventCodec()
    for record in records:
        event = codec.decode(record.value).record
        if str(event["event_id"]) not in seen:
            seen.add(str(event["event_id"]))
            firsts[str(event["referral_id"])].append(int(event["seq"]))
    print(f"relay takeover after kill -9: {takeover:.2f} s; {total} events, {len(records) - total} repeated")
    assert {rid: seqs for rid, seqs in firsts.items()} == {rid: list(range(1, n + 1)) for rid, n in events.items()}
    assert takeover < 10


def relay(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], IO[str]]:
    log = log_path.open("wb")
    process = subprocess.Popen([*RUJUKAN, "relay", "run", "--data-dir", str(log_path.parent / "data")],
                               env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    log.close()
    return process, log_path.open()


def wait_for_line(log: IO[str], text: str, timeout: float = 60) -> None:
    deadline, seen = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        seen += log.read()
        if text in seen:
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged within {timeout:.0f} s: {seen[-2000:]}")


def unpublished(ctx: ReferralContext) -> int:
    with ctx.read() as session:
        return len(session.exec(select(ReferralEvent.position).where(ReferralEvent.published_at == None)).all())  # noqa: E711
