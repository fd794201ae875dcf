"""`hoist login [REGISTRY]`: check credentials against the registry, then store them as docker
would (in the configured credential helper, else config.json)."""

from __future__ import annotations

import argparse
import getpass
import sys

from hoist.auth.config_file import DOCKER_HUB_KEY, hostname_of, server_key
from hoist.auth.keychain import Credential, StaticKeychain, store_credentials
from hoist.cli.render import add_registry_flags, transport_options, warn
from hoist.errors import UsageError
from hoist.reference import DEFAULT_REGISTRY, REGISTRY_RE
from hoist.registry.client import RegistryClient


def add_registry_argument(parser: argparse.ArgumentParser) -> None:
    """The optional REGISTRY of login and logout (default Docker Hub, as docker)."""
    parser.add_argument(
        "registry",
        nargs="?",
        default=DEFAULT_REGISTRY,
        metavar="REGISTRY",
        help="host[:port] of the registry (default: Docker Hub)",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    add_registry_argument(parser)
    parser.add_argument("-u", "--username", help="the username")
    parser.add_argument(
        "-p", "--password", help="the password (insecure: visible to other users; prefer stdin)"
    )
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add_registry_flags(parser)


def registry_argument(text: str) -> str:
    """Accept `host`, `host:port` or a URL as docker does, and normalize Docker Hub's names."""
    host = hostname_of(text)
    if server_key(host) == DOCKER_HUB_KEY:  # any of Docker Hub's names
        return DEFAULT_REGISTRY
    if not host or not REGISTRY_RE.match(host):
        raise UsageError(
            f"{text!r} is not a registry host",
            why="login takes a registry such as registry.example.com or 127.0.0.1:5000, "
            "not an image name",
            fix="for example: hoist login registry.example.com",
        )
    return host


def run(args: argparse.Namespace) -> int:
    registry = registry_argument(args.registry)
    if args.password is not None and args.password_stdin:
        raise UsageError("--password and --password-stdin are mutually exclusive")
    username = args.username
    password = args.password
    if args.password is not None:
        warn("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
    if args.password_stdin:
        if not username:
            raise UsageError(
                "--password-stdin needs --username",
                fix=f"for example: echo $TOKEN | hoist login -u USER --password-stdin {registry}",
            )
        password = sys.stdin.read().rstrip("\r\n")
    if not username:
        if not sys.stdin.isatty():
            raise UsageError(
                "no username given",
                fix=f"hoist login -u USER --password-stdin {registry} (in scripts and CI)",
            )
        username = input("Username: ").strip()
    if password is None:
        if not sys.stdin.isatty():
            raise UsageError(
                "no password given", fix="pass it on standard input with --password-stdin"
            )
        password = getpass.getpass("Password: ")
    if not username or not password:
        raise UsageError("the username and password must not be empty")

    cred = Credential(username=username, password=password, source="the command line")
    with RegistryClient(
        registry, keychain=StaticKeychain(cred), options=transport_options(args)
    ) as client:
        identity_token = client.verify_login()
    if identity_token:
        where = store_credentials(registry, username, identity_token, identity_token=True)
    else:
        where = store_credentials(registry, username, password)
    print(f"Credentials saved in {where}", file=sys.stderr)
    print("Login Succeeded")
    return 0
