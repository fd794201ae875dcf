"""`hoist inspect NAME`: what a name points to — manifest, platforms, config — without pulling.

NAME is a registry name or any transport (`oci:DIR:TAG`, `docker-archive:FILE`). `--raw`
prints the manifest bytes exactly as stored (their sha256 is the digest); `--config` prints the
image configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hoist.cli.render import add_registry_flags, transport_options
from hoist.copy import select_platform
from hoist.errors import InvalidContentError
from hoist.oci import Manifest, Platform, VerifyingReader
from hoist.transports.base import ImageSource
from hoist.transports.resolve import EndOptions, open_source

_CONFIG_LIMIT = 8 * 1024 * 1024


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="an image name or transport:reference")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--raw", action="store_true", help="print the manifest bytes as stored")
    group.add_argument("--config", action="store_true", help="print the image configuration")
    parser.add_argument(
        "--platform", metavar="OS/ARCH[/VARIANT]", help="which image of a multi-platform index"
    )
    add_registry_flags(parser)


def _config(source: ImageSource, manifest: Manifest) -> dict[str, Any]:
    desc = manifest.config
    if desc.size > _CONFIG_LIMIT:
        raise InvalidContentError(f"the config of {source.describe()} is {desc.size} bytes")
    with source.open_blob(desc) as raw:
        reader = VerifyingReader(raw, desc.digest, desc.size)
        data = b"".join(iter(lambda: reader.read(1 << 16), b""))
    try:
        obj = json.loads(data)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def describe(source: ImageSource, root: Manifest, image: Manifest | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": source.describe(),
        "digest": str(root.digest),
        "mediaType": root.media_type,
        "size": len(root.data),
    }
    if root.is_index:
        out["manifests"] = [
            {
                "digest": str(d.digest),
                "mediaType": d.media_type,
                "size": d.size,
                "platform": str(d.platform) if d.platform else None,
            }
            for d in root.manifests
        ]
    if image is None or image.is_index:
        return out
    if image is not root:
        out["platformDigest"] = str(image.digest)
    cfg = _config(source, image) if image.artifact_type is None else {}
    inner = cfg.get("config") if isinstance(cfg.get("config"), dict) else {}
    assert isinstance(inner, dict)
    out.update(
        {
            "created": cfg.get("created"),
            "architecture": cfg.get("architecture"),
            "os": cfg.get("os"),
            "config": str(image.config.digest),
            "layers": [
                {"digest": str(d.digest), "size": d.size, "mediaType": d.media_type}
                for d in image.layers
            ],
            "env": inner.get("Env") or [],
            "entrypoint": inner.get("Entrypoint"),
            "cmd": inner.get("Cmd"),
            "labels": inner.get("Labels") or {},
        }
    )
    if image.artifact_type:
        out["artifactType"] = image.artifact_type
    return out


def run(args: argparse.Namespace) -> int:
    source = open_source(args.name, EndOptions(transport=transport_options(args)))
    try:
        root = source.root()
        if args.raw:
            sys.stdout.buffer.write(root.data)
            sys.stdout.flush()
            return 0
        image: Manifest | None = root
        if root.is_index:
            if args.platform or args.config:
                from hoist.cli.pull import host_platform

                wanted = Platform.parse(args.platform) if args.platform else host_platform()
                image = select_platform(source, root, wanted)
            else:
                image = None
        if args.config:
            assert image is not None
            print(json.dumps(_config(source, image), indent=2))
            return 0
        print(json.dumps(describe(source, root, image), indent=2))
    finally:
        source.close()
    return 0
