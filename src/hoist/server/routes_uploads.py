"""Blob uploads: monolithic POST, POST then PUT, chunked and streamed PATCH, status, cancel,
and cross-repository mount.

Request bodies are streamed: hashed and written in pieces of about a megabyte (in a worker
thread, so hashing uses a second core while the event loop keeps reading), never held whole.
A chunk that fails half way — the client hung up, or sent fewer or more bytes than its
Content-Range said — is rolled back, so the session is exactly as before the request.
"""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web

from hoist.oci import Digest
from hoist.server import params
from hoist.server.context import Call, Registry
from hoist.server.errors import APIError
from hoist.server.uploads import UploadSession

_BATCH: Final = 1 << 20
_INLINE: Final = 64 << 10


def _session_headers(name: str, session: UploadSession) -> dict[str, str]:
    end = session.size - 1 if session.size > 0 else 0
    return {
        "Location": f"/v2/{name}/blobs/uploads/{session.id}",
        "Range": f"0-{end}",
        "Docker-Upload-UUID": session.id,
    }


def _blob_headers(name: str, digest: Digest) -> dict[str, str]:
    return {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": str(digest)}


async def _flush(session: UploadSession, pieces: list[bytes]) -> None:
    data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    pieces.clear()
    if len(data) <= _INLINE:
        session.write(data)
    else:
        await asyncio.to_thread(session.write, data)


async def _receive(request: web.Request, session: UploadSession, expected: int | None) -> int:
    """Stream the request body into the session; returns the bytes received.

    `expected` (from Content-Range) must match the body exactly. On any failure the chunk is
    rolled back before the error propagates.
    """
    start_size = session.size
    saved_hash = session.hasher.copy()
    received = 0
    pieces: list[bytes] = []
    pending = 0
    try:
        async for chunk in request.content.iter_any():
            received += len(chunk)
            if expected is not None and received > expected:
                raise APIError(
                    "BLOB_UPLOAD_INVALID",
                    f"body is larger than the {expected} bytes its Content-Range declares",
                )
            pieces.append(chunk)
            pending += len(chunk)
            if pending >= _BATCH:
                pending = 0
                await _flush(session, pieces)
        if pieces:
            await _flush(session, pieces)
        if expected is not None and received != expected:
            raise APIError(
                "SIZE_INVALID",
                f"body is {received} bytes but its Content-Range declares {expected}",
            )
    except BaseException:
        session.rollback(start_size, saved_hash)
        raise
    return received


def _check_range(call: Call, session: UploadSession) -> int | None:
    """The chunk length a Content-Range announces (None if absent); 416 if out of order."""
    request = call.request
    header = request.headers.get("Content-Range")
    if header is None:
        return None
    start, end = params.content_range(header)
    if start != session.size:
        raise APIError(
            "RANGE_INVALID",
            f"chunk starts at {start} but the upload has {session.size} bytes",
            headers=_session_headers(call.name, session),
        )
    length = end - start + 1
    if request.content_length is not None and request.content_length != length:
        raise APIError(
            "SIZE_INVALID",
            f"Content-Length {request.content_length} does not match Content-Range {header}",
        )
    return length


async def start_upload(reg: Registry, call: Call) -> web.StreamResponse:
    query = call.request.query
    mount = query.get("mount")
    source = query.get("from")
    if mount and source:
        digest = params.digest(mount)
        try:
            source = params.repository(source)
        except APIError:
            source = None
        if (
            source is not None
            and reg.auth.can(call.principal, source, "pull")
            and await asyncio.to_thread(reg.store.mount_blob, source, call.name, digest)
        ):
            return web.Response(status=201, headers=_blob_headers(call.name, digest))
    wanted = query.get("digest")
    if wanted is not None:
        digest = params.digest(wanted)
        session = reg.uploads.create(call.name)
        try:
            async with session.lock:
                await _receive(call.request, session, call.request.content_length)
                await asyncio.to_thread(reg.uploads.commit, session, digest)
        except BaseException:
            reg.uploads.discard(session)
            raise
        return web.Response(status=201, headers=_blob_headers(call.name, digest))
    session = reg.uploads.create(call.name)
    return web.Response(status=202, headers=_session_headers(call.name, session))


async def patch_upload(reg: Registry, call: Call) -> web.StreamResponse:
    session = await reg.uploads.get(call.name, call.ref)
    async with session.lock:
        try:
            expected = _check_range(call, session)
            await _receive(call.request, session, expected)
        finally:
            session.release()
    return web.Response(status=202, headers=_session_headers(call.name, session))


async def put_upload(reg: Registry, call: Call) -> web.StreamResponse:
    wanted = call.request.query.get("digest")
    if not wanted:
        raise APIError("DIGEST_INVALID", "completing an upload needs ?digest=")
    digest = params.digest(wanted)
    session = await reg.uploads.get(call.name, call.ref)
    async with session.lock:
        try:
            expected = _check_range(call, session)
            if call.request.body_exists:
                await _receive(call.request, session, expected)
            await asyncio.to_thread(reg.uploads.commit, session, digest)
        finally:
            session.release()
    return web.Response(status=201, headers=_blob_headers(call.name, digest))


async def upload_status(reg: Registry, call: Call) -> web.StreamResponse:
    session = await reg.uploads.get(call.name, call.ref)
    return web.Response(status=204, headers=_session_headers(call.name, session))


async def cancel_upload(reg: Registry, call: Call) -> web.StreamResponse:
    session = await reg.uploads.get(call.name, call.ref)
    async with session.lock:
        await asyncio.to_thread(reg.uploads.cancel, session)
    return web.Response(status=204)
