"""docker's `config.json`, read and written exactly as the docker CLI does.

hoist and docker share one credentials file so that `docker login` then `hoist push` works, and
the reverse. The rules copied from docker/cli's `cli/config`: entries live under `auths` keyed by
server (Docker Hub is keyed `https://index.docker.io/v1/`), `auth` is base64 `user:password`,
`identitytoken` replaces the password when the registry issued a refresh token,
`credsStore` names a helper for every registry and `credHelpers` a helper per host (which wins).
Every key hoist does not understand is kept untouched on rewrite; writes are atomic and 0600.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hoist.atomic import atomic_write_bytes
from hoist.errors import InvalidContentError
from hoist.paths import docker_config_dir

#: The key docker uses for Docker Hub in `auths` and in credential helpers.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"

_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def config_path() -> Path:
    """`$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`)."""
    return docker_config_dir() / "config.json"


def hostname_of(server: str) -> str:
    """The bare `host[:port]` of a config key such as `https://host/v1/` (docker's rule)."""
    s = server.strip()
    for prefix in ("https://", "http://"):
        if s.startswith(prefix):
            s = s[len(prefix) :]
            break
    return s.split("/", 1)[0].lower()


def server_key(registry: str) -> str:
    """The key docker files a registry's credentials under: Docker Hub's URL, else the host."""
    host = hostname_of(registry)
    return DOCKER_HUB_KEY if host in _HUB_ALIASES else host


@dataclass(frozen=True)
class AuthEntry:
    """One `auths` entry, decoded."""

    key: str
    username: str | None
    password: str | None
    identity_token: str | None
    registry_token: str | None


def encode_auth(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def decode_auth(key: str, value: str) -> tuple[str, str]:
    """Decode a base64 `user:password`, explaining a corrupt entry instead of crashing."""
    try:
        raw = base64.b64decode(value, validate=False).decode()
    except (binascii.Error, UnicodeDecodeError):
        raw = ""
    if ":" not in raw:
        raise InvalidContentError(
            f"the credentials stored for {key} in {config_path()} cannot be decoded",
            why="the 'auth' field must be base64 of USER:PASSWORD",
            fix=f"run: hoist logout {hostname_of(key)} && hoist login {hostname_of(key)}",
        )
    user, _, password = raw.partition(":")
    return user, password


class DockerConfig:
    """A loaded `config.json`: the raw document plus typed accessors for the parts hoist uses."""

    def __init__(self, path: Path, data: dict[str, Any], exists: bool) -> None:
        self.path = path
        self.data = data
        self.exists = exists

    @classmethod
    def load(cls, path: Path | None = None) -> DockerConfig:
        """Read the file; a missing file is an empty config, a corrupt one a clear error."""
        p = path or config_path()
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            return cls(p, {}, False)
        except OSError as exc:
            raise InvalidContentError(
                f"cannot read {p}: {exc.strerror}",
                fix=f"check the permissions of {p} (or point DOCKER_CONFIG elsewhere)",
            ) from None
        if not raw.strip():
            return cls(p, {}, True)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise InvalidContentError(
                f"{p} is not valid JSON ({exc})",
                why="hoist shares docker's credentials file and cannot read it",
                fix=f"repair or remove {p}, then run hoist login again",
            ) from None
        if not isinstance(data, dict):
            raise InvalidContentError(f"{p} is not a JSON object", fix=f"repair or remove {p}")
        return cls(p, data, True)

    # --- reading ---------------------------------------------------------------------

    @property
    def mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    @property
    def creds_store(self) -> str | None:
        value = self.data.get("credsStore")
        return value if isinstance(value, str) and value else None

    def cred_helper_for(self, registry: str) -> str | None:
        """The helper for this registry: `credHelpers[host]` wins over `credsStore`."""
        helpers = self.data.get("credHelpers")
        if isinstance(helpers, dict):
            host = hostname_of(registry)
            key = server_key(registry)
            for candidate in (host, key, registry):
                value = helpers.get(candidate)
                if isinstance(value, str) and value:
                    return value
            for name, value in helpers.items():
                if hostname_of(name) == host and isinstance(value, str) and value:
                    return value
        return self.creds_store

    def find_auth(self, registry: str) -> AuthEntry | None:
        """The `auths` entry for a registry, matching keys the way docker does (by hostname)."""
        auths = self.data.get("auths")
        if not isinstance(auths, dict):
            return None
        key = server_key(registry)
        entry_key = key if key in auths else None
        if entry_key is None:
            want = hostname_of(key)
            for k in auths:
                if hostname_of(k) == want or (
                    key == DOCKER_HUB_KEY and hostname_of(k) in _HUB_ALIASES
                ):
                    entry_key = k
                    break
        if entry_key is None:
            return None
        entry = auths.get(entry_key)
        if not isinstance(entry, dict):
            return None
        user: str | None = None
        password: str | None = None
        if isinstance(entry.get("auth"), str) and entry["auth"]:
            user, password = decode_auth(entry_key, entry["auth"])
        elif isinstance(entry.get("username"), str):
            user = entry["username"]
            password = entry.get("password") if isinstance(entry.get("password"), str) else None
        ident = entry.get("identitytoken")
        reg = entry.get("registrytoken")
        if user is None and not ident and not reg:
            return None  # an empty placeholder such as docker writes with a credsStore
        return AuthEntry(
            key=entry_key,
            username=user,
            password=password,
            identity_token=ident if isinstance(ident, str) and ident else None,
            registry_token=reg if isinstance(reg, str) and reg else None,
        )

    # --- writing ---------------------------------------------------------------------

    def set_auth(
        self, registry: str, username: str, secret: str, *, identity_token: bool = False
    ) -> None:
        """Record credentials in `auths` (used when no helper is configured)."""
        auths = self.data.setdefault("auths", {})
        if not isinstance(auths, dict):
            auths = self.data["auths"] = {}
        key = server_key(registry)
        entry: dict[str, Any] = {}
        old = auths.get(key)
        if isinstance(old, dict):
            # keep fields docker or others add that hoist does not manage (e.g. "email")
            entry = {k: v for k, v in old.items() if k not in {"auth", "identitytoken"}}
        if identity_token:
            entry["auth"] = encode_auth(username, "")
            entry["identitytoken"] = secret
        else:
            entry["auth"] = encode_auth(username, secret)
        auths[key] = entry

    def set_helper_placeholder(self, registry: str) -> None:
        """docker records an empty `auths` entry for a registry whose secret is in a helper."""
        auths = self.data.setdefault("auths", {})
        if isinstance(auths, dict):
            auths.setdefault(server_key(registry), {})

    def remove_auth(self, registry: str) -> bool:
        """Delete every `auths` entry for the registry's host; True if one existed."""
        auths = self.data.get("auths")
        if not isinstance(auths, dict):
            return False
        host = hostname_of(server_key(registry))
        doomed = [k for k in auths if hostname_of(k) == host]
        for k in doomed:
            del auths[k]
        return bool(doomed)

    def save(self) -> None:
        """Write atomically with mode 0600, as docker does, keeping every other key."""
        body = json.dumps(self.data, indent="\t").encode() + b"\n"
        atomic_write_bytes(self.path, body, mode=0o600)
        self.exists = True
