"""``python -m bench NAME [--json]``: run a benchmark and print its figures; ``all [--quick]`` runs every one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench import all as everything
from bench import codec, directory, ingest, latency, notifier, replay, tracker


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "name",
        choices=["all", "readme", "codec", "ingest", "latency", "tracker", "replay", "notifier", "directory"],
    )
    parser.add_argument("file", nargs="?", type=Path, help="readme: the results file whose table goes in the README")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    parser.add_argument("--seconds", type=float, default=10, help="ingest: measured seconds per backend")
    parser.add_argument("--connections", type=int, default=16, help="ingest: wrk's connections")
    parser.add_argument("--events", type=int, default=100_000, help="replay: events in the generated log")
    parser.add_argument("--deliveries", type=int, default=5000, help="notifier: webhook deliveries to send")
    parser.add_argument("--rate", type=float, default=300, help="latency: creates offered per second")
    parser.add_argument("--quick", action="store_true", help="all: the short run (under 5 minutes)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="all: where the JSON goes")
    args = parser.parse_args()
    if args.name == "all":
        print(everything.run(quick=args.quick, out=args.out))
        return
    if args.name == "readme":
        if args.file is None:
            parser.error("readme needs the results file")
        everything.readme(args.file, Path("README.md"))
        return
    if args.name == "codec":
        results, text = codec.measure(), None
        text = codec.report(results)
    elif args.name == "ingest":
        results = ingest.measure(seconds=args.seconds, connections=args.connections)
        text = ingest.report(results)
    elif args.name == "latency":
        results = latency.measure(rate=args.rate, seconds=args.seconds)
        text = latency.report(results)
    elif args.name == "notifier":
        results = notifier.measure(deliveries=args.deliveries)
        text = notifier.report(results)
    elif args.name == "directory":
        results = directory.measure(seconds=args.seconds)
        text = directory.report(results)
    elif args.name == "replay":
        results = replay.measure(events=args.events)
        text = replay.report(results)
    else:
        results = tracker.measure()
        text = tracker.report(results)
    print(json.dumps(results, indent=2) if args.json else text)


if __name__ == "__main__":
    main()
