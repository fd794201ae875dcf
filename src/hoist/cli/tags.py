"""`hoist tags REPO`: the tags of a registry repository, one per line (or `--json`)."""

from __future__ import annotations

import argparse
import json

from hoist.cli.render import add_registry_flags, transport_options
from hoist.errors import UsageError
from hoist.reference import parse_repository
from hoist.transports.resolve import EndOptions


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repository", metavar="REPO", help="a repository, without a tag")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    add_registry_flags(parser)


def run(args: argparse.Namespace) -> int:
    ref = parse_repository(args.repository)
    if ref.tag is not None or ref.digest is not None:
        raise UsageError(
            f"{args.repository!r} names a version, not a repository",
            fix=f"hoist tags {ref.name}",
        )
    with EndOptions(transport=transport_options(args)).client(ref.registry) as client:
        tags = client.list_tags(ref.repository)
    if args.json:
        print(json.dumps({"repository": ref.name, "tags": tags}, indent=2))
    else:
        for tag in tags:
            print(tag)
    return 0
