"""OCI image layouts (a directory, or a tar of one) as a copy source and destination.

The layout is the format skopeo (`oci:DIR:TAG`), buildkit and crane write; Docker 25+ `docker
save` output is one too. An image in it is picked by the `org.opencontainers.image.ref.name`
annotation (a tag, by convention) or, for Docker's output, `io.containerd.image.name`.

Writing a directory layout: blobs go in as they arrive (temp file, verify, rename) and
`index.json` is replaced atomically in `commit`, replacing any entry with the same ref name; a
tar layout is staged next to the target and renamed into place whole.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Final

from hoist.atomic import atomic_write_bytes, atomic_writer
from hoist.errors import (
    DigestMismatchError,
    InvalidContentError,
    InvalidReferenceError,
    NotFoundError,
)
from hoist.oci import (
    ANNOTATION_REF_NAME,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    Descriptor,
    Digest,
    Manifest,
)
from hoist.reference import Reference
from hoist.store.blobs import BlobStore
from hoist.transports.base import BlobResult, BlobStatus
from hoist.transports.files import FileSet, OpenedFiles

CONTAINERD_NAME: Final = "io.containerd.image.name"
LAYOUT_FILE: Final = b'{"imageLayoutVersion":"1.0.0"}'
_MAX_INDEX: Final = 16 * 1024 * 1024


def blob_path(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex}"


def read_index(files: FileSet) -> list[Descriptor]:
    """The entries of a layout's `index.json`, or a clear error naming the file."""
    if not files.has("index.json"):
        raise InvalidContentError(
            f"{files.label} is not an OCI image layout (no index.json)",
            fix="pass a directory or tar written by skopeo copy oci:..., crane or docker save",
        )
    try:
        obj = json.loads(files.read_small("index.json", _MAX_INDEX))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidContentError(
            f"{files.label}: index.json is not valid JSON ({exc})",
            why="the archive is corrupt or was not written by an image tool",
            fix="recreate it with docker save, podman save or skopeo copy",
        ) from None
    raw = obj.get("manifests") if isinstance(obj, dict) else None
    if not isinstance(raw, list):
        raise InvalidContentError(
            f"{files.label}: index.json has no 'manifests' list",
            fix="recreate the layout with skopeo copy or docker save",
        )
    try:
        return [Descriptor.from_json(d) for d in raw]
    except InvalidContentError as exc:
        raise InvalidContentError(f"{files.label}: index.json: {exc.what}") from None


def _entry_matches(desc: Descriptor, wanted: str) -> bool:
    names = [desc.annotations.get(ANNOTATION_REF_NAME), desc.annotations.get(CONTAINERD_NAME)]
    if wanted in names:
        return True
    with contextlib.suppress(InvalidReferenceError):
        want = str(Reference.parse(wanted))
        for n in names:
            if n and any(c in n for c in "/:@"):
                with contextlib.suppress(InvalidReferenceError):
                    if str(Reference.parse(n)) == want:
                        return True
    return False


def select_entry(files: FileSet, entries: list[Descriptor], tag: str | None) -> Descriptor:
    """The index entry `tag` names; with no tag, the only entry there is."""
    if tag is None:
        if len(entries) == 1:
            return entries[0]
        shown = [d.annotations.get(ANNOTATION_REF_NAME) or str(d.digest) for d in entries]
        example = shown[0] if shown else "latest"
        raise NotFoundError(
            f"{files.label} holds {len(entries)} images; say which one",
            why="available: " + ", ".join(shown) if shown else "the layout's index is empty",
            fix=f"append :TAG to the layout path, e.g. oci:{files.label}:{example}",
        )
    for desc in entries:
        if _entry_matches(desc, tag):
            return desc
    raise NotFoundError(
        f"{files.label} has no image named {tag!r}",
        fix="list its names with: jq '.manifests[].annotations' index.json",
    )


class FilesSource:
    """A copy source over the blobs of a layout-shaped file set."""

    def __init__(self, files: FileSet, root: Descriptor, label: str) -> None:
        self.files = files
        self._root_desc = root
        self._label = label

    def describe(self) -> str:
        return self._label

    def _read(self, desc_digest: Digest, size: int | None = None) -> bytes:
        data = self.files.read_small(blob_path(desc_digest), MAX_MANIFEST_BYTES)
        if Digest.of(data, desc_digest.algorithm) != desc_digest or (
            size is not None and len(data) != size
        ):
            raise DigestMismatchError(
                f"{self.files.label}: {blob_path(desc_digest)} does not match its digest",
                fix="recreate the layout",
            )
        return data

    def root(self) -> Manifest:
        data = self._read(self._root_desc.digest, self._root_desc.size)
        return Manifest.parse(data, self._root_desc.media_type or None)

    def manifest(self, digest: Digest) -> Manifest:
        return Manifest.parse(self._read(digest))

    @contextlib.contextmanager
    def open_blob(self, desc: Descriptor) -> Iterator[BinaryIO]:
        with self.files.open(blob_path(desc.digest)) as fh:
            yield fh

    def close(self) -> None:
        return None


class LayoutSource(FilesSource):
    """An image in an OCI layout directory or tar, picked by `tag` (or the only one)."""

    def __init__(self, path: Path, tag: str | None = None) -> None:
        self._opened = OpenedFiles(path)
        try:
            files = self._opened.files
            root = select_entry(files, read_index(files), tag)
        except BaseException:
            self._opened.close()
            raise
        super().__init__(files, root, f"oci:{path}" + (f":{tag}" if tag else ""))

    def close(self) -> None:
        self._opened.close()


def staging_dir(target: Path) -> Path:
    """A fresh hidden directory beside `target`, to build it in before it is renamed whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))


class BlobsDestination:
    """The part of a destination that writes blobs into a `BlobStore`, verified as they arrive,
    and remembers which manifest is the root: the tagged one, else the last written."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self._root: Manifest | None = None
        self._last: Manifest | None = None

    def has_blob(self, desc: Descriptor) -> bool:
        return self.blobs.has(desc.digest)

    def put_blob(self, desc: Descriptor, stream: BinaryIO) -> BlobResult:
        if self.blobs.has(desc.digest):
            return BlobResult(BlobStatus.EXISTS)
        _d, size = self.blobs.ingest(stream, desc)
        return BlobResult(BlobStatus.PUSHED, bytes_sent=size)

    def _note_manifest(self, manifest: Manifest, tag: str | None) -> None:
        self._last = manifest
        if tag is not None:
            self._root = manifest

    @property
    def _root_manifest(self) -> Manifest | None:
        return self._root or self._last


class LayoutDestination(BlobsDestination):
    """Writes an image into an OCI layout directory, or a `.tar` of one, under `tag`."""

    def __init__(self, path: Path, tag: str | None) -> None:
        self.path = path
        self.tag = tag
        self.as_tar = path.suffix == ".tar" or path.is_file()
        if self.as_tar:
            self._dir = staging_dir(path)
            if path.is_file():  # keep what an existing layout tar holds
                with tarfile.open(path, "r:") as tf:
                    tf.extractall(self._dir, filter="data")
        else:
            self._dir = path
            path.mkdir(parents=True, exist_ok=True)
        super().__init__(BlobStore(self._dir / "blobs", self._dir))

    def describe(self) -> str:
        return f"oci:{self.path}" + (f":{self.tag}" if self.tag else "")

    def put_manifest(self, manifest: Manifest, tag: str | None) -> None:
        self.blobs.put_bytes(manifest.data)
        self._note_manifest(manifest, tag)
        if tag is not None:
            self.tag = tag

    def _index_entries(self) -> list[dict[str, Any]]:
        index = self._dir / "index.json"
        if not index.is_file():
            return []
        try:
            obj = json.loads(index.read_bytes())
            entries = obj.get("manifests")
        except (ValueError, AttributeError):
            raise InvalidContentError(
                f"{index} is not valid JSON; refusing to overwrite it",
                fix="move the directory aside or write to a new one",
            ) from None
        return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []

    def commit(self) -> None:
        root = self._root_manifest
        if root is None:
            return
        entries = self._index_entries()
        entry: dict[str, Any] = root.descriptor().to_json()
        if self.tag:
            entry["annotations"] = {ANNOTATION_REF_NAME: self.tag}
            entries = [
                e
                for e in entries
                if (e.get("annotations") or {}).get(ANNOTATION_REF_NAME) != self.tag
            ]
        elif any(e.get("digest") == str(root.digest) for e in entries):
            entry = {}
        if entry:
            entries.append(entry)
        layout = self._dir / "oci-layout"
        if not layout.exists():
            atomic_write_bytes(layout, LAYOUT_FILE)
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        atomic_write_bytes(self._dir / "index.json", json.dumps(doc).encode())
        if self.as_tar:
            self._write_tar()

    def _write_tar(self) -> None:
        with (
            atomic_writer(self.path) as out,
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        ):
            for name in ("oci-layout", "index.json"):
                add_file(tar, name, self._dir / name)
            blobs = self._dir / "blobs"
            for algo in sorted(p for p in blobs.iterdir() if p.is_dir()):
                for f in sorted(algo.iterdir()):
                    add_file(tar, f"blobs/{algo.name}/{f.name}", f)

    def close(self) -> None:
        if self.as_tar:
            shutil.rmtree(self._dir, ignore_errors=True)


def add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    """Add a file with fixed metadata, so the same content gives the same archive."""
    info = tarfile.TarInfo(name)
    info.size = path.stat().st_size
    info.mode = 0o644
    info.mtime = 0
    with path.open("rb") as fh:
        tar.addfile(info, fh)
