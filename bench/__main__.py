"""``python -m bench codec``: run a benchmark and print its figures (and JSON with ``--json``)."""

from __future__ import annotations

import argparse
import json

from bench import codec


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("name", choices=["codec"])
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args()
    results = codec.measure()
    print(json.dumps(results, indent=2) if args.json else codec.report(results))


if __name__ == "__main__":
    main()
