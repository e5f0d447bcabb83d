"""``python -m bench NAME [--json]``: run a benchmark and print its figures."""

from __future__ import annotations

import argparse
import json

from bench import codec, ingest, replay, tracker


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("name", choices=["codec", "ingest", "tracker", "replay"])
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    parser.add_argument("--seconds", type=float, default=10, help="ingest: measured seconds per backend")
    parser.add_argument("--concurrency", type=int, default=16, help="ingest: concurrent clients")
    parser.add_argument("--events", type=int, default=100_000, help="replay: events in the generated log")
    args = parser.parse_args()
    if args.name == "codec":
        results, text = codec.measure(), None
        text = codec.report(results)
    elif args.name == "ingest":
        results = ingest.measure(seconds=args.seconds, concurrency=args.concurrency)
        text = ingest.report(results)
    elif args.name == "replay":
        results = replay.measure(events=args.events)
        text = replay.report(results)
    else:
        results = tracker.measure()
        text = tracker.report(results)
    print(json.dumps(results, indent=2) if args.json else text)


if __name__ == "__main__":
    main()
