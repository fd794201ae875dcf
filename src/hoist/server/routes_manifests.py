"""Manifests (GET/HEAD/PUT/DELETE by tag or digest) and the referrers API.

A PUT is checked before anything is stored: at most 4 MiB, valid JSON of a known manifest
media type (OCI image manifest or index, Docker schema 2 manifest or list, artifacts through
`artifactType` or a non-image config), every blob and child manifest present in this
repository, and the body hashing to the digest when pushed by digest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

from aiohttp import web

from hoist.errors import InvalidContentError
from hoist.oci import MANIFEST_TYPES, MAX_MANIFEST_BYTES, OCI_INDEX, Digest, Manifest
from hoist.server import params
from hoist.server.context import Call, Registry
from hoist.server.errors import APIError


def _resolve(reg: Registry, call: Call) -> Digest:
    if params.is_digest_ref(call.ref):
        return params.digest(call.ref)
    digest = reg.store.resolve_tag(call.name, params.tag(call.ref))
    if digest is None:
        raise APIError("MANIFEST_UNKNOWN", detail={"tag": call.ref})
    return digest


async def get_manifest(reg: Registry, call: Call) -> web.StreamResponse:
    digest = _resolve(reg, call)
    item = reg.store.get_manifest(call.name, digest)
    if item is None:
        raise APIError("MANIFEST_UNKNOWN", detail={"digest": str(digest)})
    return web.Response(
        body=item.data,
        headers={
            "Content-Type": item.media_type,
            "Docker-Content-Digest": str(item.digest),
            "ETag": f'"{item.digest}"',
        },
    )


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise APIError(
            "MANIFEST_INVALID",
            f"manifest is {request.content_length} bytes, over the {limit}-byte limit",
            status=413,
        )
    data = await request.content.read(limit + 1)
    while len(data) <= limit:
        more = await request.content.read(limit + 1 - len(data))
        if not more:
            break
        data += more
    if len(data) > limit:
        raise APIError("MANIFEST_INVALID", f"manifest is over the {limit}-byte limit", status=413)
    return data


def _parse(data: bytes, content_type: str) -> Manifest:
    declared_type = content_type if content_type in MANIFEST_TYPES else None
    try:
        manifest = Manifest.parse(data, declared_type)
        if manifest.json.get("schemaVersion") != 2:
            raise InvalidContentError("schemaVersion must be 2")
        body_type = manifest.json.get("mediaType")
        if declared_type and isinstance(body_type, str) and body_type != declared_type:
            raise InvalidContentError(
                f"Content-Type {declared_type} does not match the manifest's mediaType {body_type}"
            )
        # Touch every descriptor now, so a malformed one is MANIFEST_INVALID, not a 500 later.
        manifest.blobs()
        manifest.manifests  # noqa: B018
        manifest.subject  # noqa: B018
    except InvalidContentError as exc:
        raise APIError("MANIFEST_INVALID", exc.what, detail={"reason": exc.what}) from None
    return manifest


async def put_manifest(reg: Registry, call: Call) -> web.StreamResponse:
    by_digest = params.is_digest_ref(call.ref)
    wanted = params.digest(call.ref) if by_digest else None
    tag = None if by_digest else params.tag(call.ref)
    data = await _read_body(call.request, MAX_MANIFEST_BYTES)
    manifest = _parse(data, call.request.content_type)
    if wanted is not None:
        actual = Digest.of(data, wanted.algorithm)
        if actual != wanted:
            raise APIError(
                "DIGEST_INVALID",
                f"manifest body has digest {actual}, not {wanted}",
                detail={"digest": str(wanted)},
            )
        manifest = dataclasses.replace(manifest, digest=wanted)
    missing = await asyncio.to_thread(reg.store.put_manifest, call.name, manifest, tag)
    if missing:
        errors = [
            (
                "MANIFEST_BLOB_UNKNOWN",
                f"{d.digest} is not in repository {call.name}",
                {"digest": str(d.digest)},
            )
            for d in missing
        ]
        code, message, detail = errors[0]
        raise APIError(code, message, detail=detail, more=errors[1:])
    headers = {
        "Location": f"/v2/{call.name}/manifests/{manifest.digest}",
        "Docker-Content-Digest": str(manifest.digest),
    }
    subject = manifest.subject
    if subject is not None:
        headers["OCI-Subject"] = str(subject.digest)
    return web.Response(status=201, headers=headers)


async def delete_manifest(reg: Registry, call: Call) -> web.StreamResponse:
    if not reg.config.delete_enabled:
        raise APIError("UNSUPPORTED", "deletes are disabled on this registry")
    if params.is_digest_ref(call.ref):
        digest = params.digest(call.ref)
        done = await asyncio.to_thread(reg.store.delete_manifest, call.name, digest)
        if not done:
            raise APIError("MANIFEST_UNKNOWN", detail={"digest": str(digest)})
    elif not await asyncio.to_thread(reg.store.delete_tag, call.name, params.tag(call.ref)):
        raise APIError("MANIFEST_UNKNOWN", detail={"tag": call.ref})
    return web.Response(status=202)


async def get_referrers(reg: Registry, call: Call) -> web.StreamResponse:
    subject = params.digest(call.ref)
    descriptors = reg.store.referrers(call.name, subject)
    headers = {"Content-Type": OCI_INDEX}
    wanted = call.request.query.get("artifactType")
    if wanted:
        descriptors = [d for d in descriptors if d.get("artifactType") == wanted]
        headers["OCI-Filters-Applied"] = "artifactType"
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    return web.Response(body=json.dumps(body).encode(), headers=headers)
