"""`hoist serve`: run the embedded OCI registry.

Flags cover the common cases; everything else lives in a YAML file given with `--config`
(documented in docs/server.md, example in examples/serve.yml). Flags win over the file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from hoist.server.config import AUTH_MODES, ServerConfig, load_config
from hoist.server.runner import serve


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples:\n"
        "  hoist serve                                  # loopback, no auth, $HOIST_HOME/registry\n"
        "  hoist serve --addr 0.0.0.0:5000 --htpasswd ./htpasswd --tls-cert c.pem --tls-key k.pem\n"
        "  hoist serve --config examples/serve.yml\n"
    )
    parser.add_argument("--config", type=Path, help="YAML configuration file (see docs/server.md)")
    parser.add_argument(
        "--addr", help="HOST:PORT to listen on (default 127.0.0.1:5000; port 0 picks a free one)"
    )
    parser.add_argument(
        "--root", type=Path, help="storage directory (default $HOIST_HOME/registry)"
    )
    parser.add_argument(
        "--storage", choices=("filesystem", "memory"), help="storage driver (default filesystem)"
    )
    parser.add_argument("--htpasswd", type=Path, help="htpasswd file with bcrypt entries")
    parser.add_argument(
        "--auth",
        choices=AUTH_MODES,
        help="none, htpasswd (Basic) or token (Bearer; users from --htpasswd); "
        "default: htpasswd if --htpasswd is given",
    )
    parser.add_argument("--anonymous-pull", action="store_true", help="let anyone pull")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate (chain) for HTTPS")
    parser.add_argument("--tls-key", type=Path, help="PEM private key for HTTPS")
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="allow serving without authentication on a non-loopback address",
    )
    parser.add_argument(
        "--no-fsync", action="store_true", help="skip fsync (faster, not crash-proof)"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")


def build_config(args: argparse.Namespace) -> ServerConfig:
    """The file's settings (if any) overridden by the flags that were given."""
    cfg = load_config(args.config) if args.config else ServerConfig()
    if args.addr:
        cfg.addr = args.addr
    if args.root:
        cfg.root = args.root
    if args.storage:
        cfg.storage = args.storage
    if args.htpasswd:
        cfg.htpasswd = args.htpasswd
        if cfg.auth == "none":
            cfg.auth = "htpasswd"
    if args.auth:
        cfg.auth = args.auth
    if args.anonymous_pull:
        cfg.anonymous_pull = True
    if args.tls_cert:
        cfg.tls_cert = args.tls_cert
    if args.tls_key:
        cfg.tls_key = args.tls_key
    if args.insecure_no_auth:
        cfg.insecure_no_auth = True
    if args.no_fsync:
        cfg.fsync = False
    if args.access_log:
        cfg.access_log = True
    cfg.validate()
    return cfg


def run(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(cfg))
    return 0
