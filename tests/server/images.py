"""Build small OCI image layouts on disk for tests and the bench (no daemon, no network)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """An OCI image layout directory holding one tagged image."""

    path: Path
    tag: str
    manifest_digest: str
    layer_digests: list[str]
    config_digest: str

    @property
    def ref(self) -> str:
        """The skopeo transport reference: `oci:DIR:TAG`."""
        return f"oci:{self.path}:{self.tag}"


def _write_blob(blobs: Path, data: bytes) -> str:
    hexd = hashlib.sha256(data).hexdigest()
    (blobs / hexd).write_bytes(data)
    return f"sha256:{hexd}"


def _layer(payload: bytes, name: str) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    return gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)


def make_layout(
    path: Path, *, layers: int = 2, layer_size: int = 4096, tag: str = "v1", seed: str = "x"
) -> Layout:
    """An image with `layers` gzip layers of random (incompressible) content."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    layer_descs = []
    diff_ids = []
    for i in range(layers):
        payload = hashlib.sha256(f"{seed}-{i}".encode()).digest() + os.urandom(layer_size)
        tar = _layer(payload, f"file-{i}")
        gz_digest = _write_blob(blobs, tar)
        layer_descs.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": gz_digest,
                "size": len(tar),
            }
        )
        diff_ids.append("sha256:" + hashlib.sha256(gzip.decompress(tar)).hexdigest())
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": [f"SEED={seed}"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    config_digest = _write_blob(blobs, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": layer_descs,
        }
    ).encode()
    manifest_digest = _write_blob(blobs, manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (path / "index.json").write_text(json.dumps(index))
    return Layout(path, tag, manifest_digest, [d["digest"] for d in layer_descs], config_digest)
