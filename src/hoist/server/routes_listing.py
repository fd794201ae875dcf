"""Listings: a repository's tags and the registry's catalog, both paginated.

Pagination follows the spec: results are sorted lexically, `n` limits them, `last` starts
after a value, and a `Link: <...>; rel="next"` header is present only when more remain.
The catalog lists only the repositories the caller may pull.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import urlencode

from aiohttp import web

from hoist.server import params
from hoist.server.context import Call, Registry
from hoist.server.errors import APIError

CATALOG_DEFAULT_PAGE = 1000


def _page(
    items: Sequence[str], n: int | None, last: str | None, path: str
) -> tuple[list[str], dict[str, str]]:
    selected = [i for i in items if last is None or i > last]
    headers: dict[str, str] = {}
    if n is not None and len(selected) > n:
        selected = selected[:n]
        if selected:
            query = urlencode({"n": n, "last": selected[-1]})
            headers["Link"] = f'<{path}?{query}>; rel="next"'
    return selected, headers


async def list_tags(reg: Registry, call: Call) -> web.StreamResponse:
    query = call.request.query
    n = params.page_size(query.get("n"), None)
    tags = reg.store.tags(call.name)
    if tags is None:
        raise APIError("NAME_UNKNOWN", detail={"name": call.name})
    page, headers = _page(tags, n, query.get("last"), f"/v2/{call.name}/tags/list")
    body = json.dumps({"name": call.name, "tags": page}).encode()
    return web.Response(body=body, content_type="application/json", headers=headers)


async def catalog(reg: Registry, call: Call) -> web.StreamResponse:
    query = call.request.query
    n = params.page_size(query.get("n"), CATALOG_DEFAULT_PAGE)
    names = [r for r in reg.store.repositories() if reg.auth.may_pull(call.principal, r)]
    page, headers = _page(names, n, query.get("last"), "/v2/_catalog")
    body = json.dumps({"repositories": page}).encode()
    return web.Response(body=body, content_type="application/json", headers=headers)
