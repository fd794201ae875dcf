"""Auth: htpasswd (Basic) with access rules, the token service (Bearer JWT), anonymous pull."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.server.conftest import error_code, push_image, sha
from tests.support.hoist_server import HoistServer, hoist_server

USERS = {"alice": "alice-pw", "bob": "bob-pw", "admin": "admin-pw"}
RULES = [
    {"users": ["*"], "repositories": ["${user}/**"], "actions": ["*"]},
    {"users": ["admin"], "repositories": ["**"], "actions": ["pull", "push", "delete"]},
    {"users": ["bob"], "repositories": ["shared/*"], "actions": ["pull"]},
    {"users": ["anonymous"], "repositories": ["public/*"], "actions": ["pull"]},
]


@pytest.fixture(scope="module")
def basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HoistServer]:
    with hoist_server(
        tmp_path_factory.mktemp("basic"), auth="htpasswd", users=USERS, access=RULES
    ) as server:
        yield server


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HoistServer]:
    with hoist_server(
        tmp_path_factory.mktemp("token"), auth="token", users=USERS, access=RULES
    ) as server:
        yield server


def as_user(server: HoistServer, user: str | None) -> httpx.Client:
    auth = (user, USERS[user]) if user else None
    return httpx.Client(base_url=server.url, auth=auth, timeout=30)


# --- Basic -------------------------------------------------------------------------------


def test_basic_requires_credentials_with_challenge(basic: HoistServer) -> None:
    with as_user(basic, None) as anon:
        r = anon.get("/v2/")
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert error_code(r) == "UNAUTHORIZED"
    with httpx.Client(base_url=basic.url, auth=("alice", "wrong")) as bad:
        assert bad.get("/v2/").status_code == 401
    with httpx.Client(base_url=basic.url, headers={"Authorization": "Basic !!!"}) as junk:
        assert junk.get("/v2/").status_code == 401
    with as_user(basic, "alice") as alice:
        assert alice.get("/v2/").status_code == 200


def test_basic_access_rules(basic: HoistServer) -> None:
    with as_user(basic, "alice") as alice, as_user(basic, "bob") as bob:
        digest, _ = push_image(alice, "alice/app", "v1")
        r = bob.get("/v2/alice/app/manifests/v1")
        assert r.status_code == 403 and error_code(r) == "DENIED"
        r = bob.post("/v2/alice/app/blobs/uploads/")
        assert r.status_code == 403 and error_code(r) == "DENIED"
        r = alice.post("/v2/shared/x/blobs/uploads/")
        assert r.status_code == 403
    with as_user(basic, "admin") as admin:
        push_image(admin, "shared/x", "v1")
        push_image(admin, "public/web", "v1")
    with as_user(basic, "bob") as bob:
        assert bob.get("/v2/shared/x/manifests/v1").status_code == 200
        r = bob.delete("/v2/shared/x/manifests/v1")
        assert r.status_code == 403 and error_code(r) == "DENIED"
    with as_user(basic, None) as anon:
        assert anon.get("/v2/public/web/manifests/v1").status_code == 200
        r = anon.get("/v2/shared/x/manifests/v1")
        assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"]
    assert digest


def test_basic_catalog_shows_only_pullable(basic: HoistServer) -> None:
    with as_user(basic, "admin") as admin:
        push_image(admin, "shared/cat", "v1")
        push_image(admin, "admin/secret", "v1")
        assert "admin/secret" in admin.get("/v2/_catalog").json()["repositories"]
    with as_user(basic, "bob") as bob:
        repos = bob.get("/v2/_catalog").json()["repositories"]
        assert "shared/cat" in repos
        assert "admin/secret" not in repos
        assert all(r.startswith(("shared/", "bob/")) for r in repos)


def test_mount_needs_pull_on_the_source(basic: HoistServer) -> None:
    with as_user(basic, "admin") as admin:
        push_image(admin, "admin/private", "v1", seed="mount")
        layer = b"mount-layer-0" * 100
    with as_user(basic, "bob") as bob:
        r = bob.post(
            "/v2/bob/copy/blobs/uploads/", params={"mount": sha(layer), "from": "admin/private"}
        )
        assert r.status_code == 202  # no pull right on the source: a plain upload, no leak
        assert bob.head(f"/v2/bob/copy/blobs/{sha(layer)}").status_code == 404


# --- token -------------------------------------------------------------------------------


def _challenge(header: str) -> dict[str, str]:
    assert header.startswith("Bearer ")
    out = {}
    for part in header[len("Bearer ") :].split('",'):
        key, _, value = part.partition("=")
        out[key.strip()] = value.strip().strip('"')
    return out


def _get_token(server: HoistServer, user: str | None, *scopes: str) -> dict[str, object]:
    auth = (user, USERS[user]) if user else None
    r = httpx.get(
        f"{server.url}/token",
        params=[("service", "hoist"), *[("scope", s) for s in scopes]],
        auth=auth,
    )
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def bearer(server: HoistServer, user: str | None, *scopes: str) -> httpx.Client:
    tok = _get_token(server, user, *scopes)["token"]
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tok}"})


def test_token_challenge_names_realm_service_and_scope(token: HoistServer) -> None:
    r = httpx.get(f"{token.url}/v2/alice/app/manifests/v1")
    assert r.status_code == 401
    challenge = _challenge(r.headers["WWW-Authenticate"])
    assert challenge["realm"] == f"{token.url}/token"
    assert challenge["service"] == "hoist"
    assert challenge["scope"] == "repository:alice/app:pull"
    r = httpx.get(f"{token.url}/v2/_catalog")
    assert _challenge(r.headers["WWW-Authenticate"])["scope"] == "registry:catalog:*"


def test_token_response_shape_and_claims(token: HoistServer) -> None:
    body = _get_token(token, "alice", "repository:alice/app:pull,push", "repository:bob/x:pull")
    assert set(body) >= {"token", "access_token", "expires_in", "issued_at"}
    assert body["token"] == body["access_token"]
    claims = jwt.decode(str(body["token"]), options={"verify_signature": False})
    assert claims["iss"] == "hoist" and claims["aud"] == "hoist" and claims["sub"] == "alice"
    assert claims["exp"] > time.time()
    access = {a["name"]: a["actions"] for a in claims["access"]}
    assert access == {"alice/app": ["pull", "push"]}  # nothing on bob/x: not granted


def test_token_wrong_password_is_401(token: HoistServer) -> None:
    r = httpx.get(f"{token.url}/token", params={"scope": "x"}, auth=("alice", "nope"))
    assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED"


def test_token_push_pull_and_insufficient_scope(token: HoistServer) -> None:
    with bearer(token, "alice", "repository:alice/tok:pull,push") as alice:
        digest, _ = push_image(alice, "alice/tok", "v1")
        assert alice.get("/v2/alice/tok/manifests/v1").status_code == 200
        r = alice.delete(f"/v2/alice/tok/manifests/{digest}")
        assert r.status_code == 401
        challenge = _challenge(r.headers["WWW-Authenticate"])
        assert challenge["error"] == "insufficient_scope"
        assert challenge["scope"] == "repository:alice/tok:delete"
    with bearer(token, "alice", "repository:alice/tok:delete") as deleter:
        assert deleter.delete(f"/v2/alice/tok/manifests/{digest}").status_code == 202


def test_forged_expired_and_foreign_tokens_are_rejected(token: HoistServer) -> None:
    good = str(_get_token(token, "alice", "repository:alice/app:pull")["token"])
    claims = jwt.decode(good, options={"verify_signature": False})
    forged = jwt.encode({**claims, "sub": "admin"}, "not-the-key-" * 4, algorithm="HS256")
    head, _payload, sig = good.split(".")
    widened = dict(claims, access=[{"type": "repository", "name": "admin/x", "actions": ["pull"]}])
    tampered_payload = base64.urlsafe_b64encode(json.dumps(widened).encode()).rstrip(b"=").decode()
    for bad in (forged, f"{head}.{tampered_payload}.{sig}", "garbage", good + "x"):
        r = httpx.get(
            f"{token.url}/v2/alice/app/tags/list", headers={"Authorization": f"Bearer {bad}"}
        )
        assert r.status_code == 401
        assert _challenge(r.headers["WWW-Authenticate"])["error"] == "invalid_token"
    key = (token.root / ".token.key").read_bytes().strip()
    for changes in ({"exp": int(time.time()) - 10}, {"aud": "other"}, {"iss": "someone"}):
        signed = jwt.encode({**claims, **changes}, key, algorithm="HS256")
        r = httpx.get(
            f"{token.url}/v2/alice/app/tags/list", headers={"Authorization": f"Bearer {signed}"}
        )
        assert r.status_code == 401, changes


def test_oauth2_password_and_refresh_grants(token: HoistServer) -> None:
    r = httpx.post(
        f"{token.url}/token",
        data={
            "grant_type": "password",
            "username": "bob",
            "password": USERS["bob"],
            "service": "hoist",
            "client_id": "test",
            "access_type": "offline",
            "scope": "repository:bob/app:pull,push repository:shared/x:pull,push",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"access_token", "scope", "expires_in", "issued_at", "refresh_token"}
    assert body["scope"] == "repository:bob/app:pull,push repository:shared/x:pull"
    again = httpx.post(
        f"{token.url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "service": "hoist",
            "client_id": "test",
            "scope": "repository:bob/app:pull",
        },
    )
    assert again.status_code == 200
    assert again.json()["scope"] == "repository:bob/app:pull"
    # An access token is not a refresh token, and a bad password is refused.
    r = httpx.post(
        f"{token.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": body["access_token"]},
    )
    assert r.status_code == 401
    r = httpx.post(
        f"{token.url}/token",
        data={"grant_type": "password", "username": "bob", "password": "wrong"},
    )
    assert r.status_code == 401


def test_token_catalog_is_filtered_per_user(token: HoistServer) -> None:
    with bearer(token, "admin", "repository:admin/hidden:push", "repository:shared/t:push") as a:
        push_image(a, "admin/hidden", "v1")
        push_image(a, "shared/t", "v1")
    with bearer(token, "bob", "registry:catalog:*") as bob:
        repos = bob.get("/v2/_catalog").json()["repositories"]
        assert "shared/t" in repos and "admin/hidden" not in repos


def test_anonymous_token_pull_of_public_only(token: HoistServer) -> None:
    with bearer(token, "admin", "repository:public/anon:push") as admin:
        push_image(admin, "public/anon", "v1")
    body = _get_token(token, None, "repository:public/anon:pull", "repository:alice/app:pull")
    claims = jwt.decode(str(body["token"]), options={"verify_signature": False})
    assert claims["sub"] == "anonymous"
    assert [a["name"] for a in claims["access"]] == ["public/anon"]
    with bearer(token, None, "repository:public/anon:pull") as anon:
        assert anon.get("/v2/public/anon/manifests/v1").status_code == 200
        assert anon.post("/v2/public/anon/blobs/uploads/").status_code == 401


def test_no_auth_is_refused_off_loopback(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="refusing to serve"),
        hoist_server(tmp_path, extra_args=["--addr", "0.0.0.0:0"]),
    ):
        pass


def test_htpasswd_remembers_only_until_the_file_changes(tmp_path: Path) -> None:
    from hoist.server.auth.htpasswd import Htpasswd
    from tests.support.peers import htpasswd_line

    path = tmp_path / "htpasswd"
    path.write_text(htpasswd_line("carol", "first") + "\n")
    users = Htpasswd(path)
    assert not users.remembered("carol", "first")
    assert users.verify("carol", "first")
    assert users.remembered("carol", "first")
    assert not users.remembered("carol", "other")
    assert not users.verify("carol", "other") and not users.verify("nobody", "first")
    path.write_text(htpasswd_line("carol", "second") + "\n")
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert not users.remembered("carol", "first")
    assert not users.verify("carol", "first")
    assert users.verify("carol", "second")
    path.write_text("carol:plaintext\n")
    os.utime(path, (time.time() + 10, time.time() + 10))
    assert not users.verify("carol", "second")  # a broken file lets nobody in


def test_login_limiter_window() -> None:
    from hoist.server.auth.limiter import LoginLimiter
    from hoist.server.errors import APIError

    now = [1000.0]
    limiter = LoginLimiter(max_failures=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("10.0.0.1")
        limiter.failed("10.0.0.1")
    with pytest.raises(APIError) as refused:
        limiter.check("10.0.0.1")
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "61"
    limiter.check("10.0.0.2")  # other addresses are not affected
    now[0] += 61
    limiter.check("10.0.0.1")


def test_password_guessing_gets_429(tmp_path: Path) -> None:
    with hoist_server(tmp_path, auth="htpasswd") as reg:
        statuses = [
            httpx.get(f"{reg.url}/v2/", auth=("alice", f"guess-{i}")).status_code for i in range(12)
        ]
        assert statuses[:10] == [401] * 10
        assert statuses[10:] == [429, 429]
        r = httpx.get(f"{reg.url}/v2/", auth=reg.basic_auth)
        assert r.status_code == 429 and error_code(r) == "TOOMANYREQUESTS"
        assert int(r.headers["Retry-After"]) > 0
