"""`hoist load SOURCE`: import a docker save tarball or an OCI layout into the local store,
or an image straight from a Docker-compatible daemon (`docker-daemon:NAME`, exported first)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

from hoist.errors import UsageError
from hoist.store.importer import LoadedImage, load

DAEMON_PREFIX = "docker-daemon:"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        metavar="SOURCE",
        nargs="?",
        help="a docker save / podman save tarball (optionally gzip-compressed), an OCI layout "
        "directory, an OCI layout tar, or docker-daemon:NAME (an image in a Docker-compatible "
        "daemon, found through DOCKER_HOST)",
    )
    parser.add_argument("-i", "--input", metavar="FILE", help="same as SOURCE (docker load's flag)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def run(args: argparse.Namespace) -> int:
    source = args.source or args.input
    if not source:
        raise UsageError("hoist load needs a SOURCE", fix="hoist load app.tar")
    for image in _load(source):
        if args.quiet:
            continue
        if image.names:
            for name in image.names:
                print(f"Loaded image: {name.familiar}")
        else:
            print(f"Loaded image ID: {image.image_id}")
    return 0


def _load(source: str) -> list[LoadedImage]:
    with _archive(source) as path:
        return load(path)


@contextlib.contextmanager
def _archive(source: str) -> Iterator[Path]:
    """The file to import: `source` itself, or the daemon's `docker save` of it (a temp file)."""
    if not source.startswith(DAEMON_PREFIX) or Path(source).exists():
        yield Path(source)
        return
    from hoist.reference import Reference
    from hoist.transports.daemon import saved_image  # lazy: only daemon loads need httpx

    with saved_image(Reference.parse(source[len(DAEMON_PREFIX) :])) as path:
        yield path
