"""`docker save` tarballs as a copy source and destination (`docker-archive:FILE[:NAME]`).

Reading: the legacy layout (`manifest.json` + config + uncompressed `layer.tar` files, as podman
and Docker < 25 write, symlinked duplicates included) is served through a synthesized Docker
schema 2 manifest whose layers are the uncompressed tars, named by their diffIDs, as
containers/image does; an archive with an `index.json` (Docker 25+) is read as the OCI layout
it also is. Several images per tar: pick one by name.

Writing: what `docker load` and `podman load` accept: `manifest.json`, `<config-hex>.json` and
one uncompressed `<diffID-hex>.tar` per layer (gzip layers are decompressed on the way and
checked against the config's diff_ids). Blobs are staged beside the target and the tar is
renamed into place whole in `commit`, with fixed metadata so the same image gives the same tar.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, Final, cast

from isal import igzip

from hoist.atomic import atomic_writer
from hoist.errors import (
    DigestMismatchError,
    HoistError,
    InvalidContentError,
    NotFoundError,
    UsageError,
)
from hoist.oci import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    GZIP_LAYERS,
    UNCOMPRESSED_LAYERS,
    Descriptor,
    Digest,
    Manifest,
    canonical_json,
    iter_chunks,
)
from hoist.reference import Reference
from hoist.store.blobs import BlobStore
from hoist.transports.files import OpenedFiles
from hoist.transports.layout import (
    BlobsDestination,
    FilesSource,
    add_file,
    read_index,
    select_entry,
    staging_dir,
)
from hoist.transports.tarsafe import GZIP_MAGIC

_MAX_JSON: Final = 16 * 1024 * 1024


def _same_name(a: str, b: str) -> bool:
    try:
        return str(Reference.parse(a)) == str(Reference.parse(b))
    except HoistError:
        return a == b


def _diff_ids(config_data: bytes, what: str) -> list[Digest]:
    """An image config's `rootfs.diff_ids`; `what` names the config in the error."""
    try:
        return [Digest(str(d)) for d in json.loads(config_data)["rootfs"]["diff_ids"]]
    except (ValueError, KeyError, TypeError):
        raise InvalidContentError(f"{what} has no valid rootfs.diff_ids") from None


class ArchiveSource(FilesSource):
    """One image of a `docker save` tarball, picked by `name` (or the only one)."""

    def __init__(self, path: Path, name: str | None = None) -> None:
        self._opened = OpenedFiles(path)
        label = f"docker-archive:{path}" + (f":{name}" if name else "")
        try:
            files = self._opened.files
            self._blob_files: dict[Digest, str] = {}
            self._synth: Manifest | None = None
            if files.has("index.json") and not files.has("manifest.json"):
                root = select_entry(files, read_index(files), name)
            elif files.has("manifest.json"):
                root = self._legacy(files, name)
            else:
                raise InvalidContentError(
                    f"{path} is not a docker save tarball (no manifest.json)",
                    fix="pass the output of docker save or podman save",
                )
        except BaseException:
            self._opened.close()
            raise
        super().__init__(files, root, label)

    def _legacy(self, files: Any, name: str | None) -> Descriptor:
        try:
            entries = json.loads(files.read_small("manifest.json", _MAX_JSON))
        except ValueError as exc:
            raise InvalidContentError(
                f"{files.label}: manifest.json is not valid JSON ({exc})"
            ) from None
        if not isinstance(entries, list) or not entries:
            raise InvalidContentError(f"{files.label}: manifest.json lists no images")
        chosen = None
        if name is None:
            if len(entries) > 1:
                tags = [t for e in entries for t in (e.get("RepoTags") or [])]
                raise NotFoundError(
                    f"{files.label} holds {len(entries)} images; say which one",
                    why="names: " + ", ".join(tags),
                    fix=f"docker-archive:{files.label}:NAME",
                )
            chosen = entries[0]
        else:
            for e in entries:
                if any(_same_name(t, name) for t in (e.get("RepoTags") or [])):
                    chosen = e
                    break
            if chosen is None:
                raise NotFoundError(f"{files.label} has no image named {name!r}")
        config_name = str(chosen.get("Config"))
        config_data = files.read_small(config_name, _MAX_JSON)
        config_digest = Digest.of(config_data)
        diff_ids = _diff_ids(config_data, f"{files.label}: config {config_name}")
        layers = chosen.get("Layers") or []
        if len(layers) != len(diff_ids):
            raise InvalidContentError(
                f"{files.label}: {len(layers)} layers but {len(diff_ids)} diff_ids in the config"
            )
        self._blob_files[config_digest] = config_name
        layer_descs = []
        for layer_name, diff_id in zip(layers, diff_ids, strict=True):
            digest, media = diff_id, DOCKER_LAYER
            with files.open(layer_name) as fh:
                head = fh.read(2)
                if head == GZIP_MAGIC:  # docker load accepts these; its digest is not the diffID
                    h = hashlib.sha256(head)
                    for chunk in iter_chunks(fh):
                        h.update(chunk)
                    digest, media = Digest(f"sha256:{h.hexdigest()}"), DOCKER_LAYER_GZIP
            self._blob_files[digest] = layer_name
            layer_descs.append(
                {"mediaType": media, "size": files.size(layer_name), "digest": str(digest)}
            )
        body = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": {
                    "mediaType": DOCKER_CONFIG,
                    "size": len(config_data),
                    "digest": str(config_digest),
                },
                "layers": layer_descs,
            }
        )
        self._synth = Manifest.parse(body)
        return self._synth.descriptor()

    def root(self) -> Manifest:
        return self._synth if self._synth is not None else super().root()

    def manifest(self, digest: Digest) -> Manifest:
        if self._synth is not None and digest == self._synth.digest:
            return self._synth
        return super().manifest(digest)

    @contextlib.contextmanager
    def open_blob(self, desc: Descriptor) -> Iterator[BinaryIO]:
        member = self._blob_files.get(desc.digest)
        if member is None:
            with super().open_blob(desc) as fh:
                yield fh
            return
        with self.files.open(member) as fh:
            yield fh

    def close(self) -> None:
        self._opened.close()


class ArchiveDestination(BlobsDestination):
    """Writes one image as a `docker save` tarball that docker and podman can load."""

    def __init__(self, path: Path, ref: Reference | None) -> None:
        self.path = path
        self.ref = ref
        self._dir = staging_dir(path)
        super().__init__(BlobStore(self._dir / "blobs", self._dir))

    def describe(self) -> str:
        return f"docker-archive:{self.path}"

    def put_manifest(self, manifest: Manifest, tag: str | None) -> None:
        self._note_manifest(manifest, tag)
        if tag is not None and self.ref is not None:
            self.ref = replace(self.ref, tag=tag, digest=None)

    def commit(self) -> None:
        root = self._root_manifest
        if root is None:
            return
        if root.is_index:
            raise UsageError(
                "a docker archive holds single-platform images, and this one is multi-platform",
                fix="choose a platform (--platform linux/amd64), or write an OCI layout (oci:DIR)",
            )
        config = root.config
        config_data = self.blobs.read_small(config.digest, _MAX_JSON)
        diff_ids = _diff_ids(config_data, f"config {config.digest}")
        if len(diff_ids) != len(root.layers):
            raise InvalidContentError(
                f"manifest {root.digest} has {len(root.layers)} layers, config lists "
                f"{len(diff_ids)} diff_ids"
            )
        layer_files: list[tuple[str, Path]] = []
        for layer, diff_id in zip(root.layers, diff_ids, strict=True):
            layer_files.append((f"{diff_id.hex}.tar", self._uncompressed(layer, diff_id)))
        entry = {
            "Config": f"{config.digest.hex}.json",
            "RepoTags": [self.ref.familiar] if self.ref is not None and self.ref.tag else [],
            "Layers": [name for name, _ in layer_files],
        }
        manifest_json = json.dumps([entry]).encode()
        with (
            atomic_writer(self.path) as out,
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        ):
            add_file(tar, f"{config.digest.hex}.json", self.blobs.path(config.digest))
            seen: set[str] = set()
            for name, file in layer_files:
                if name not in seen:
                    seen.add(name)
                    add_file(tar, name, file)
            manifest_path = self._dir / "manifest.json"
            manifest_path.write_bytes(manifest_json)
            add_file(tar, "manifest.json", manifest_path)

    def _uncompressed(self, layer: Descriptor, diff_id: Digest) -> Path:
        """The layer as an uncompressed tar on disk, verified against its diffID."""
        src = self.blobs.path(layer.digest)
        if layer.media_type in UNCOMPRESSED_LAYERS:
            if layer.digest != diff_id:
                raise DigestMismatchError(f"layer {layer.digest} is not its diffID {diff_id}")
            return src
        if layer.media_type not in GZIP_LAYERS:
            raise UsageError(
                f"layer {layer.digest} is {layer.media_type}, which a docker archive cannot hold",
                fix="copy to an OCI layout (oci:DIR) instead",
            )
        out = self._dir / f"{diff_id.hex}.tar"
        if out.exists():
            return out
        h = hashlib.sha256()
        gz = cast(BinaryIO, igzip.open(src, "rb"))  # type: ignore[no-untyped-call]
        with gz, out.open("wb") as dst:
            for chunk in iter_chunks(gz):
                h.update(chunk)
                dst.write(chunk)
        if f"sha256:{h.hexdigest()}" != diff_id:
            raise DigestMismatchError(
                f"layer {layer.digest} does not decompress to its diffID {diff_id}",
                why="the image's config and layers disagree",
            )
        return out

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
