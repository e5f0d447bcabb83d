"""Write the golden bytes of a new schema version: ``python -m tests.write_golden``.

Only files that do not exist yet are written (the latest version of each event type, from the sample
event of tests/factories.py). The bytes of a version already pinned never change, so this cannot make a
changed wire format pass: the codec tests compare against the files and never write them.
"""

from __future__ import annotations

from pathlib import Path

from rujukan.core.codec import EventCodec
from tests.factories import EVENT_TYPES, sample_event

GOLDEN = Path(__file__).parent / "golden"


def missing_golden_files(codec: EventCodec) -> dict[Path, str]:
    """The golden file of each event type's latest version that does not exist yet, with its hex."""
    missing: dict[Path, str] = {}
    for event_type in EVENT_TYPES:
        latest = codec.catalogue.latest(event_type)
        assert latest is not None, f"no schema for {event_type}"
        path = GOLDEN / f"{event_type}.v{latest.version}.hex"
        if not path.exists():
            missing[path] = codec.encode(sample_event(event_type)).hex() + "\n"
    return missing


def main() -> None:
    written = missing_golden_files(EventCodec())
    for path, text in written.items():
        path.write_text(text)
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    if not written:
        print("every latest version has its golden bytes; nothing written")


if __name__ == "__main__":
    main()
