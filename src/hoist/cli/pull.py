"""`hoist pull NAME`: fetch an image from its registry into the local store, as docker does
(one platform of a multi-platform image: this machine's, or `--platform`)."""

from __future__ import annotations

import argparse
import json
import platform as _platform
import sys

from hoist.cli.render import Progress, add_transfer_flags, retry_notice, transport_options
from hoist.copy import copy_image
from hoist.oci import Platform
from hoist.reference import Reference
from hoist.registry.metadata import BlobLocations
from hoist.transports.base import BlobStatus
from hoist.transports.registry import RegistrySource
from hoist.transports.resolve import EndOptions

_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def host_platform() -> Platform:
    machine = _platform.machine().lower()
    return Platform("linux", _ARCH.get(machine, machine))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the image to pull")
    parser.add_argument(
        "--platform",
        metavar="OS/ARCH[/VARIANT]",
        help="which image of a multi-platform index (default: this machine's)",
    )
    add_transfer_flags(parser, moved="downloaded", quiet_prints="name")


def run(args: argparse.Namespace) -> int:
    from hoist.store import ImageStore
    from hoist.transports.store import StoreDestination

    ref = Reference.parse(args.name)
    wanted = Platform.parse(args.platform) if args.platform else host_platform()
    quiet = args.quiet or args.json
    progress = Progress("pull", sys.stdout, quiet=quiet)
    client = EndOptions(
        transport=transport_options(args), on_retry=None if args.json else retry_notice
    ).client(ref.registry)
    locations = BlobLocations()
    source = RegistrySource(client, ref, locations=locations)
    try:
        requested = source.root()  # resolve first: a missing tag prints only the error
        if not quiet:
            print(f"{ref.identifier}: Pulling from {ref.repository}")
        dest = StoreDestination(ImageStore(), ref)
        try:
            result = copy_image(
                source,
                dest,
                tag=ref.tag,
                jobs=max(1, args.jobs),
                platform=wanted,
                on_event=progress,
                # the store hashes each blob as it writes it and renames it into place only
                # if size and digest match: hashing it a second time on the way buys nothing
                verify_blobs=False,
            )
        finally:
            dest.close()
        progress.finish()
    finally:
        source.close()
    fresh = any(b.status is BlobStatus.PUSHED for b in result.blobs)
    if args.json:
        print(
            json.dumps(
                {
                    "reference": str(ref),
                    "digest": str(requested.digest),
                    "manifest": str(result.root.digest),
                    "platform": str(wanted) if requested.is_index else None,
                    "layers": [
                        {
                            "digest": str(b.desc.digest),
                            "size": b.desc.size,
                            "status": "downloaded" if b.status is BlobStatus.PUSHED else "exists",
                        }
                        for b in result.layers
                    ],
                    "bytes_downloaded": result.bytes_sent,
                    "seconds": round(result.seconds, 3),
                },
                indent=2,
            )
        )
        return 0
    if not args.quiet:
        print(f"Digest: {requested.digest}")
        state = "Downloaded newer image for" if fresh else "Image is up to date for"
        print(f"Status: {state} {ref.familiar}")
    print(ref)
    return 0
