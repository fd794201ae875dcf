"""The aiohttp application: routing of `/v2/...`, the auth gate, and spec-shaped errors.

Repository names contain slashes, so `/v2/` paths are routed here by matching their *end*
(`/manifests/<ref>`, `/blobs/uploads/<id>`, ...) on the raw, undecoded path: a name smuggled
in with `%2F` or `..` never reaches storage, it fails the name grammar with NAME_INVALID.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from hoist.errors import UsageError
from hoist.server import params
from hoist.server.auth.access import AccessPolicy, Scope
from hoist.server.auth.gate import Authenticator, BasicAuth, NoAuth, TokenAuth
from hoist.server.auth.htpasswd import Htpasswd
from hoist.server.auth.token import TokenService, load_or_create_key, random_key
from hoist.server.config import ServerConfig
from hoist.server.context import Call, Registry
from hoist.server.errors import APIError
from hoist.server.routes_blobs import delete_blob, get_blob
from hoist.server.routes_listing import catalog, list_tags
from hoist.server.routes_manifests import (
    delete_manifest,
    get_manifest,
    get_referrers,
    put_manifest,
)
from hoist.server.routes_token import TokenEndpoint
from hoist.server.routes_uploads import (
    cancel_upload,
    patch_upload,
    put_upload,
    start_upload,
    upload_status,
)
from hoist.server.storage import FilesystemDriver, MemoryDriver, StorageDriver
from hoist.server.store import RegistryStore
from hoist.server.uploads import UploadManager

log = logging.getLogger("hoist.server")

Handler = Callable[[Registry, Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class _Route:
    handler: Handler
    action: str  # the repository action the scope needs: pull, push or delete


_ROUTES: Final[list[tuple[re.Pattern[str], dict[str, _Route]]]] = [
    (
        re.compile(r"^/v2/(.+)/manifests/([^/]+)$"),
        {
            "GET": _Route(get_manifest, "pull"),
            "HEAD": _Route(get_manifest, "pull"),
            "PUT": _Route(put_manifest, "push"),
            "DELETE": _Route(delete_manifest, "delete"),
        },
    ),
    (re.compile(r"^/v2/(.+)/blobs/uploads/?()$"), {"POST": _Route(start_upload, "push")}),
    (
        re.compile(r"^/v2/(.+)/blobs/uploads/([^/]+)$"),
        {
            "GET": _Route(upload_status, "push"),
            "PATCH": _Route(patch_upload, "push"),
            "PUT": _Route(put_upload, "push"),
            "DELETE": _Route(cancel_upload, "push"),
        },
    ),
    (
        re.compile(r"^/v2/(.+)/blobs/([^/]+)$"),
        {
            "GET": _Route(get_blob, "pull"),
            "HEAD": _Route(get_blob, "pull"),
            "DELETE": _Route(delete_blob, "delete"),
        },
    ),
    (re.compile(r"^/v2/(.+)/tags/list()$"), {"GET": _Route(list_tags, "pull")}),
    (re.compile(r"^/v2/(.+)/referrers/([^/]+)$"), {"GET": _Route(get_referrers, "pull")}),
]

_CATALOG_SCOPE: Final = Scope("registry", "catalog", frozenset({"*"}))
REGISTRY_KEY: Final = web.AppKey("registry", Registry)


def _error_response(exc: APIError) -> web.Response:
    return web.Response(
        status=exc.status,
        body=exc.body(),
        content_type="application/json",
        headers=exc.headers,
    )


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except APIError as exc:
        return _error_response(exc)
    except web.HTTPException:
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        return _error_response(APIError("UNKNOWN", "internal server error"))


async def _api_version_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Docker-Distribution-API-Version"] = "registry/2.0"


async def _dispatch(request: web.Request) -> web.StreamResponse:
    reg = request.app[REGISTRY_KEY]
    path = request.raw_path.split("?", 1)[0]
    method = request.method
    if path in ("/v2/", "/v2"):
        if method not in ("GET", "HEAD"):
            raise APIError("UNSUPPORTED", f"{method} is not supported on /v2/")
        await reg.auth.authenticate(request, None)
        return web.json_response({})
    if path == "/v2/_catalog":
        if method != "GET":
            raise APIError("UNSUPPORTED", f"{method} is not supported on /v2/_catalog")
        principal = await reg.auth.authenticate(request, _CATALOG_SCOPE)
        return await catalog(reg, Call(request, "", "", principal))
    for pattern, methods in _ROUTES:
        m = pattern.match(path)
        if m is None:
            continue
        route = methods.get(method)
        if route is None:
            raise APIError("UNSUPPORTED", f"{method} is not supported on this endpoint")
        name = params.repository(m.group(1))
        needed = Scope("repository", name, frozenset({route.action}))
        principal = await reg.auth.authenticate(request, needed)
        return await route.handler(reg, Call(request, name, m.group(2), principal))
    raise APIError("UNSUPPORTED", f"no such endpoint: {path[:200]}", status=404)


def make_driver(config: ServerConfig) -> StorageDriver:
    if config.storage == "memory":
        return MemoryDriver()
    return FilesystemDriver(config.root, durable=config.fsync)


def make_auth(
    config: ServerConfig, driver: StorageDriver
) -> tuple[Authenticator, TokenEndpoint | None]:
    """The auth gate for the config, and the token endpoint if token auth is on."""
    policy = AccessPolicy(config.access, anonymous_pull=config.anonymous_pull)
    try:
        htpasswd = Htpasswd(config.htpasswd) if config.htpasswd is not None else None
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"cannot use htpasswd file {config.htpasswd}: {exc}",
            fix="create it with bcrypt entries: htpasswd -Bbn USER PASSWORD >> FILE",
        ) from None
    if config.auth == "none":
        return NoAuth(), None
    if config.auth == "htpasswd":
        assert htpasswd is not None
        return BasicAuth(htpasswd, policy, config.realm), None
    if config.token_key_file is not None:
        key = load_or_create_key(config.token_key_file)
    elif isinstance(driver, FilesystemDriver):
        key = load_or_create_key(driver.root / ".token.key")
    else:
        key = random_key()
    tokens = TokenService(
        key,
        issuer=config.token_issuer,
        service=config.token_service,
        expiration=config.token_expiration,
    )
    gate = TokenAuth(tokens, htpasswd, policy, config.token_realm)
    return gate, TokenEndpoint(tokens, htpasswd, policy, config.realm)


async def _housekeeping(app: web.Application) -> None:
    """Purge stale uploads at start and then hourly (a restarted server cleans up)."""
    reg = app[REGISTRY_KEY]
    while True:
        try:
            purged = await asyncio.to_thread(reg.uploads.purge_stale, reg.config.upload_ttl)
            if purged:
                log.info("removed %d stale upload(s)", len(purged))
        except Exception:
            log.exception("purging stale uploads failed")
        await asyncio.sleep(3600)


async def _start_background(app: web.Application) -> None:
    task = asyncio.create_task(_housekeeping(app))
    app[_HOUSEKEEPING_KEY] = task


async def _stop_background(app: web.Application) -> None:
    task = app[_HOUSEKEEPING_KEY]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


_HOUSEKEEPING_KEY: Final = web.AppKey("housekeeping", asyncio.Task[None])


def create_app(config: ServerConfig, driver: StorageDriver | None = None) -> web.Application:
    """Build the registry application (used by `hoist serve` and by in-process tests)."""
    config.validate()
    driver = driver if driver is not None else make_driver(config)
    store = RegistryStore(driver, manifest_cache_bytes=config.manifest_cache_bytes)
    auth, token_endpoint = make_auth(config, driver)
    reg = Registry(config, store, UploadManager(store), auth)
    app = web.Application(middlewares=[_errors], client_max_size=1 << 20)
    app[REGISTRY_KEY] = reg
    app.router.add_route("*", "/v2", _dispatch)
    app.router.add_route("*", "/v2/{tail:.*}", _dispatch)
    if token_endpoint is not None:
        app.router.add_get("/token", token_endpoint.get)
        app.router.add_post("/token", token_endpoint.post)
    app.on_response_prepare.append(_api_version_header)
    app.on_startup.append(_start_background)
    app.on_cleanup.append(_stop_background)
    return app
