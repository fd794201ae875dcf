"""`hoist registry gc|check`: maintain the storage of `hoist serve`.

`gc` may run while the server is serving: it takes the storage lock exclusively for the
sweep (pushes wait for it briefly) and keeps everything younger than `--grace`.
`check` reads every blob and link and reports what is inconsistent (exit 1 if anything).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hoist.errors import ExitCode, UsageError
from hoist.paths import hoist_home
from hoist.server.config import parse_duration
from hoist.server.maintenance import check_storage, collect_garbage
from hoist.server.storage import FilesystemDriver
from hoist.server.store import RegistryStore


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples:\n"
        "  hoist registry gc --root /srv/registry --grace 2h\n"
        "  hoist registry gc --delete-untagged --dry-run\n"
        "  hoist registry check --root /srv/registry\n"
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    gc = sub.add_parser("gc", help="delete unreferenced blobs, links and stale uploads")
    check = sub.add_parser("check", help="verify every blob's digest and every link")
    for p in (gc, check):
        p.add_argument(
            "--root", type=Path, help="registry storage directory (default $HOIST_HOME/registry)"
        )
    gc.add_argument(
        "--grace",
        default="1h",
        help="keep anything younger than this (default 1h), so concurrent pushes are safe",
    )
    gc.add_argument(
        "--upload-ttl", default="24h", help="remove uploads idle this long (default 24h)"
    )
    gc.add_argument(
        "--delete-untagged",
        action="store_true",
        help="also delete manifests no tag, index or subject reaches",
    )
    gc.add_argument("--dry-run", action="store_true", help="report, but delete nothing")


def _store(root: Path | None) -> RegistryStore:
    root = root or hoist_home() / "registry"
    if not (root / "blobs").is_dir() and not (root / "repositories").is_dir():
        raise UsageError(
            f"{root} is not a hoist registry storage directory",
            fix="pass the --root that 'hoist serve' uses",
        )
    return RegistryStore(FilesystemDriver(root))


def run(args: argparse.Namespace) -> int:
    store = _store(args.root)
    if args.action == "check":
        problems = check_storage(store)
        for problem in problems:
            print(f"problem: {problem}")
        blobs = len(store.all_blobs())
        repos = len(store.repositories())
        if problems:
            print(f"{len(problems)} problem(s) in {blobs} blobs and {repos} repositories")
            return int(ExitCode.FAILURE)
        print(f"ok: {blobs} blobs and {repos} repositories verified")
        return int(ExitCode.OK)
    report = collect_garbage(
        store,
        grace=parse_duration(args.grace, "--grace"),
        upload_ttl=parse_duration(args.upload_ttl, "--upload-ttl"),
        delete_untagged=args.delete_untagged,
        dry_run=args.dry_run,
    )
    verb = "would remove" if args.dry_run else "removed"
    for name, digest in report.manifests:
        print(f"{verb} manifest {name}@{digest}")
    for name, digest in report.layer_links:
        print(f"{verb} link {name} -> {digest}")
    for digest in report.blobs:
        print(f"{verb} blob {digest}")
    print(
        f"{verb} {len(report.blobs)} blob(s) ({report.freed_bytes} bytes), "
        f"{len(report.layer_links)} link(s), {len(report.manifests)} manifest(s), "
        f"{len(report.uploads)} stale upload(s)"
    )
    return int(ExitCode.OK)
