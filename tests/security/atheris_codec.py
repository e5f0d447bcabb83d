"""Coverage-guided fuzzing of the event decoder with atheris (libFuzzer): any exception other than the
codec's typed errors is a crash. Run by test_decoder_fuzz with a bounded number of runs and an RSS
limit; by hand: ``python -m tests.security.atheris_codec -runs=1000000 -rss_limit_mb=512``."""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from rujukan.core.codec import EventCodec
    from rujukan.core.errors import CodecError
    from tests.factories import EVENT_TYPES, sample_event

CODEC = EventCodec()
SEEDS = [CODEC.encode(sample_event(name)) for name in EVENT_TYPES]


def one_input(data: bytes) -> None:
    # Half the inputs are a valid event with its body replaced, so most reach the body decoder.
    if data[:1] == b"\x00" and len(data) > 1:
        seed = SEEDS[data[1] % len(SEEDS)]
        data = seed[:10] + data[2:]
    with contextlib.suppress(CodecError):
        CODEC.decode(data)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
