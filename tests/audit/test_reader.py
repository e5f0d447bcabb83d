"""The replay's reading in a helper process gives what reading in the replay's own process gives, says how
far it is, and fails (rather than waits) when the helper is gone."""

from __future__ import annotations

import multiprocessing
import os
import signal
import struct
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from kafka.errors import KafkaError, KafkaTimeoutError

from rujukan.audit.errors import ReadError
from rujukan.audit.reader import Message, _portable, _receive, read_topic, read_topic_in_helper
from rujukan.core.settings import CoreSettings
from rujukan.tracker.settings import TrackerSettings
from tests.audit.chains import referral_chain
from tests.audit.conftest import publish


def by_partition(messages: list[Message]) -> dict[int, list[Message]]:
    found: dict[int, list[Message]] = defaultdict(list)
    for message in messages:
        found[message.partition].append(message)
    return dict(found)


@pytest.mark.integration
def test_the_helper_reads_what_the_replay_would_read_itself(audit_settings: TrackerSettings) -> None:
    values = [value for _ in range(500) for value in referral_chain()]  # 2,500 events
    publish(audit_settings, values)
    topic = audit_settings.topics.referral_events
    itself = [message for batch in read_topic(audit_settings, topic) for message in batch]
    progress: list[tuple[int, int | None]] = []
    helped = [
        message
        for batch in read_topic_in_helper(
            audit_settings, topic, on_progress=lambda p: progress.append((p.read, p.total))
        )
        for message in batch
    ]
    assert sorted(message.value for message in itself) == sorted(values)  # type: ignore[type-var]
    assert by_partition(helped) == by_partition(itself)  # every message, in log order, with its headers
    assert len(by_partition(helped)) > 1
    reads = [read for read, _ in progress]
    assert reads == sorted(set(reads))
    assert progress[-1] == (len(values), len(values))


@pytest.mark.integration
def test_a_helper_that_dies_ends_the_read_with_an_error(audit_settings: TrackerSettings) -> None:
    # 15,000 events: far more than the pipe holds, so the helper is still sending when it is killed
    publish(audit_settings, [value for _ in range(3000) for value in referral_chain()])
    batches = read_topic_in_helper(audit_settings, audit_settings.topics.referral_events)
    first = next(batches)
    [helper] = [child for child in multiprocessing.active_children() if child.name == "audit-reader"]
    assert helper.pid is not None
    os.kill(helper.pid, signal.SIGKILL)
    rest: list[int] = []
    with pytest.raises(ReadError, match=r"the reading process ended before the end of the log \(killed by signal 9\)"):
        rest.extend(len(batch) for batch in batches)
    assert len(first) + sum(rest) < 15_000
    assert not [child for child in multiprocessing.active_children() if child.name == "audit-reader"]


PROGRAM = """
import os, sys
if __name__ != "__main__":  # run again, in a child
    open(os.environ["RAN_AGAIN"], "a").write(__name__)
if __name__ == "__main__":
    from rujukan.audit.reader import read_topic_in_helper
    from rujukan.core.settings import CoreSettings
    settings = CoreSettings.model_validate_json(sys.argv[1])
    print(sum(len(batch) for batch in read_topic_in_helper(settings, sys.argv[2])))
"""


@pytest.mark.integration
def test_the_helper_does_not_run_the_parents_program_again(audit_settings: TrackerSettings, tmp_path: Path) -> None:
    """Spawn runs the parent's main module again in the child; for the ``rujukan`` command that imported the
    whole CLI (1.6 s) before the first fetch of every replay."""
    publish(audit_settings, referral_chain())
    program, ran_again = tmp_path / "program.py", tmp_path / "ran-again"
    program.write_text(PROGRAM)
    core = CoreSettings.model_validate(audit_settings.model_dump(include=set(CoreSettings.model_fields)))
    done = subprocess.run(
        [sys.executable, str(program), core.model_dump_json(), audit_settings.topics.referral_events],
        env={**os.environ, "RAN_AGAIN": str(ran_again)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(len(referral_chain()))]
    assert not ran_again.exists()


def test_the_helpers_errors_cross_as_themselves_or_by_kind() -> None:
    """The replay's process reports a broker error as if it had read itself; anything else by its kind
    only (a message could hold data)."""

    class Unpicklable(KafkaError):  # type: ignore[misc]  # a local class: pickle cannot find it again
        pass

    crossed = _portable(KafkaTimeoutError("no answer"), "events")
    assert isinstance(crossed, KafkaTimeoutError)
    assert str(crossed) == str(KafkaTimeoutError("no answer"))
    assert isinstance(_portable(ReadError("the broker sent nothing for 30 s"), "events"), ReadError)
    for other in (ValueError("Siti Aminah"), Unpicklable()):
        found = _portable(other, "events")
        assert type(found) is ReadError
        assert str(found) == f"reading events failed: {type(other).__name__}"


def _half_a_parcel(fd: int) -> None:
    os.write(fd, struct.pack("!i", 1_000_000) + b"x" * 100)  # a parcel's length, then a tenth of a percent of it


def test_a_helper_that_dies_halfway_through_a_parcel_ends_the_read_with_an_error() -> None:
    """The kill can come while a parcel is on its way: the pipe ends in the middle of a message (OSError,
    not EOFError), which is the same ReadError and never a traceback."""
    receiving, sending = multiprocessing.Pipe(duplex=False)
    helper = multiprocessing.get_context("fork").Process(target=_half_a_parcel, args=(sending.fileno(),))
    helper.start()
    helper.join(10)
    sending.close()
    with pytest.raises(ReadError, match=r"the reading process ended before the end of the log \(exit code 0\)"):
        _receive(receiving, helper, idle_timeout_s=5)
