"""`hoist pack DIR -t NAME`: build a reproducible one-layer image from a directory."""

from __future__ import annotations

import argparse

from hoist.pack import options_from_args, pack


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("context", metavar="DIR", help="the directory that becomes the image's /")
    parser.add_argument(
        "-t",
        "--tag",
        dest="tags",
        action="append",
        default=[],
        metavar="NAME",
        help="a name for the image (repeatable)",
    )
    parser.add_argument(
        "--entrypoint",
        metavar="CMD",
        help='JSON array (\'["/app/server","-v"]\') or a shell string run by /bin/sh -c',
    )
    parser.add_argument(
        "--cmd", metavar="CMD", help="default arguments, same forms as --entrypoint"
    )
    parser.add_argument(
        "-e", "--env", action="append", default=[], metavar="K=V", help="environment (repeatable)"
    )
    parser.add_argument("-w", "--workdir", metavar="DIR", help="working directory (absolute)")
    parser.add_argument(
        "--platform",
        metavar="OS/ARCH[/VARIANT]",
        help="the platform recorded in the config (default: the base's, else linux/<host arch>)",
    )
    parser.add_argument(
        "-l", "--label", action="append", default=[], metavar="K=V", help="a label (repeatable)"
    )
    parser.add_argument(
        "--base", metavar="NAME", help="an image in the local store to put the layer on top of"
    )


def run(args: argparse.Namespace) -> int:
    opts = options_from_args(
        args.context,
        args.tags,
        args.entrypoint,
        args.cmd,
        args.env,
        args.workdir,
        args.platform,
        args.label,
        args.base,
    )
    result = pack(opts)
    print(
        f"Packed {result.files} entries into layer {result.layer.digest.short} "
        f"({result.layer.size} bytes compressed)"
    )
    print(f"Image ID: {result.image_id}")
    for name in opts.names:
        print(f"Tagged: {name.familiar}")
    return 0
