"""Keychains: where the credentials for a registry come from, and saying so.

A keychain answers one question — "what do I present to REGISTRY?" — and every answer carries
its *source* ("~/.docker/config.json", "credential helper docker-credential-pass",
"--dest-creds", ...) and, when known, its age, so an auth failure can say "used credentials for
alice from ~/.docker/config.json, stored 3 days ago" instead of "denied".

The default chain, first answer wins: explicit credentials given on the command line, then the
environment (`HOIST_USERNAME`/`HOIST_PASSWORD`, optionally limited by `HOIST_REGISTRY`), then
docker's config.json (credHelpers, credsStore, auths), then cloud-provider keychains registered
through `register_provider_keychain` (the hook `hoist.providers` plugs ECR/GAR/ACR tokens into).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from hoist.auth.config_file import DockerConfig, config_path, hostname_of, server_key
from hoist.auth.helpers import TOKEN_USERNAME, CredentialHelper
from hoist.errors import UsageError


@dataclass(frozen=True)
class Credential:
    """What to present to a registry, and where it came from."""

    username: str | None = None
    password: str | None = None
    #: an OAuth2 refresh token (docker's `identitytoken`): exchanged at the token endpoint
    identity_token: str | None = None
    #: a bearer token sent to the registry as is (docker's `registrytoken`)
    registry_token: str | None = None
    #: a human label of the origin, used in error messages
    source: str = "unknown"
    #: when the credential was stored (seconds since the epoch), if known
    stored_at: float | None = None
    #: when the credential stops working, if known (provider tokens)
    expires_at: float | None = None
    #: the provider id that minted it (ecr, gar, acr...), for diagnostics
    provider: str | None = None

    @property
    def has_basic(self) -> bool:
        return self.username is not None and self.password is not None

    def age_text(self, now: float | None = None) -> str | None:
        """'stored 3 days ago' style, or None when the age is unknown."""
        if self.stored_at is None:
            return None
        return f"stored {_ago((now or time.time()) - self.stored_at)}"

    def describe(self, registry: str) -> str:
        """One phrase for messages: who, from where, how old."""
        who = self.username if self.username and self.username != TOKEN_USERNAME else None
        kind = "an identity token" if self.identity_token else "credentials"
        text = f"{kind}{f' for {who}' if who else ''} for {registry} from {self.source}"
        age = self.age_text()
        return f"{text}, {age}" if age else text


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def _tilde(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if text.startswith(home + os.sep) else text


@runtime_checkable
class Keychain(Protocol):
    """Anything that may know credentials for a registry host."""

    def resolve(self, registry: str) -> Credential | None:
        """Credentials for `registry` (a host[:port]), or None to let the next keychain answer."""
        ...


class StaticKeychain:
    """Fixed credentials, e.g. from `--src-creds USER:PASS` (optionally for one host only)."""

    def __init__(self, credential: Credential, registry: str | None = None) -> None:
        self._credential = credential
        self._host = hostname_of(registry) if registry else None

    @classmethod
    def from_flag(cls, value: str, flag: str) -> StaticKeychain:
        """Parse `USER:PASSWORD` (or `USER` with the password from nowhere: refused)."""
        user, sep, password = value.partition(":")
        if not sep or not user:
            raise UsageError(
                f"{flag} must be USER:PASSWORD",
                fix=f"for example {flag} alice:s3cret (or put them in the environment)",
            )
        return cls(Credential(username=user, password=password, source=flag))

    def resolve(self, registry: str) -> Credential | None:
        if self._host is not None and hostname_of(registry) != self._host:
            return None
        return self._credential


class EnvKeychain:
    """`HOIST_USERNAME` + `HOIST_PASSWORD`, for CI; `HOIST_REGISTRY` limits them to one host."""

    def resolve(self, registry: str) -> Credential | None:
        user = os.environ.get("HOIST_USERNAME")
        password = os.environ.get("HOIST_PASSWORD")
        if not user or password is None:
            return None
        only = os.environ.get("HOIST_REGISTRY")
        if only and server_key(only) != server_key(registry):
            return None
        return Credential(username=user, password=password, source="HOIST_USERNAME/HOIST_PASSWORD")


class DockerConfigKeychain:
    """docker's config.json: the per-host helper, else credsStore, else `auths`."""

    def __init__(self, path: Path | None = None, *, skip_helper: str | None = None) -> None:
        self._path = path
        # docker-credential-hoist reads config.json itself: it must not call itself
        self._skip_helper = skip_helper

    def resolve(self, registry: str) -> Credential | None:
        config = DockerConfig.load(self._path)
        helper_name = config.cred_helper_for(registry)
        if helper_name is not None and helper_name != self._skip_helper:
            helper = CredentialHelper(helper_name)
            found = helper.get(server_key(registry))
            if found is None and server_key(registry) != hostname_of(registry):
                found = helper.get(hostname_of(registry))
            if found is not None:
                source = f"credential helper {helper.program}"
                if found.is_identity_token:
                    return Credential(
                        username=TOKEN_USERNAME, identity_token=found.secret, source=source
                    )
                return Credential(username=found.username, password=found.secret, source=source)
        entry = config.find_auth(registry)
        if entry is None:
            return None
        return Credential(
            username=entry.username,
            password=entry.password if not entry.identity_token else None,
            identity_token=entry.identity_token,
            registry_token=entry.registry_token,
            source=_tilde(config.path),
            stored_at=config.mtime,
        )


class ChainKeychain:
    """Ask each keychain in turn; the first answer wins."""

    def __init__(self, chain: Sequence[Keychain]) -> None:
        self.chain = list(chain)

    def resolve(self, registry: str) -> Credential | None:
        for keychain in self.chain:
            found = keychain.resolve(registry)
            if found is not None:
                return found
        return None


_PROVIDER_KEYCHAINS: list[Keychain] = []


def register_provider_keychain(keychain: Keychain) -> None:
    """The hook for cloud providers (ECR/GAR/ACR): asked after docker's config.json."""
    if keychain not in _PROVIDER_KEYCHAINS:
        _PROVIDER_KEYCHAINS.append(keychain)


def default_keychain(
    explicit: Keychain | None = None, *, skip_helper: str | None = None
) -> Keychain:
    """The chain every command uses: explicit flag, environment, docker config, providers."""
    chain: list[Keychain] = []
    if explicit is not None:
        chain.append(explicit)
    chain += [EnvKeychain(), DockerConfigKeychain(skip_helper=skip_helper), *_PROVIDER_KEYCHAINS]
    return ChainKeychain(chain)


# --- writing (login / logout) ----------------------------------------------------------


def store_credentials(
    registry: str, username: str, secret: str, *, identity_token: bool = False
) -> str:
    """Save as docker would: into the configured helper, else config.json. Returns where."""
    config = DockerConfig.load()
    key = server_key(registry)
    helper_name = config.cred_helper_for(registry)
    if helper_name is not None:
        helper = CredentialHelper(helper_name)
        helper.store(key, TOKEN_USERNAME if identity_token else username, secret)
        # docker drops any plaintext copy once a helper holds the secret
        config.remove_auth(registry)
        if config.creds_store and helper_name == config.creds_store:
            config.set_helper_placeholder(registry)
        config.save()
        return f"credential helper {helper.program}"
    config.set_auth(registry, username, secret, identity_token=identity_token)
    config.save()
    return _tilde(config.path)


def erase_credentials(registry: str) -> list[str]:
    """Remove stored credentials everywhere docker would look; returns where they were."""
    config = DockerConfig.load()
    removed: list[str] = []
    helper_name = config.cred_helper_for(registry)
    if helper_name is not None:
        helper = CredentialHelper(helper_name)
        if helper.erase(server_key(registry)):
            removed.append(f"credential helper {helper.program}")
    if config.remove_auth(registry):
        config.save()
        removed.append(_tilde(config.path))
    return removed


__all__ = [
    "ChainKeychain",
    "Credential",
    "DockerConfigKeychain",
    "EnvKeychain",
    "Keychain",
    "StaticKeychain",
    "config_path",
    "default_keychain",
    "erase_credentials",
    "register_provider_keychain",
    "store_credentials",
]
