"""`hoist copy SRC DST`: any end to any end — registries, `oci:DIR[:TAG]`,
`docker-archive:FILE[:NAME]`, `docker-daemon:NAME` (both ways). Registry to registry streams
blob by blob without touching the disk, and mounts instead of copying within one registry."""

from __future__ import annotations

import argparse
import json
import sys

from hoist.auth.keychain import StaticKeychain, default_keychain
from hoist.cli.render import Progress, add_transfer_flags, retry_notice, transport_options
from hoist.copy import copy_image
from hoist.oci import Platform
from hoist.registry.metadata import BlobLocations
from hoist.transports.resolve import EndOptions, open_destination, open_source


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SRC", help="where the image is")
    parser.add_argument("destination", metavar="DST", help="where it goes")
    parser.add_argument("--src-creds", metavar="USER:PASS", help="credentials for SRC's registry")
    parser.add_argument("--dest-creds", metavar="USER:PASS", help="credentials for DST's registry")
    parser.add_argument(
        "--platform",
        metavar="OS/ARCH[/VARIANT]",
        help="copy one platform of a multi-platform image (default: all of them)",
    )
    add_transfer_flags(parser, moved="copied", quiet_prints="digest")
    parser.epilog = (
        "ends: NAME (a registry), docker://NAME, oci:DIR[:TAG], docker-archive:FILE[:NAME], "
        "docker-daemon:NAME (DOCKER_HOST or /var/run/docker.sock)"
    )


def run(args: argparse.Namespace) -> int:
    locations = BlobLocations()
    transport = transport_options(args)
    hook = None if args.json else retry_notice
    src_keys = StaticKeychain.from_flag(args.src_creds, "--src-creds") if args.src_creds else None
    dst_keys = (
        StaticKeychain.from_flag(args.dest_creds, "--dest-creds") if args.dest_creds else None
    )
    source = open_source(
        args.source,
        EndOptions(default_keychain(src_keys), transport, locations, hook),
    )
    try:
        destination, tag = open_destination(
            args.destination,
            EndOptions(default_keychain(dst_keys), transport, locations, hook),
        )
        quiet = args.quiet or args.json
        progress = Progress("copy", sys.stdout, quiet=quiet)
        if not quiet:
            print(f"Copying {source.describe()} to {destination.describe()}")
        try:
            result = copy_image(
                source,
                destination,
                tag=tag,
                jobs=max(1, args.jobs),
                platform=Platform.parse(args.platform) if args.platform else None,
                on_event=progress,
            )
        finally:
            destination.close()
        progress.finish()
    finally:
        source.close()
        locations.save()
    if args.json:
        print(
            json.dumps(
                {
                    "source": args.source,
                    "destination": args.destination,
                    "digest": str(result.root.digest),
                    "size": len(result.root.data),
                    "blobs": [
                        {
                            "digest": str(b.desc.digest),
                            "size": b.desc.size,
                            "role": b.role,
                            "status": b.status.name.lower(),
                        }
                        for b in result.blobs
                    ],
                    "bytes_copied": result.bytes_sent,
                    "seconds": round(result.seconds, 3),
                },
                indent=2,
            )
        )
    elif args.quiet:
        print(result.root.digest)
    else:
        print(f"Copied: digest: {result.root.digest} size: {len(result.root.data)}")
    return 0
