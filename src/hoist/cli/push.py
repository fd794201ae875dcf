"""`hoist push NAME`: send an image from the local store to the registry its name routes to.

Output is docker's (`The push refers to repository [...]`, one line per layer, `TAG: digest:
sha256:... size: N`), live bars on a terminal, or one JSON document with `--json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hoist.cli.render import Progress, add_transfer_flags, retry_notice, transport_options
from hoist.copy import CopyResult, copy_image
from hoist.errors import NotFoundError
from hoist.reference import Reference, parse_repository
from hoist.registry.metadata import BlobLocations
from hoist.transports.registry import RegistryDestination
from hoist.transports.resolve import EndOptions


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the image, named with its registry")
    parser.add_argument(
        "-a",
        "--all-tags",
        action="store_true",
        help="push every tag of NAME's repository in the local store",
    )
    add_transfer_flags(parser, moved="uploaded", quiet_prints="digest")


def result_json(ref: Reference, result: CopyResult) -> dict[str, Any]:
    return {
        "reference": str(ref),
        "digest": str(result.root.digest),
        "size": len(result.root.data),
        "layers": [
            {
                "digest": str(b.desc.digest),
                "size": b.desc.size,
                "status": b.status.name.lower(),
                **({"mounted_from": b.mounted_from} if b.mounted_from else {}),
            }
            for b in result.layers
        ],
        "bytes_uploaded": result.bytes_sent,
        "seconds": round(result.seconds, 3),
    }


def _targets(args: argparse.Namespace) -> list[Reference]:
    from hoist.store import ImageStore

    if not args.all_tags:
        return [Reference.parse(args.name)]
    repo = parse_repository(args.name)
    if repo.tag or repo.digest:
        raise NotFoundError(
            f"--all-tags takes a repository, not {args.name!r}",
            fix=f"hoist push --all-tags {repo.name}",
        )
    found = sorted(
        {
            e.name
            for e in ImageStore().entries()
            if e.name is not None and e.name.name == repo.name and e.name.tag
        },
        key=str,
    )
    if not found:
        raise NotFoundError(
            f"no tags of {repo.familiar_name} in the local store",
            fix="list local images with hoist images",
        )
    return found


def run(args: argparse.Namespace) -> int:
    from hoist.store import ImageStore
    from hoist.transports.store import StoreSource

    targets = _targets(args)
    first = targets[0]
    if first.is_official_image:
        # the article's mistake: refuse before any network traffic, saying why
        from hoist.diagnose import NOT_ATTEMPTED, Situation, explain

        raise explain(
            Situation(
                operation="push",
                registry=first.registry,
                repository=first.repository,
                reference=first.familiar,
                code=NOT_ATTEMPTED,
                provider="dockerhub",
            )
        )
    store = ImageStore()
    sources = [StoreSource(store, ref) for ref in targets]  # fail early on a missing name
    quiet = args.quiet or args.json
    out = sys.stdout
    progress = Progress("push", out, quiet=quiet)
    if not quiet:
        out.write(f"The push refers to repository [{first.name}]\n")
        out.flush()
    locations = BlobLocations()
    client = EndOptions(
        transport=transport_options(args), on_retry=None if args.json else retry_notice
    ).client(first.registry)
    results: list[dict[str, Any]] = []
    with client:
        for ref, source in zip(targets, sources, strict=True):
            dest = RegistryDestination(client, ref, locations=locations, owns_client=False)
            try:
                # no client-side hash: store blobs were verified when they entered the store,
                # and the registry verifies each one against its digest before accepting it
                # (hoist.copy explains, and names a store file that rotted since)
                result = copy_image(
                    source,
                    dest,
                    tag=ref.tag,
                    jobs=max(1, args.jobs),
                    on_event=progress,
                    verify_blobs=False,
                )
            finally:
                source.close()
                locations.save()
            progress.finish()
            results.append(result_json(ref, result))
            if args.json:
                continue
            if args.quiet:
                print(result.root.digest)
                continue
            label = ref.tag or "latest"
            print(f"{label}: digest: {result.root.digest} size: {len(result.root.data)}")
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    return 0
