"""The token endpoint (`/token`): docker's token spec (GET) and OAuth2 (POST).

GET takes optional Basic credentials plus `service`, `scope` (repeatable) and `offline_token`,
and answers `{"token", "access_token", "expires_in", "issued_at"}`. POST takes a form with
`grant_type=password` (`username`, `password`) or `grant_type=refresh_token`
(`refresh_token`), plus `service`, `scope` (space separated) and `access_type=offline`, and
answers `{"access_token", "scope", "expires_in", "issued_at"[, "refresh_token"]}`. A token
grants the part of each requested scope the caller holds (possibly nothing): asking is never
an error, using a scope one was not granted is.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from aiohttp import web

from hoist.server.auth.access import ANONYMOUS, AccessPolicy, Scope
from hoist.server.auth.gate import basic_credentials, check_password
from hoist.server.auth.htpasswd import Htpasswd
from hoist.server.auth.token import InvalidTokenError, TokenService
from hoist.server.errors import APIError


def _scopes(values: list[str]) -> list[Scope]:
    out = []
    for value in values:
        for text in value.split():
            scope = Scope.parse(text)
            if scope is not None:
                out.append(scope)
    return out


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


class TokenEndpoint:
    """Issues tokens for the users of an htpasswd file (or only anonymous ones without it)."""

    def __init__(
        self, tokens: TokenService, htpasswd: Htpasswd | None, policy: AccessPolicy, realm: str
    ) -> None:
        self.tokens = tokens
        self.htpasswd = htpasswd
        self.policy = policy
        self.realm = realm

    def _denied(self, message: str) -> APIError:
        return APIError(
            "UNAUTHORIZED", message, headers={"WWW-Authenticate": f'Basic realm="{self.realm}"'}
        )

    async def _login(self, request: web.Request, user: str, password: str) -> str:
        if self.htpasswd is None or not await check_password(
            self.htpasswd, user, password, request.remote
        ):
            raise self._denied("invalid username or password")
        return user

    def _check_service(self, service: str | None) -> None:
        if service and service != self.tokens.service:
            raise APIError(
                "DENIED",
                f"this token server issues tokens for service {self.tokens.service!r}, "
                f"not {service!r}",
                status=400,
            )

    async def get(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        self._check_service(query.get("service"))
        creds = basic_credentials(request)
        user = ANONYMOUS if creds is None else await self._login(request, *creds)
        granted = self.policy.grant(user, _scopes(query.getall("scope", [])))
        token, expires_in, issued = self.tokens.issue(user, granted)
        body: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": expires_in,
            "issued_at": _iso(issued),
        }
        if query.get("offline_token") == "true" and user != ANONYMOUS:
            body["refresh_token"] = self.tokens.issue_refresh(user)
        return _json(body)

    async def post(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        self._check_service(str(form.get("service", "")) or None)
        grant_type = str(form.get("grant_type", ""))
        if grant_type == "password":
            user = await self._login(
                request, str(form.get("username", "")), str(form.get("password", ""))
            )
        elif grant_type == "refresh_token":
            try:
                user = self.tokens.verify_refresh(str(form.get("refresh_token", "")))
            except InvalidTokenError as exc:
                raise self._denied(f"invalid refresh token: {exc}") from None
            if self.htpasswd is None or user not in self.htpasswd:
                raise self._denied(f"user {user!r} no longer exists")
        else:
            raise APIError(
                "UNSUPPORTED",
                f"unsupported grant_type {grant_type!r}: use password or refresh_token",
                status=400,
            )
        granted = self.policy.grant(user, _scopes([str(form.get("scope", ""))]))
        token, expires_in, issued = self.tokens.issue(user, granted)
        body: dict[str, Any] = {
            "access_token": token,
            "scope": " ".join(str(s) for s in granted if s.actions),
            "expires_in": expires_in,
            "issued_at": _iso(issued),
        }
        if form.get("access_type") == "offline":
            body["refresh_token"] = self.tokens.issue_refresh(user)
        return _json(body)
