"""`hoist rmi NAME...`: remove names from the local store; content goes when nothing names it."""

from __future__ import annotations

import argparse
import sys

from hoist.errors import ExitCode, HoistError
from hoist.store import ImageStore


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", metavar="NAME", nargs="+", help="an image name or ID")
    parser.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="given an image ID, remove every name it has",
    )


def run(args: argparse.Namespace) -> int:
    store = ImageStore()
    status = int(ExitCode.OK)
    for text in args.names:
        try:
            result = store.remove(text, force=args.force)
        except HoistError as exc:  # docker goes on with the other names, then fails
            print(exc.render(), file=sys.stderr)
            status = max(status, int(exc.exit_code))
            continue
        for name in result.untagged:
            print(f"Untagged: {name}")
        for image_id in result.deleted:
            print(f"Deleted: {image_id}")
    return status
