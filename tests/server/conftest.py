"""Fixtures for the registry tests: one running `hoist serve` per module, and httpx helpers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.hoist_server import HoistServer, hoist_server


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HoistServer]:
    """A no-auth `hoist serve` on filesystem storage, shared by one test module."""
    with hoist_server(tmp_path_factory.mktemp("hoist-serve")) as server:
        yield server


@pytest.fixture
def client(registry: HoistServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, timeout=30) as c:
        yield c


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    """Monolithic upload; returns the digest."""
    digest = sha(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    return digest


def image_manifest(
    config: bytes,
    layers: list[bytes],
    *,
    media_type: str = "application/vnd.oci.image.manifest.v1+json",
    **extra: Any,
) -> bytes:
    docker = "docker" in media_type
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json"
            if docker
            else "application/vnd.oci.image.config.v1+json",
            "digest": sha(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip"
                if docker
                else "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": sha(layer),
                "size": len(layer),
            }
            for layer in layers
        ],
    }
    body.update(extra)
    return json.dumps(body).encode()


def push_image(
    client: httpx.Client, repo: str, tag: str, *, seed: str = "s", layers: int = 2
) -> tuple[str, bytes]:
    """Blobs then manifest; returns (manifest digest, manifest bytes)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer_data = [f"{seed}-layer-{i}".encode() * 100 for i in range(layers)]
    for blob in [config, *layer_data]:
        push_blob(client, repo, blob)
    manifest = image_manifest(config, layer_data)
    r = client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert r.status_code == 201, r.text
    return sha(manifest), manifest


def error_code(response: httpx.Response) -> str:
    body = response.json()
    return str(body["errors"][0]["code"])


def snapshot(root: Path) -> dict[str, bytes]:
    """Every committed file under the storage root (uploads and the lock file excluded)."""
    out: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith("uploads/") and rel != ".lock":
            out[rel] = p.read_bytes()
    return out
