"""`hoist load SOURCE`: import a docker save tarball or an OCI layout into the local store."""

from __future__ import annotations

import argparse
from pathlib import Path

from hoist.errors import UsageError
from hoist.store.importer import load


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        metavar="SOURCE",
        nargs="?",
        help="a docker save / podman save tarball (optionally gzip-compressed), an OCI layout "
        "directory, or an OCI layout tar",
    )
    parser.add_argument("-i", "--input", metavar="FILE", help="same as SOURCE (docker load's flag)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def run(args: argparse.Namespace) -> int:
    source = args.source or args.input
    if not source:
        raise UsageError("hoist load needs a SOURCE", fix="hoist load app.tar")
    for image in load(Path(source)):
        if args.quiet:
            continue
        if image.names:
            for name in image.names:
                print(f"Loaded image: {name.familiar}")
        else:
            print(f"Loaded image ID: {image.image_id}")
    return 0
