"""The check in front of every `/v2/` route: who is calling, and may they do this?

Three modes share one interface: `none` (anyone may do anything; only allowed on loopback
unless explicitly forced), `htpasswd` (Basic credentials on every request) and `token`
(Bearer JWTs from the built-in token service). Failures are the spec's errors with the
`WWW-Authenticate` challenge clients need to retry: 401 UNAUTHORIZED when credentials are
missing, wrong or lack a scope (token clients then ask for a new token), 403 DENIED when an
authenticated Basic user is simply not allowed.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import binascii
from dataclasses import dataclass

from aiohttp import web

from hoist.server.auth.access import ANONYMOUS, AccessPolicy, Scope
from hoist.server.auth.htpasswd import Htpasswd
from hoist.server.auth.limiter import LoginLimiter
from hoist.server.auth.token import InvalidTokenError, TokenClaims, TokenService
from hoist.server.errors import APIError


@dataclass(frozen=True)
class Principal:
    """The caller: a user name (or `anonymous`) and, for token auth, the token's claims."""

    user: str
    claims: TokenClaims | None = None


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic` header, or None if there is none.

    Raises UNAUTHORIZED for a header that is present but not decodable.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise APIError("UNAUTHORIZED", "malformed Basic credentials") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise APIError("UNAUTHORIZED", "malformed Basic credentials")
    return user, password


_LIMITER = LoginLimiter()


async def check_password(htpasswd: Htpasswd, user: str, password: str, client: str | None) -> bool:
    """Verify a password, refusing (429) clients that failed too often recently."""
    if htpasswd.remembered(user, password):
        return True
    address = client or "unknown"
    _LIMITER.check(address)
    ok = await asyncio.to_thread(htpasswd.verify, user, password)
    if not ok:
        _LIMITER.failed(address)
    return ok


class Authenticator(abc.ABC):
    """Decides, per request, whether `needed` (None: just "be someone") is granted."""

    mode: str

    @abc.abstractmethod
    async def authenticate(self, request: web.Request, needed: Scope | None) -> Principal: ...

    @abc.abstractmethod
    def can(self, principal: Principal, repository: str, action: str) -> bool:
        """May this caller `action` on `repository`? (the source of a cross-repo mount)."""

    def may_pull(self, principal: Principal, repository: str) -> bool:
        """Should `repository` appear in this caller's catalog?"""
        return self.can(principal, repository, "pull")


class NoAuth(Authenticator):
    mode = "none"

    async def authenticate(self, request: web.Request, needed: Scope | None) -> Principal:
        return Principal(ANONYMOUS)

    def can(self, principal: Principal, repository: str, action: str) -> bool:
        return True


class BasicAuth(Authenticator):
    mode = "htpasswd"

    def __init__(self, htpasswd: Htpasswd, policy: AccessPolicy, realm: str) -> None:
        self.htpasswd = htpasswd
        self.policy = policy
        self.realm = realm

    def _challenge(self, message: str, code: str = "UNAUTHORIZED") -> APIError:
        headers = {"WWW-Authenticate": f'Basic realm="{self.realm}"'}
        return APIError(code, message, headers=headers if code == "UNAUTHORIZED" else None)

    async def authenticate(self, request: web.Request, needed: Scope | None) -> Principal:
        creds = basic_credentials(request)
        if creds is None:
            user = ANONYMOUS
        else:
            if not await check_password(self.htpasswd, *creds, request.remote):
                raise self._challenge("invalid username or password")
            user = creds[0]
        if needed is None:
            if user == ANONYMOUS:
                raise self._challenge("authentication required")
            return Principal(user)
        if not self._allows(user, needed):
            if user == ANONYMOUS:
                raise self._challenge("authentication required")
            raise self._challenge(f"{user} may not {_describe(needed)}", "DENIED")
        return Principal(user)

    def _allows(self, user: str, needed: Scope) -> bool:
        if needed.type == "registry":
            return self.policy.may_list_catalog(user)
        return needed.actions <= self.policy.allowed(user, needed.name)

    def can(self, principal: Principal, repository: str, action: str) -> bool:
        return action in self.policy.allowed(principal.user, repository)


class TokenAuth(Authenticator):
    mode = "token"

    def __init__(
        self,
        tokens: TokenService,
        htpasswd: Htpasswd | None,
        policy: AccessPolicy,
        realm: str | None,
    ) -> None:
        self.tokens = tokens
        self.htpasswd = htpasswd
        self.policy = policy
        self.realm = realm

    def realm_for(self, request: web.Request) -> str:
        """The configured realm, or this server's own /token as the client reached it."""
        if self.realm:
            return self.realm
        return f"{request.scheme}://{request.host}/token"

    def _challenge(
        self, request: web.Request, needed: Scope | None, message: str, error: str | None
    ) -> APIError:
        parts = [f'realm="{self.realm_for(request)}"', f'service="{self.tokens.service}"']
        if needed is not None:
            parts.append(f'scope="{needed}"')
        if error:
            parts.append(f'error="{error}"')
        detail = [needed.to_claim()] if needed is not None else None
        return APIError(
            "UNAUTHORIZED",
            message,
            detail=detail,
            headers={"WWW-Authenticate": "Bearer " + ",".join(parts)},
        )

    async def authenticate(self, request: web.Request, needed: Scope | None) -> Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise self._challenge(request, needed, "authentication required", None)
        try:
            claims = self.tokens.verify(value.strip())
        except InvalidTokenError as exc:
            raise self._challenge(
                request, needed, f"invalid token: {exc}", "invalid_token"
            ) from None
        if needed is not None and not claims.allows(needed):
            raise self._challenge(
                request, needed, f"token does not grant {needed}", "insufficient_scope"
            )
        return Principal(claims.subject, claims)

    def can(self, principal: Principal, repository: str, action: str) -> bool:
        if principal.claims is None:
            return False
        return principal.claims.allows(Scope("repository", repository, frozenset({action})))

    def may_pull(self, principal: Principal, repository: str) -> bool:
        """Catalog filtering: what the *user* may pull, whatever this token's scopes."""
        return "pull" in self.policy.allowed(principal.user, repository)


def _describe(needed: Scope) -> str:
    if needed.type == "registry":
        return "list the catalog"
    return f"{'/'.join(sorted(needed.actions))} {needed.name}"
