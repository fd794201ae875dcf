"""Faults injected between hoist and a real registry: the push still lands with the right
digest (verified by pulling it back), or fails with an explanation and no traceback."""

from __future__ import annotations

import json

import pytest

from tests.client.conftest import Env
from tests.client.faultproxy import fault_proxy, storage_origin
from tests.support.peers import DistributionRegistry

pytestmark = pytest.mark.peer

BIG = 20 * 1024 * 1024  # more than one 16 MiB chunk: exercises PATCH + resume


def _push_and_verify(
    env: Env, host: str, size: int = 300_000, *, jobs: str = "4"
) -> dict[str, object]:
    name = f"{host}/faulty/app:1"
    env.pack(name, size=size)
    out = env.hoist("push", name, "--json", "--jobs", jobs)
    assert out.returncode == 0, out.stderr
    report: dict[str, object] = json.loads(out.stdout)
    pulled = env.hoist("pull", name, "--json", env={"HOIST_HOME": str(env.tmp / "verify-home")})
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["digest"] == report["digest"]
    return report


def test_dropped_connection_mid_patch_resumes(
    env: Env, open_registry: DistributionRegistry
) -> None:
    def drop_second_patch(method: str, path: str, n: int) -> tuple[object, ...] | None:
        return ("drop",) if method == "PATCH" and n == 1 else None

    with fault_proxy(open_registry.host, rules=[drop_second_patch]) as proxy:
        _push_and_verify(env, proxy.host, size=BIG)
        status_checks = [s for s in proxy.log if s.method == "GET" and "/uploads/" in s.path]
        assert status_checks, "hoist should ask the server for the upload offset"


def test_dropped_connection_on_monolithic_put(
    env: Env, open_registry: DistributionRegistry
) -> None:
    puts = []

    def drop_first_put(method: str, path: str, n: int) -> tuple[object, ...] | None:
        if method == "PUT" and "/uploads/" in path:
            puts.append(path)
            return ("drop",) if len(puts) == 1 else None
        return None

    with fault_proxy(open_registry.host, rules=[drop_first_put]) as proxy:
        _push_and_verify(env, proxy.host)


def test_500_then_success(env: Env, open_registry: DistributionRegistry) -> None:
    seen: dict[str, int] = {}

    def first_three_fail(method: str, path: str, n: int) -> tuple[object, ...] | None:
        if method in ("POST", "PUT", "HEAD") and "/v2/faulty/" in path:
            seen[method] = seen.get(method, 0) + 1
            if seen[method] <= 2:
                return ("status", 500)
        return None

    with fault_proxy(open_registry.host, rules=[first_three_fail]) as proxy:
        out = _push_and_verify(env, proxy.host)
        assert out["digest"]


def test_429_with_retry_after_is_honoured(env: Env, open_registry: DistributionRegistry) -> None:
    def limit_first_post(method: str, path: str, n: int) -> tuple[object, ...] | None:
        if method == "POST" and n == 0:
            return ("status", 429, {"Retry-After": "1"})
        return None

    with fault_proxy(open_registry.host, rules=[limit_first_post]) as proxy:
        name = f"{proxy.host}/faulty/app:1"
        env.pack(name)
        out = env.hoist("push", name, "--jobs", "1")
        assert out.returncode == 0, out.stderr
        assert "retrying" in out.stderr and "1.0s" in out.stderr


def test_500_storm_fails_clearly(env: Env, open_registry: DistributionRegistry) -> None:
    def always(method: str, path: str, n: int) -> tuple[object, ...] | None:
        return ("status", 503) if method == "HEAD" else None

    with fault_proxy(open_registry.host, rules=[always]) as proxy:
        name = f"{proxy.host}/faulty/app:1"
        env.pack(name)
        out = env.hoist("push", name, env={"HOIST_RETRY_ATTEMPTS": "3"})
        assert out.returncode == 1
        assert "server error" in out.stderr
        assert "Traceback" not in out.stderr


def test_garbage_registry(env: Env, open_registry: DistributionRegistry) -> None:
    def garbage(method: str, path: str, n: int) -> tuple[object, ...] | None:
        return ("garbage",) if "/manifests/" in path else None

    with fault_proxy(open_registry.host, rules=[garbage]) as proxy:
        out = env.hoist("pull", f"{proxy.host}/x/y:1")
        assert out.returncode != 0
        assert "unusable manifest" in out.stderr
        assert "Traceback" not in out.stderr
        assert (
            not (env.tmp / "hoist-home" / "index.json").exists()
            or "x/y" not in (env.tmp / "hoist-home" / "index.json").read_text()
        )


def test_not_a_registry(env: Env, open_registry: DistributionRegistry) -> None:
    def html(method: str, path: str, n: int) -> tuple[object, ...] | None:
        return ("status", 404) if path == "/v2/" else None

    with fault_proxy(open_registry.host, rules=[html]) as proxy:
        out = env.hoist("tags", f"{proxy.host}/x/y")
        assert out.returncode == 1
        assert "does not look like a container registry" in out.stderr


def test_bearer_flow_expiry_mid_push_and_identity_token(
    env: Env, open_registry: DistributionRegistry
) -> None:
    with fault_proxy(open_registry.host, bearer_users={"bob": "bob-pw"}) as proxy:
        name = f"{proxy.host}/tok/app:1"
        env.pack(name, size=BIG)
        env.login(proxy.host, "bob", "bob-pw")
        cfg = json.loads((env.tmp / "docker-config" / "config.json").read_text())
        entry = cfg["auths"][proxy.host]
        assert entry["identitytoken"].startswith("refresh-")  # offline token kept, not password

        expired = {"done": False}

        def expire_once(method: str, path: str, n: int) -> tuple[object, ...] | None:
            if method == "PATCH" and n == 0 and not expired["done"]:
                expired["done"] = True
                proxy.expire_tokens()
            return None

        proxy.rules.append(expire_once)
        # expire_once runs after the auth check; the token dies for the *next* request
        out = env.hoist("push", name, "--json")
        assert out.returncode == 0, out.stderr
        kinds = [k for k, _ in proxy.token_requests]
        assert kinds.count("POST") >= 2  # refresh_token grant, then a fresh token after expiry
        posted = [f for k, f in proxy.token_requests if k == "POST"]
        assert posted[0]["grant_type"] == ["refresh_token"]
        assert posted[0]["scope"] == ["repository:tok/app:pull,push"]

        wrong = env.hoist("login", "-u", "bob", "--password-stdin", proxy.host, input="bad")
        assert wrong.returncode == 3 and "incorrect username or password" in wrong.stderr


def test_redirected_blob_get_drops_authorization(
    env: Env, open_registry: DistributionRegistry
) -> None:
    """Registries redirect blob reads to object storage: credentials must not follow."""
    with storage_origin(open_registry.host) as (storage, seen):

        def redirect(method: str, path: str, n: int) -> tuple[object, ...] | None:
            return ("redirect",) if method == "GET" and "/blobs/" in path else None

        with fault_proxy(
            open_registry.host, bearer_users={"bob": "bob-pw"}, storage_host=storage
        ) as proxy:
            name = f"{proxy.host}/redir/app:1"
            env.pack(name, size=100_000)
            env.login(proxy.host, "bob", "bob-pw")
            env.hoist("push", name, check=True)
            proxy.rules.append(redirect)
            pulled = env.hoist("pull", name, env={"HOIST_HOME": str(env.tmp / "h2")})
            assert pulled.returncode == 0, pulled.stderr
            blob_gets = [s for s in proxy.log if s.method == "GET" and "/blobs/" in s.path]
            assert blob_gets and all("Authorization" in s.headers for s in blob_gets)
            assert seen, "the blob was fetched from the redirect target"
            assert all(k.lower() != "authorization" for h in seen for k in h)
