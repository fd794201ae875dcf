"""Bearer tokens from a registry's token service, and a cache of them per scope.

The token spec (distribution's docs/spec/auth/token.md): GET `realm?service=S&scope=A&scope=B`
with HTTP Basic credentials (or none, for anonymous pulls) answers `{"token" | "access_token",
"expires_in", "issued_at", "refresh_token"?}`. Holding an identity token (docker's
`identitytoken`, an OAuth2 refresh token), the OAuth2 form is used instead: POST
`grant_type=refresh_token`; a server without OAuth2 answers 404/405 and hoist falls back to GET.
Tokens are cached per (realm, service, scopes) until `expires_in` (default 60 s) runs out,
counted from `issued_at` when that is sane, with a small margin so a token never expires in
flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from hoist.auth.keychain import Credential
from hoist.registry.challenge import Challenge

#: Lifetime assumed when the server does not say (the spec's default).
DEFAULT_EXPIRES_IN = 60.0
#: Refresh this long before the stated expiry.
_MARGIN = 5.0
CLIENT_ID = "hoist"

TokenKey = tuple[str, str, tuple[str, ...]]


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float
    refresh_token: str | None = None

    def fresh(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) < self.expires_at - _MARGIN


class TokenRequestError(Exception):
    """The token service said no; carries its response for the diagnosis."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"token service answered {response.status_code}")
        self.response = response


class TokenCache:
    """Thread-safe map from (realm, service, scopes) to the current token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[TokenKey, Token] = {}

    @staticmethod
    def key(challenge: Challenge, scopes: Sequence[str]) -> TokenKey:
        return (challenge.realm or "", challenge.service or "", tuple(sorted(set(scopes))))

    def get(self, key: TokenKey) -> Token | None:
        with self._lock:
            tok = self._tokens.get(key)
        return tok if tok is not None and tok.fresh() else None

    def put(self, key: TokenKey, token: Token) -> None:
        with self._lock:
            self._tokens[key] = token

    def drop(self, key: TokenKey) -> None:
        with self._lock:
            self._tokens.pop(key, None)


def _parse_issued_at(value: Any, now: float) -> float:
    if not isinstance(value, str) or not value:
        return now
    try:
        issued = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return now
    # a token server with a skewed clock must not make every token look expired
    return issued if abs(issued - now) < 300 else now


def parse_token_response(response: httpx.Response, now: float | None = None) -> Token:
    """Read a token answer (either spelling of the field; defaults per the spec)."""
    now = time.time() if now is None else now
    try:
        body = response.json()
    except ValueError:
        raise TokenRequestError(response) from None
    if not isinstance(body, dict):
        raise TokenRequestError(response)
    value = body.get("token") or body.get("access_token")
    if not isinstance(value, str) or not value:
        raise TokenRequestError(response)
    expires_in = body.get("expires_in")
    lifetime = (
        float(expires_in)
        if isinstance(expires_in, int | float)
        and not isinstance(expires_in, bool)
        and expires_in > 0
        else DEFAULT_EXPIRES_IN
    )
    issued = _parse_issued_at(body.get("issued_at"), now)
    refresh = body.get("refresh_token")
    return Token(value, issued + lifetime, refresh if isinstance(refresh, str) else None)


def fetch_token(
    http: httpx.Client,
    challenge: Challenge,
    scopes: Sequence[str],
    credential: Credential | None,
    *,
    offline: bool = False,
) -> Token:
    """Ask the token service for a token covering `scopes`."""
    realm = challenge.realm
    if not realm:
        raise TokenRequestError(httpx.Response(401, text="Bearer challenge without a realm"))
    if credential is not None and credential.identity_token:
        form: dict[str, str] = {
            "grant_type": "refresh_token",
            "refresh_token": credential.identity_token,
            "client_id": CLIENT_ID,
        }
        if challenge.service:
            form["service"] = challenge.service
        if scopes:
            form["scope"] = " ".join(scopes)
        if offline:
            form["access_type"] = "offline"
        response = http.post(realm, data=form)
        if response.status_code not in (404, 405):
            if response.status_code != 200:
                raise TokenRequestError(response)
            return parse_token_response(response)
    params: list[tuple[str, str | int | float | bool | None]] = []
    if challenge.service:
        params.append(("service", challenge.service))
    params += [("scope", s) for s in scopes]
    if offline:
        params += [("offline_token", "true"), ("client_id", CLIENT_ID)]
    auth: httpx.BasicAuth | None = None
    if credential is not None and credential.has_basic:
        assert credential.username is not None and credential.password is not None
        auth = httpx.BasicAuth(credential.username, credential.password)
    response = http.get(realm, params=params, auth=auth)
    if response.status_code != 200:
        raise TokenRequestError(response)
    return parse_token_response(response)
