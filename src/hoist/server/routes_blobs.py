"""Blobs: GET/HEAD (with a single byte Range) and DELETE.

A blob is served only if this repository links it. On the filesystem driver the body goes out
with aiohttp's FileResponse, which uses sendfile(2): the bytes go from page cache to socket
without passing through Python.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from hoist.server import params
from hoist.server.context import Call, Registry
from hoist.server.errors import APIError
from hoist.server.storage import PathNotFoundError
from hoist.server.store import blob_path


async def get_blob(reg: Registry, call: Call) -> web.StreamResponse:
    digest = params.digest(call.ref)
    size = reg.store.repo_blob_size(call.name, digest)
    if size is None:
        raise APIError("BLOB_UNKNOWN", detail={"digest": str(digest)})
    headers = {
        "Content-Type": "application/octet-stream",
        "Docker-Content-Digest": str(digest),
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
        "Cache-Control": "max-age=31536000",
    }
    range_header = call.request.headers.get("Range")
    start, end = (0, size - 1)
    if range_header is not None:
        start, end = params.byte_range(range_header, size)
    local = reg.store.driver.local_path(blob_path(digest))
    if local is not None:
        # FileResponse re-parses the (already validated) Range and answers 206 itself.
        return web.FileResponse(local, headers=headers)
    if call.request.method == "HEAD":
        headers["Content-Length"] = str(end - start + 1)
        return web.Response(status=206 if range_header else 200, headers=headers)
    try:
        with reg.store.driver.reader(blob_path(digest), start) as fh:
            data = fh.read(end - start + 1)
    except PathNotFoundError:
        raise APIError("BLOB_UNKNOWN", detail={"digest": str(digest)}) from None
    if range_header is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return web.Response(status=206, body=data, headers=headers)
    return web.Response(body=data, headers=headers)


async def delete_blob(reg: Registry, call: Call) -> web.StreamResponse:
    if not reg.config.delete_enabled:
        raise APIError("UNSUPPORTED", "deletes are disabled on this registry")
    digest = params.digest(call.ref)
    if not await asyncio.to_thread(reg.store.unlink_blob, call.name, digest):
        raise APIError("BLOB_UNKNOWN", detail={"digest": str(digest)})
    return web.Response(status=202, headers={"Docker-Content-Digest": str(digest)})
