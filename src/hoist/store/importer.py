"""`hoist load`: bring a `docker save` tarball or an OCI layout (dir or tar) into the store.

Everything is staged first and believed only when verified: manifests and blobs against their
descriptors, every layer against the config's `rootfs.diff_ids`. Uncompressed layers (what
`docker save` writes) are gzip-compressed once, in parallel and deterministically
(`hoist.store.compress`), and the diffID -> compressed-blob mapping is recorded so no later
push or export compresses again; a layer the store already has compressed is only hashed.
Staged blobs move into the store only after the whole source checked out, and names are set
last, in one index update: a bad archive leaves the store exactly as it was.

Formats: the legacy `manifest.json` docker archive (podman, Docker < 25), the OCI layout that
Docker 25+ and skopeo write (names from `io.containerd.image.name`, or from
`org.opencontainers.image.ref.name` when that holds a full name rather than a bare tag), and
multi-platform indexes, which are kept whole. A legacy archive becomes an OCI manifest (its
config is already OCI-compatible): the store is an OCI layout, and OCI tools such as skopeo
only see OCI media types in a layout's index.

Docker 25+ (containerd image store) saves a multi-platform image as its whole index but only
the platforms it pulled. Absent content is tolerated there, and only there: the one complete
platform's manifest becomes the root, or a new index of the complete platforms, and a note
says which platforms were missing. Present content is verified as always; a corrupt child
fails the load.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final, cast

from isal import igzip

from hoist.errors import (
    DigestMismatchError,
    HoistError,
    InvalidContentError,
    InvalidReferenceError,
    NotFoundError,
    StoreError,
)
from hoist.oci import (
    ANNOTATION_REF_NAME,
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    GZIP_LAYERS,
    MAX_MANIFEST_BYTES,
    OCI_CONFIG,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    UNCOMPRESSED_LAYERS,
    Descriptor,
    Digest,
    Manifest,
    canonical_json,
    iter_chunks,
)
from hoist.reference import Reference
from hoist.store.blobs import BlobStore
from hoist.store.compress import cpu_count, gzip_stream
from hoist.store.store import MAX_CONFIG_BYTES, ImageStore
from hoist.transports.files import FileSet, OpenedFiles
from hoist.transports.layout import CONTAINERD_NAME, blob_path, read_index
from hoist.transports.tarsafe import GZIP_MAGIC

_GZIP_OF: Final = {OCI_LAYER: OCI_LAYER_GZIP, DOCKER_LAYER: DOCKER_LAYER_GZIP}
_MAX_INDEX_BYTES: Final = 16 * 1024 * 1024


@dataclass
class LoadedImage:
    """One root that was imported, with the names it got."""

    descriptor: Descriptor
    image_id: Digest
    names: list[Reference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Scan:
    """One child of an index: the first file of it the archive lacks, and its present layers."""

    desc: Descriptor
    missing: str | None
    layers: list[Descriptor]


@dataclass(frozen=True)
class _Partial:
    """How an index the archive holds only part of was loaded (for the note)."""

    kept: list[str]
    missing: list[str]
    platforms: int
    new_index: bool

    def note(self, what: str) -> str:
        result = "an index of just those" if self.new_index else "that image"
        return (
            f"note: {what} is a multi-platform index; the archive holds only "
            f"{_and(self.kept)} of its {self.platforms} platforms, so {result} was loaded "
            f"(missing: {', '.join(self.missing)})"
        )


_REFERENCE_TYPE: Final = "vnd.docker.reference.type"
_REFERENCE_DIGEST: Final = "vnd.docker.reference.digest"


def _is_attestation(desc: Descriptor) -> bool:
    """BuildKit's attestation manifests sit in an index beside the platforms they describe."""
    return desc.annotations.get(_REFERENCE_TYPE) == "attestation-manifest"


def _attests(desc: Descriptor) -> str | None:
    return desc.annotations.get(_REFERENCE_DIGEST)


def _platform_label(desc: Descriptor) -> str:
    text = str(desc.platform) if desc.platform is not None else ""
    return text or f"{desc.digest.algorithm}:{desc.digest.short}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


@dataclass(frozen=True)
class _LayerOut:
    descriptor: Descriptor
    diff_id: Digest | None


def _json(files: FileSet, name: str, limit: int) -> Any:
    data = files.read_small(name, limit)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidContentError(
            f"{files.label}: {name} is not valid JSON ({exc})",
            why="the archive is corrupt or was not written by an image tool",
            fix="recreate it with docker save, podman save or skopeo copy",
        ) from None


def _pointing_at(entry: Any, desc: Descriptor) -> dict[str, Any]:
    """A manifest's descriptor entry, its other fields kept, changed to point at `desc`."""
    return {**entry, "mediaType": desc.media_type, "digest": str(desc.digest), "size": desc.size}


class _HashingReader(io.RawIOBase):
    """Passes reads through while hashing, counting and copying them (a layer's raw side)."""

    def __init__(self, raw: BinaryIO, sink: BinaryIO, algorithm: str = "sha256") -> None:
        super().__init__()
        self._raw = raw
        self._sink = sink
        self.hash = hashlib.new(algorithm)
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._raw.read(len(buffer))
        n = len(chunk)
        if n:
            buffer[:n] = chunk
            self.hash.update(chunk)
            self.size += n
            self._sink.write(chunk)
        return n

    def drain(self) -> None:
        buf = bytearray(1 << 20)
        while self.readinto(buf):
            pass


class Importer:
    """One load: a staging area, a layer pool and a block pool, then one commit."""

    def __init__(self, store: ImageStore, files: FileSet, staging: Path) -> None:
        self.store = store
        self.files = files
        self.label = files.label
        self.staging = BlobStore(staging / "blobs", staging / "tmp")
        cores = cpu_count()
        self._layers = ThreadPoolExecutor(max(2, cores), thread_name_prefix="hoist-layer")
        self._blocks = ThreadPoolExecutor(cores, thread_name_prefix="hoist-deflate")
        self._jobs: dict[tuple[str, str | None], Future[_LayerOut]] = {}
        self.diff_ids: dict[Digest, Descriptor] = {}
        self.partial: dict[Digest, _Partial] = {}

    def close(self) -> None:
        self._layers.shutdown(wait=True, cancel_futures=True)
        self._blocks.shutdown(wait=True, cancel_futures=True)

    # --- blobs --------------------------------------------------------------------------

    def _has(self, digest: Digest) -> bool:
        return self.staging.has(digest) or self.store.blobs.has(digest)

    def _copy_blob(self, desc: Descriptor) -> None:
        """Stage a blob named by descriptor, verifying size and digest."""
        if self._has(desc.digest):
            return
        with self.files.open(blob_path(desc.digest)) as fh:
            try:
                self.staging.ingest(fh, desc)
            except DigestMismatchError as exc:
                raise DigestMismatchError(f"{self.label}: {exc.what}", why=exc.why) from None

    def _small_blob(self, desc: Descriptor, limit: int) -> bytes:
        data = self.files.read_small(blob_path(desc.digest), limit)
        if len(data) != desc.size or Digest.of(data, desc.digest.algorithm) != desc.digest:
            raise DigestMismatchError(
                f"{self.label}: {blob_path(desc.digest)} does not match its descriptor "
                f"({desc.digest}, {desc.size} bytes)",
                why="the file was corrupted or the archive's index names different content",
                fix="recreate the archive",
            )
        return data

    def _layer(
        self, member: str, expected_diff: Digest | None, desc: Descriptor | None, media: str
    ) -> Future[_LayerOut]:
        key = (member, expected_diff)
        job = self._jobs.get(key)
        if job is None:
            job = self._layers.submit(self._do_layer, member, expected_diff, desc, media)
            self._jobs[key] = job
        return job

    def _do_layer(
        self, member: str, expected_diff: Digest | None, desc: Descriptor | None, media: str
    ) -> _LayerOut:
        with self.files.open(member) as raw:
            head = raw.read(2) if desc is None else b""
        if desc is None:  # docker-archive: no media type, so sniff the bytes
            gz = head == GZIP_MAGIC
            plain = not gz
        else:
            gz = desc.media_type in GZIP_LAYERS
            plain = desc.media_type in UNCOMPRESSED_LAYERS
        if plain:
            out = self._compress(member, expected_diff, desc, _GZIP_OF.get(media, media))
        elif gz:
            out = self._ingest_gzip(member, expected_diff, desc, media)
        else:
            assert desc is not None
            self._copy_blob(desc)
            out = _LayerOut(desc, None)
        if out.diff_id is not None:
            self.diff_ids[out.diff_id] = out.descriptor
        return out

    def _check(self, member: str, what: str, expected: Digest | None, actual: str) -> None:
        if expected is not None and actual != expected:
            raise DigestMismatchError(
                f"{self.label}: layer {member} does not match its {what}: expected {expected}, "
                f"got {actual}",
                why="the layer was corrupted, or the archive's config/manifest names other data",
                fix="recreate the archive from the original image",
            )

    def _compress(
        self, member: str, expected_diff: Digest | None, desc: Descriptor | None, out_media: str
    ) -> _LayerOut:
        cached = self.store.compressed_for(expected_diff) if expected_diff else None
        if cached is not None:
            with self.files.open(member) as raw:
                h = hashlib.sha256()
                size = 0
                for chunk in iter_chunks(raw):
                    h.update(chunk)
                    size += len(chunk)
            actual = f"sha256:{h.hexdigest()}"
            self._check(member, "diffID", expected_diff, actual)
            if desc is not None:
                self._check(member, "descriptor digest", desc.digest, actual)
            return _LayerOut(Descriptor(out_media, cached.digest, cached.size), expected_diff)
        with self.files.open(member) as raw, self.staging.create() as pending:
            result = gzip_stream(raw, pending.fh, self._blocks)
            self._check(member, "diffID", expected_diff, result.diff_id)
            if desc is not None:
                self._check(member, "descriptor digest", desc.digest, result.diff_id)
                if result.uncompressed_size != desc.size:
                    raise DigestMismatchError(
                        f"{self.label}: layer {member} is {result.uncompressed_size} bytes, "
                        f"its descriptor says {desc.size}"
                    )
            digest = Digest(result.compressed_digest)
            if self._has(digest):
                pass  # identical output already staged or stored; temp file is discarded
            else:
                pending.commit(digest)
        return _LayerOut(
            Descriptor(out_media, digest, result.compressed_size), Digest(result.diff_id)
        )

    def _ingest_gzip(
        self, member: str, expected_diff: Digest | None, desc: Descriptor | None, media: str
    ) -> _LayerOut:
        with self.files.open(member) as raw_fh, self.staging.create() as pending:
            raw = _HashingReader(raw_fh, pending.fh, desc.digest.algorithm if desc else "sha256")
            plain = hashlib.sha256()
            try:
                gz = cast(BinaryIO, igzip.GzipFile(fileobj=raw, mode="rb"))  # type: ignore[no-untyped-call]
                with gz:
                    for chunk in iter_chunks(gz):
                        plain.update(chunk)
            except (OSError, EOFError, ValueError) as exc:
                raise InvalidContentError(
                    f"{self.label}: layer {member} is not valid gzip ({exc})",
                    fix="recreate the archive",
                ) from None
            raw.drain()
            digest = Digest(f"{raw.hash.name}:{raw.hash.hexdigest()}")
            if desc is not None:
                self._check(member, "descriptor digest", desc.digest, digest)
                if raw.size != desc.size:
                    raise DigestMismatchError(
                        f"{self.label}: layer {member} is {raw.size} bytes, "
                        f"its descriptor says {desc.size}"
                    )
            diff_id = f"sha256:{plain.hexdigest()}"
            self._check(member, "diffID", expected_diff, diff_id)
            if not self._has(digest):
                pending.commit(digest)
        media_type = desc.media_type if desc is not None else OCI_LAYER_GZIP
        return _LayerOut(Descriptor(media_type, digest, raw.size), Digest(diff_id))

    def _stage_bytes(self, data: bytes) -> Digest:
        digest = Digest.of(data)
        if not self._has(digest):
            self.staging.put_bytes(data)
        return digest

    def _stage_rewritten(
        self, manifest: Manifest, key: str, entries: list[dict[str, Any]]
    ) -> Descriptor:
        """Stage `manifest` with its `key` list replaced by `entries`; the new descriptor."""
        body = canonical_json({**manifest.json, key: entries})
        return Descriptor(manifest.media_type, self._stage_bytes(body), len(body))

    # --- images -------------------------------------------------------------------------

    def _diff_ids(self, config: Any, where: str) -> list[Digest]:
        rootfs = config.get("rootfs") if isinstance(config, dict) else None
        raw = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(raw, list):
            raise InvalidContentError(
                f"{self.label}: the image config {where} has no rootfs.diff_ids list",
                why="without it the layers cannot be verified",
            )
        try:
            return [Digest(str(d)) for d in raw]
        except InvalidContentError as exc:
            raise InvalidContentError(f"{self.label}: config {where}: {exc.what}") from None

    def _read_manifest(self, desc: Descriptor) -> tuple[Manifest, bytes]:
        data = self._small_blob(desc, MAX_MANIFEST_BYTES)
        try:
            return Manifest.parse(data, desc.media_type or None), data
        except InvalidContentError as exc:
            raise InvalidContentError(f"{self.label}: manifest {desc.digest}: {exc.what}") from None

    def oci_root(self, desc: Descriptor) -> Callable[[], Descriptor]:
        """Plan the import of a root the layout's index.json names; the returned call finishes it.

        An index whose children are all in the archive is kept whole. One that lacks some of
        them (Docker 25+ saves only the platforms it pulled) is trimmed: see `_plan_partial`.
        """
        manifest, data = self._read_manifest(desc)
        if not manifest.is_index:
            return self._plan_image(desc, manifest, data)
        scans = [self._scan(child) for child in manifest.manifests]
        if all(scan.missing is None for scan in scans):
            return self._plan_index(manifest, data)
        return self._plan_partial(manifest, scans)

    def _plan(self, desc: Descriptor) -> Callable[[], Descriptor]:
        """Plan a manifest or index below the root, whole."""
        manifest, data = self._read_manifest(desc)
        if manifest.is_index:
            return self._plan_index(manifest, data)
        return self._plan_image(desc, manifest, data)

    def _scan(self, desc: Descriptor) -> _Scan:
        """Which file under `desc` the archive lacks, if any, verifying what it does hold.

        Only absence is reported: a manifest or config that is present but does not match its
        descriptor (or is not valid JSON) raises, as it would for a complete archive.
        """
        name = blob_path(desc.digest)
        if not self.files.has(name):
            return _Scan(desc, name, [])
        manifest, _data = self._read_manifest(desc)
        if manifest.is_index:
            layers: list[Descriptor] = []
            for child in manifest.manifests:
                sub = self._scan(child)
                if sub.missing is not None:
                    raise NotFoundError(
                        f"{self.label} has no file {sub.missing!r}, which index {desc.digest} "
                        "(nested in another index) needs",
                        why="hoist trims only the top-level index of an archive to the platforms "
                        "it holds; an incomplete index nested inside one is not loaded",
                        fix="save or copy the image again with all of its content, or only the "
                        "platform you need",
                    )
                layers += sub.layers
            return _Scan(desc, None, layers)
        missing: str | None = None
        config = manifest.config
        if self.files.has(blob_path(config.digest)):
            self._small_blob(config, MAX_CONFIG_BYTES)
        else:
            missing = blob_path(config.digest)
        present: list[Descriptor] = []
        for layer in manifest.layers:
            if self.files.has(blob_path(layer.digest)):
                present.append(layer)
            elif missing is None:
                missing = blob_path(layer.digest)
        return _Scan(desc, missing, present)

    def _verify_blob(self, desc: Descriptor) -> None:
        """Check a blob that will not be imported (a dropped platform's layer) is not corrupt."""
        h = desc.digest.hasher()
        size = 0
        with self.files.open(blob_path(desc.digest)) as fh:
            for chunk in iter_chunks(fh):
                h.update(chunk)
                size += len(chunk)
        actual = f"{desc.digest.algorithm}:{h.hexdigest()}"
        if actual != desc.digest or size != desc.size:
            raise DigestMismatchError(
                f"{self.label}: {blob_path(desc.digest)} does not match its descriptor "
                f"({desc.digest}, {desc.size} bytes): got {actual}, {size} bytes",
                why="the file was corrupted or the archive's index names different content",
                fix="recreate the archive",
            )

    def _plan_partial(self, index: Manifest, scans: list[_Scan]) -> Callable[[], Descriptor]:
        """An index only some of whose children the archive holds completely.

        One complete platform: that platform's manifest is the root (its digest is the one the
        registry has for it). Several: a new index listing just those, in the same order with
        the same descriptors and the index's own fields and annotations. Attestation manifests
        are not platforms; one is kept in a new index when it and its image are complete.
        """
        platforms = [s for s in scans if not _is_attestation(s.desc)]
        complete = [s for s in platforms if s.missing is None]
        missing = [_platform_label(s.desc) for s in platforms if s.missing is not None]
        if not complete:
            first = next(s.missing for s in scans if s.missing is not None)
            raise NotFoundError(
                f"{self.label} has no file {first!r}",
                why=f"it belongs to the multi-platform index {index.digest}, and the archive "
                f"holds the complete content of none of its {len(platforms)} platforms "
                f"({', '.join(missing)})",
                fix="save the image again where at least one of its platforms was pulled "
                "(docker pull --platform OS/ARCH NAME), or copy the layout again",
            )
        kept_digests = {s.desc.digest for s in complete}
        if len(complete) > 1:
            kept = [
                s
                for s in scans
                if s.missing is None
                and (not _is_attestation(s.desc) or _attests(s.desc) in kept_digests)
            ]
        else:
            kept = complete
        # Present content of what is dropped is still checked: only absence is tolerated.
        imported = {layer.digest for s in kept for layer in s.layers}
        unchecked: dict[Digest, Descriptor] = {}
        kept_ids = {id(s) for s in kept}
        for s in scans:
            if id(s) not in kept_ids:
                for layer in s.layers:
                    if layer.digest not in imported:
                        unchecked.setdefault(layer.digest, layer)
        checks = [self._layers.submit(self._verify_blob, d) for d in unchecked.values()]
        self.partial[index.digest] = _Partial(
            [_platform_label(s.desc) for s in complete], missing, len(platforms), len(kept) > 1
        )
        if len(kept) == 1:
            only = self._plan(kept[0].desc)

            def finish_one() -> Descriptor:
                for check in checks:
                    check.result()
                return only()

            return finish_one
        positions = {id(s): i for i, s in enumerate(scans)}
        children = [(positions[id(s)], s.desc, self._plan(s.desc)) for s in kept]

        def finish_trimmed() -> Descriptor:
            for check in checks:
                check.result()
            raw = index.json["manifests"]
            entries = []
            for i, old, done in children:
                new = done()
                entries.append(_pointing_at(raw[i], new) if new.digest != old.digest else raw[i])
            return self._stage_rewritten(index, "manifests", entries)

        return finish_trimmed

    def _plan_index(self, manifest: Manifest, data: bytes) -> Callable[[], Descriptor]:
        """An index with all its content present: kept whole (rewritten only if a child was)."""
        children = [(child, self._plan(child)) for child in manifest.manifests]

        def finish_index() -> Descriptor:
            new = [(old, done()) for old, done in children]
            if all(n.digest == o.digest for o, n in new):
                self._stage_bytes(data)
                return manifest.descriptor()
            entries = [
                _pointing_at(raw, n)
                for raw, (_old, n) in zip(manifest.json["manifests"], new, strict=True)
            ]
            return self._stage_rewritten(manifest, "manifests", entries)

        return finish_index

    def _plan_image(
        self, desc: Descriptor, manifest: Manifest, data: bytes
    ) -> Callable[[], Descriptor]:
        """An image manifest: config and layers verified, layers compressed where needed."""
        config_desc = manifest.config
        config_data = self._small_blob(config_desc, MAX_CONFIG_BYTES)
        layers = manifest.layers
        diff_ids: list[Digest | None] = [None] * len(layers)
        if config_desc.media_type in (DOCKER_CONFIG, OCI_CONFIG):
            try:
                config = json.loads(config_data)
            except ValueError:
                raise InvalidContentError(
                    f"{self.label}: config {config_desc.digest} is not valid JSON"
                ) from None
            ids = self._diff_ids(config, str(config_desc.digest))
            if len(ids) != len(layers):
                raise InvalidContentError(
                    f"{self.label}: manifest {desc.digest} has {len(layers)} layers but its "
                    f"config lists {len(ids)} diff_ids"
                )
            diff_ids = list(ids)
        jobs = [
            self._layer(blob_path(layer.digest), diff_ids[i], layer, layer.media_type)
            for i, layer in enumerate(layers)
        ]

        def finish_image() -> Descriptor:
            outs = [job.result() for job in jobs]
            self._stage_bytes(config_data)
            if all(o.descriptor.digest == d.digest for o, d in zip(outs, layers, strict=True)):
                self._stage_bytes(data)
                return manifest.descriptor()
            layers_out = [
                _pointing_at(raw, out.descriptor)
                for raw, out in zip(manifest.json["layers"], outs, strict=True)
            ]
            return self._stage_rewritten(manifest, "layers", layers_out)

        return finish_image

    def legacy_image(self, entry: Any, index: int) -> Callable[[], Descriptor]:
        """Plan one `manifest.json` entry (a docker-archive image)."""
        where = f"manifest.json entry {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise InvalidContentError(f"{self.label}: {where} has no Config file name")
        layer_names = entry.get("Layers")
        if not isinstance(layer_names, list) or not all(isinstance(x, str) for x in layer_names):
            raise InvalidContentError(f"{self.label}: {where} has no Layers list")
        config_name: str = entry["Config"]
        config_data = self.files.read_small(config_name, MAX_CONFIG_BYTES)
        config_digest = Digest.of(config_data)
        stem = config_name.rsplit("/", 1)[-1].removesuffix(".json")
        if (
            len(stem) == 64
            and all(c in "0123456789abcdef" for c in stem)
            and stem != (config_digest.hex)
        ):
            raise DigestMismatchError(
                f"{self.label}: config {config_name} does not match its name: got {config_digest}",
                why="the config file was modified or corrupted",
                fix="recreate the archive",
            )
        try:
            config = json.loads(config_data)
        except ValueError:
            raise InvalidContentError(
                f"{self.label}: config {config_name} is not valid JSON",
                fix="recreate the archive",
            ) from None
        ids = self._diff_ids(config, config_name)
        if len(ids) != len(layer_names):
            raise InvalidContentError(
                f"{self.label}: {where} lists {len(layer_names)} layers but config "
                f"{config_name} lists {len(ids)} diff_ids"
            )
        jobs = [self._layer(name, ids[i], None, OCI_LAYER) for i, name in enumerate(layer_names)]

        def finish() -> Descriptor:
            outs = [job.result() for job in jobs]
            self._stage_bytes(config_data)
            body = canonical_json(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {
                        "mediaType": OCI_CONFIG,
                        "size": len(config_data),
                        "digest": str(config_digest),
                    },
                    "layers": [
                        {
                            "mediaType": o.descriptor.media_type,
                            "size": o.descriptor.size,
                            "digest": str(o.descriptor.digest),
                        }
                        for o in outs
                    ],
                }
            )
            self._stage_bytes(body)
            return Descriptor(OCI_MANIFEST, Digest.of(body), len(body))

        return finish

    def promote(self) -> None:
        """Move every staged blob into the store (already-present ones are skipped)."""
        for digest in list(self.staging.digests()):
            if not self.store.blobs.has(digest):
                self.store.blobs._install(self.staging.path(digest), digest)


def _name_error(label: str, text: str, exc: InvalidReferenceError) -> InvalidContentError:
    return InvalidContentError(
        f"{label}: the image name {text!r} in the archive is invalid: {exc.what}",
        why=exc.why,
        fix="recreate the archive with a valid name, or load it and name it with `hoist tag`",
    )


def _oci_names(label: str, annotations: dict[str, str]) -> list[Reference]:
    """Names an OCI layout entry carries (a bare tag like `1.0` is not a name)."""
    full = annotations.get(CONTAINERD_NAME)
    ref_name = annotations.get(ANNOTATION_REF_NAME, "")
    text = full or (ref_name if any(c in ref_name for c in "/:@") else None)
    if not text:
        return []
    try:
        return [Reference.parse(text)]
    except InvalidReferenceError as exc:
        raise _name_error(label, text, exc) from None


def _legacy_names(label: str, entry: Any) -> list[Reference]:
    tags = entry.get("RepoTags") if isinstance(entry, dict) else None
    out = []
    for text in tags or []:
        try:
            out.append(Reference.parse(str(text)))
        except InvalidReferenceError as exc:
            raise _name_error(label, str(text), exc) from None
    return out


def load(
    source: Path,
    store: ImageStore | None = None,
    *,
    warn: Callable[[str], None] | None = None,
) -> list[LoadedImage]:
    """Import every image in `source` into the store; all-or-nothing.

    Notes (a multi-platform index loaded without the platforms the archive lacks) go to `warn`,
    stderr by default, once the load succeeded; they are also on each `LoadedImage`.
    """
    store = store or ImageStore()
    with store.writing():
        scratch = store.blobs.scratch
        scratch.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="load-", dir=scratch))
        try:
            try:
                opened = OpenedFiles(source, scratch)
            except OSError as exc:
                raise InvalidContentError(
                    f"cannot read {source}: {exc.strerror or exc}",
                    fix="check the path and its permissions",
                ) from None
            with opened:
                loaded = _load(store, opened.files, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    say = warn or (lambda line: print(line, file=sys.stderr))
    for image in loaded:
        for note in image.notes:
            say(note)
    return loaded


def _load(store: ImageStore, files: FileSet, staging: Path) -> list[LoadedImage]:
    importer = Importer(store, files, staging)
    # (names, finish, the digest index.json names: a partial index is noted under it)
    plans: list[tuple[list[Reference], Callable[[], Descriptor], Digest | None]] = []
    try:
        if files.has("index.json"):
            for desc in read_index(files):
                names = _oci_names(files.label, dict(desc.annotations))
                plans.append((names, importer.oci_root(desc), desc.digest))
        elif files.has("manifest.json"):
            entries = _json(files, "manifest.json", _MAX_INDEX_BYTES)
            if not isinstance(entries, list):
                raise InvalidContentError(f"{files.label}: manifest.json is not a list")
            for i, entry in enumerate(entries):
                names = _legacy_names(files.label, entry)
                plans.append((names, importer.legacy_image(entry, i), None))
        else:
            raise InvalidContentError(
                f"{files.label} is neither a docker save tarball nor an OCI layout "
                "(no manifest.json or index.json)",
                fix="pass the output of docker save / podman save, or an OCI layout directory",
            )
        if not plans:
            raise InvalidContentError(f"{files.label} contains no images")
        roots = [(names, finish(), source) for names, finish, source in plans]
    except HoistError:
        raise
    except OSError as exc:  # disk full, permissions: the store's side, not the archive's
        raise StoreError(
            f"cannot load {files.label}: {exc.strerror or exc}",
            why=f"writing to the local store at {store.root} failed",
            fix="free disk space or fix permissions there (or set HOIST_HOME elsewhere)",
        ) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidContentError(
            f"{files.label}: cannot read the archive: {exc}", fix="recreate the archive"
        ) from None
    finally:
        importer.close()

    # Everything verified: move content in, remember diffIDs, then name (last).
    importer.promote()
    for diff_id, desc in importer.diff_ids.items():
        with contextlib.suppress(OSError):
            store.record_diff_id(diff_id, desc)
    merged: dict[Digest, LoadedImage] = {}
    pairs: list[tuple[Reference | None, Descriptor]] = []
    noted: set[Digest] = set()
    for names, desc, source in roots:
        image = merged.setdefault(desc.digest, LoadedImage(desc, store.image_id(desc)))
        for name in names:
            if name not in image.names:
                image.names.append(name)
            pairs.append((name, desc))
        if not names:
            pairs.append((None, desc))
        partial = importer.partial.get(source) if source is not None else None
        if source is not None and partial is not None and source not in noted:
            noted.add(source)
            image.notes.append(partial.note(names[0].familiar if names else str(source)))
    store.set_names(pairs)
    return list(merged.values())
