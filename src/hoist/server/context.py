"""What every route handler receives: the registry's parts and the parsed request."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from hoist.server.auth.gate import Authenticator, Principal
from hoist.server.config import ServerConfig
from hoist.server.store import RegistryStore
from hoist.server.uploads import UploadManager


@dataclass
class Registry:
    """The running registry: configuration, content, upload sessions and the auth gate."""

    config: ServerConfig
    store: RegistryStore
    uploads: UploadManager
    auth: Authenticator


@dataclass(frozen=True)
class Call:
    """One API request after routing and authentication.

    `name` is the validated repository; `ref` the last path element (tag, digest or upload
    id) or "" where the route has none.
    """

    request: web.Request
    name: str
    ref: str
    principal: Principal
