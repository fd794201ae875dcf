"""`hoist tag SOURCE TARGET`: give a stored image another name; nothing is copied.

The target's registry prefix decides where a later `hoist push` goes, which is the article's
first trap, so the command says where TARGET routes and warns when it has no registry prefix
(it then means Docker Hub).
"""

from __future__ import annotations

import argparse
import sys

from hoist.errors import InvalidReferenceError
from hoist.reference import Reference, has_explicit_registry
from hoist.route import describe_route
from hoist.store import ImageStore


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SOURCE", help="a name or image ID (full or short)")
    parser.add_argument(
        "target", metavar="TARGET", help="the new name, e.g. reg.example.com/team/app:1"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print the route")


def run(args: argparse.Namespace) -> int:
    store = ImageStore()
    target = Reference.parse(args.target)
    if target.digest is not None:
        raise InvalidReferenceError(
            f"cannot tag with a digest: {args.target}",
            why="a digest names content; it cannot be assigned to other content",
            fix=f"use a tag instead, e.g. {target.familiar_name}:1.0",
        )
    entry = store.resolve(args.source)
    with store.writing():
        store.set_name(target, entry.descriptor)
    if not args.quiet:
        print(f"Tagged {target.familiar}")
        print(f"  {describe_route(target)}")
        if not has_explicit_registry(args.target):
            print(
                f"warning: {args.target!r} has no registry prefix, so it means "
                f"{target}: a push goes to Docker Hub.\n"
                f"  To push elsewhere, include the registry: "
                f"hoist tag {args.source} REGISTRY/{target.familiar_name}:{target.tag}",
                file=sys.stderr,
            )
    return 0
