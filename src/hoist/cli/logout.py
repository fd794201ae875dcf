"""`hoist logout [REGISTRY]`: forget stored credentials, wherever docker would keep them."""

from __future__ import annotations

import argparse

from hoist.auth.keychain import erase_credentials
from hoist.cli.login import add_registry_argument, registry_argument


def configure(parser: argparse.ArgumentParser) -> None:
    add_registry_argument(parser)


def run(args: argparse.Namespace) -> int:
    registry = registry_argument(args.registry)
    removed = erase_credentials(registry)
    if not removed:
        print(f"Not logged in to {registry}")
        return 0
    print(f"Removing login credentials for {registry} (from {', '.join(removed)})")
    return 0
