"""Small, handmade image archives for tests: exact control over every byte, no peer needed.

Real peers (podman, skopeo) make the interop fixtures in conftest.py; these builders make the
cases a real tool would never write (corrupt, hostile) and the ones that need precise shape
(multi-platform indexes with uncompressed layers).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed layer holding `files` (name -> content)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def config_for(
    layers: list[bytes], arch: str = "amd64", created: str = "2024-01-02T03:04:05Z"
) -> bytes:
    return json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "created": created,
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [sha(layer) for layer in layers]},
        },
        sort_keys=True,
    ).encode()


@dataclass
class TarSpec:
    """Entries of a tar to write, in order; links and raw headers allowed for hostile cases."""

    entries: list[tuple[str, bytes | None, dict[str, Any]]] = field(default_factory=list)

    def file(self, name: str, data: bytes) -> TarSpec:
        self.entries.append((name, data, {}))
        return self

    def symlink(self, name: str, target: str) -> TarSpec:
        self.entries.append((name, None, {"type": tarfile.SYMTYPE, "linkname": target}))
        return self

    def hardlink(self, name: str, target: str) -> TarSpec:
        self.entries.append((name, None, {"type": tarfile.LNKTYPE, "linkname": target}))
        return self

    def write(self, path: Path) -> Path:
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
            for name, data, extra in self.entries:
                info = tarfile.TarInfo(name)
                for k, v in extra.items():
                    setattr(info, k, v)
                if data is not None:
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
                else:
                    tf.addfile(info)
        return path


def legacy_archive_spec(
    images: list[tuple[list[str], list[bytes]]],
    tweak: Callable[[dict[str, bytes], list[dict[str, Any]]], None] | None = None,
) -> TarSpec:
    """A docker-save (manifest.json) archive: each image is (RepoTags, layer tars)."""
    files: dict[str, bytes] = {}
    manifest: list[dict[str, Any]] = []
    for tags, layers in images:
        config = config_for(layers)
        cfg_name = sha(config).split(":")[1] + ".json"
        files[cfg_name] = config
        names = []
        for layer in layers:
            name = sha(layer).split(":")[1] + "/layer.tar"
            files[name] = layer
            names.append(name)
        manifest.append({"Config": cfg_name, "RepoTags": tags, "Layers": names})
    if tweak is not None:
        tweak(files, manifest)
    spec = TarSpec()
    for name, data in files.items():
        spec.file(name, data)
    spec.file("manifest.json", json.dumps(manifest).encode())
    return spec


def legacy_archive(path: Path, images: list[tuple[list[str], list[bytes]]]) -> Path:
    return legacy_archive_spec(images).write(path)


class Layout:
    """An OCI layout directory being written by hand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        self.index: list[dict[str, Any]] = []

    def blob(self, data: bytes) -> dict[str, Any]:
        digest = sha(data)
        (self.root / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
        return {"digest": digest, "size": len(data)}

    def image(
        self, layers: list[bytes], *, gzip_layers: bool = False, arch: str = "amd64"
    ) -> dict[str, Any]:
        config = config_for(layers, arch)
        layer_descs = []
        for layer in layers:
            data = gzip.compress(layer, mtime=0) if gzip_layers else layer
            layer_descs.append(
                {"mediaType": OCI_LAYER_GZIP if gzip_layers else OCI_LAYER, **self.blob(data)}
            )
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, **self.blob(config)},
                "layers": layer_descs,
            }
        ).encode()
        return {"mediaType": OCI_MANIFEST, **self.blob(manifest)}

    def multi(self, children: list[tuple[dict[str, Any], str]]) -> dict[str, Any]:
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {**desc, "platform": {"os": "linux", "architecture": arch}}
                    for desc, arch in children
                ],
            }
        ).encode()
        return {"mediaType": OCI_INDEX, **self.blob(index)}

    def name(self, desc: dict[str, Any], ref_name: str | None) -> None:
        entry = dict(desc)
        if ref_name is not None:
            entry["annotations"] = {"org.opencontainers.image.ref.name": ref_name}
        self.index.append(entry)
        (self.root / "index.json").write_text(
            json.dumps({"schemaVersion": 2, "manifests": self.index})
        )

    def tar(self, path: Path) -> Path:
        with tarfile.open(path, "w") as tf:
            for p in sorted(self.root.rglob("*")):
                tf.add(p, p.relative_to(self.root).as_posix(), recursive=False)
        return path

    # --- multi-platform indexes with only some platforms present (Docker 25+ `docker save`) ---

    def platform_index(
        self,
        children: list[tuple[dict[str, Any], str]],
        *,
        annotations: dict[str, str] | None = None,
        extra: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """An index of (descriptor, "os/arch[/variant]") children, then `extra` raw entries."""
        entries = []
        for desc, platform in children:
            os_, arch, *variant = platform.split("/")
            plat = {"os": os_, "architecture": arch, **({"variant": variant[0]} if variant else {})}
            entries.append({**desc, "platform": plat})
        body: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": entries + list(extra or []),
        }
        if annotations:
            body["annotations"] = annotations
        return {"mediaType": OCI_INDEX, **self.blob(json.dumps(body).encode())}

    def attestation(self, subject: dict[str, Any]) -> dict[str, Any]:
        """A BuildKit-style attestation manifest entry describing `subject`."""
        desc = self.image(
            [layer_tar({"intoto.json": subject["digest"].encode()})], gzip_layers=True
        )
        return {
            **desc,
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {
                "vnd.docker.reference.type": "attestation-manifest",
                "vnd.docker.reference.digest": subject["digest"],
            },
        }

    def read(self, desc: dict[str, Any]) -> dict[str, Any]:
        """The JSON of a manifest or index blob in the layout."""
        path = self.root / "blobs" / "sha256" / desc["digest"].split(":")[1]
        parsed: dict[str, Any] = json.loads(path.read_bytes())
        return parsed

    def blobs_of(self, desc: dict[str, Any]) -> list[str]:
        """The digests of a manifest and its config and layers (not of an index's children)."""
        doc = self.read(desc)
        return [desc["digest"], doc["config"]["digest"], *(x["digest"] for x in doc["layers"])]

    def remove(self, *digests: str) -> None:
        """Take blobs out of the layout, as a `docker save` of an absent platform leaves them."""
        for digest in digests:
            (self.root / "blobs" / "sha256" / digest.split(":")[1]).unlink(missing_ok=True)

    def name_annotated(self, desc: dict[str, Any], annotations: dict[str, str]) -> None:
        """An index.json entry with exactly these annotations (e.g. Docker's containerd name)."""
        self.index.append({**desc, "annotations": dict(annotations)})
        (self.root / "index.json").write_text(
            json.dumps({"schemaVersion": 2, "manifests": self.index})
        )
