"""`hoist serve`: an embedded OCI registry (distribution-spec v1.1) on aiohttp.

Layers, from the bottom: `storage` (a small driver interface; filesystem and memory), `store`
(blobs, per-repository links, manifests, tags, referrers), `uploads` (sessions hashed while
streaming, committed atomically), `auth` (none, htpasswd, token; access rules; a failed-login
limiter), `params` (request parsing), the `routes_*` modules (one per part of the API), `app`
(routing, errors, headers), `runner` (the process) and `maintenance` (gc and check).
"""

from hoist.server.app import create_app
from hoist.server.config import ServerConfig, load_config

__all__ = ["ServerConfig", "create_app", "load_config"]
