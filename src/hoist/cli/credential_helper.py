"""`docker-credential-hoist`: a docker credential helper backed by hoist's keychain.

docker, skopeo and podman call `docker-credential-NAME get|store|erase|list` for registries
listed under `credHelpers` (or all of them with `credsStore`). Through this helper they get what
hoist would use: the environment, the plaintext `auths` of config.json, and — once
`hoist.providers` registers them — ECR/GAR/ACR tokens minted on demand. It never calls itself:
a `credHelpers` entry naming "hoist" is skipped when hoist reads the config.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from hoist.auth.config_file import DockerConfig, hostname_of
from hoist.auth.helpers import TOKEN_USERNAME
from hoist.auth.keychain import default_keychain
from hoist.errors import HoistError

_NOT_FOUND = "credentials not found in native keychain"
_USAGE = "usage: docker-credential-hoist get|store|erase|list|version"


def _get(server_url: str) -> int:
    cred = default_keychain(skip_helper="hoist").resolve(hostname_of(server_url) or server_url)
    if cred is None or not (cred.password or cred.identity_token or cred.registry_token):
        print(_NOT_FOUND)
        return 1
    if cred.identity_token:
        username, secret = TOKEN_USERNAME, cred.identity_token
    elif cred.registry_token:
        username, secret = cred.username or TOKEN_USERNAME, cred.registry_token
    else:
        username, secret = cred.username or "", cred.password or ""
    print(json.dumps({"ServerURL": server_url, "Username": username, "Secret": secret}))
    return 0


def _store(payload: str) -> int:
    try:
        obj = json.loads(payload)
        server, user, secret = obj["ServerURL"], obj["Username"], obj["Secret"]
    except (ValueError, KeyError, TypeError):
        print("store expects {ServerURL, Username, Secret} on stdin", file=sys.stderr)
        return 1
    config = DockerConfig.load()
    config.set_auth(server, user, secret, identity_token=user == TOKEN_USERNAME)
    config.save()
    return 0


def _erase(server_url: str) -> int:
    config = DockerConfig.load()
    if not config.remove_auth(server_url):
        print(_NOT_FOUND)
        return 1
    config.save()
    return 0


def _list() -> int:
    config = DockerConfig.load()
    auths = config.data.get("auths")
    out: dict[str, str] = {}
    if isinstance(auths, dict):
        for key in auths:
            entry = config.find_auth(key)
            if entry is not None:
                out[key] = entry.username or ""
    print(json.dumps(out))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print(_USAGE, file=sys.stderr)
        return 2
    action = args[0]
    try:
        if action == "get":
            return _get(sys.stdin.read().strip())
        if action == "store":
            return _store(sys.stdin.read())
        if action == "erase":
            return _erase(sys.stdin.read().strip())
        if action == "list":
            return _list()
        if action == "version":
            from hoist import __version__

            print(f"docker-credential-hoist {__version__}")
            return 0
    except HoistError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    print(_USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
