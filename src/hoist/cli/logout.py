"""`hoist logout [REGISTRY]`: forget stored credentials, wherever docker would keep them."""

from __future__ import annotations

import argparse

from hoist.auth.keychain import erase_credentials
from hoist.cli.login import registry_argument
from hoist.reference import DEFAULT_REGISTRY


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "registry",
        nargs="?",
        default=DEFAULT_REGISTRY,
        metavar="REGISTRY",
        help="host[:port] of the registry (default: Docker Hub)",
    )


def run(args: argparse.Namespace) -> int:
    registry = registry_argument(args.registry)
    removed = erase_credentials(registry)
    if not removed:
        print(f"Not logged in to {registry}")
        return 0
    print(f"Removing login credentials for {registry} (from {', '.join(removed)})")
    return 0
