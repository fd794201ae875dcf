"""The built-in token service: short-lived JWTs carrying the granted scopes.

It follows the docker token spec (the flow every client implements): a 401 names the realm,
service and scope; the client asks the realm for a token with Basic credentials (GET) or with
an OAuth2 password/refresh-token grant (POST); then sends `Authorization: Bearer <token>`.
Tokens are HS256-signed with a key only this registry holds (it is both issuer and verifier)
and carry `iss`, `aud` (the service), `sub`, `iat`, `nbf`, `exp`, `jti` and `access`, all
checked on every request. Refresh tokens (OAuth `access_type=offline`) are JWTs too, with a
different audience so they can never be used as access tokens.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt

from hoist.atomic import atomic_write_bytes
from hoist.server.auth.access import Scope

_ALGORITHM: Final = "HS256"
_REFRESH_SUFFIX: Final = "#refresh"
REFRESH_SECONDS: Final = 30 * 24 * 3600


class InvalidTokenError(Exception):
    """The token is malformed, forged, expired, or not meant for this service."""


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    access: tuple[Scope, ...]
    expires: float

    def allows(self, needed: Scope) -> bool:
        return any(
            s.type == needed.type and s.name == needed.name and needed.actions <= s.actions
            for s in self.access
        )


def load_or_create_key(path: Path) -> bytes:
    """The signing key at `path`, created (random, mode 0600) on first use."""
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        key = b""
    if len(key) < 32:
        key = secrets.token_hex(32).encode()
        atomic_write_bytes(path, key + b"\n", 0o600)
    return key


class TokenService:
    """Issues and verifies access and refresh tokens for one service name."""

    def __init__(self, key: bytes, *, issuer: str, service: str, expiration: int = 300) -> None:
        self._key = key
        self.issuer = issuer
        self.service = service
        self.expiration = expiration

    def issue(self, subject: str, scopes: Iterable[Scope]) -> tuple[str, int, float]:
        """A signed access token; returns (token, expires_in, issued_at)."""
        now = time.time()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "iat": int(now),
            "nbf": int(now) - 1,
            "exp": int(now) + self.expiration,
            "jti": secrets.token_hex(12),
            "access": [s.to_claim() for s in scopes if s.actions],
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM), self.expiration, now

    def verify(self, token: str) -> TokenClaims:
        claims = self._decode(token, self.service)
        access: list[Scope] = []
        raw = claims.get("access")
        if not isinstance(raw, list):
            raise InvalidTokenError("token has no access list")
        for entry in raw:
            if not isinstance(entry, dict):
                continue
            actions = entry.get("actions")
            if not isinstance(actions, list):
                continue
            access.append(
                Scope(str(entry.get("type")), str(entry.get("name")), frozenset(map(str, actions)))
            )
        return TokenClaims(str(claims["sub"]), tuple(access), float(claims["exp"]))

    def issue_refresh(self, subject: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service + _REFRESH_SUFFIX,
            "iat": now,
            "exp": now + REFRESH_SECONDS,
            "jti": secrets.token_hex(12),
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def verify_refresh(self, token: str) -> str:
        """The subject of a valid refresh token."""
        return str(self._decode(token, self.service + _REFRESH_SUFFIX)["sub"])

    def _decode(self, token: str, audience: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                audience=audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "sub", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from None
        return claims


def random_key() -> bytes:
    """A key for a registry without persistent storage (tokens die with the process)."""
    return os.urandom(32)
