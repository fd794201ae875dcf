"""`hoist where NAME...`: how each name routes, before anything touches the network."""

from __future__ import annotations

import argparse
import json
import sys

from hoist.errors import InvalidReferenceError
from hoist.route import hints, invalid_json, route


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Show how each image name routes: the canonical reference, registry, repository, "
        "tag or digest, and the provider recognised from the hostname. Exits 1 if any name "
        "is invalid, after reporting each."
    )
    parser.add_argument(
        "names", nargs="+", metavar="NAME", help="image names as you would type them"
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per name, one per line"
    )


def run(args: argparse.Namespace) -> int:
    failed = False
    for text in args.names:
        try:
            r = route(text)
        except InvalidReferenceError as exc:
            failed = True
            if args.json:
                print(json.dumps(invalid_json(text, exc)))
            else:
                print(exc.render(), file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(r.to_json()))
            continue
        print(r.line())
        for note in hints(r):
            print(f"  note: {note}")
    return 1 if failed else 0
