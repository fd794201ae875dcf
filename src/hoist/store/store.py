"""The local image store: an OCI image layout at `$HOIST_HOME` that many processes share.

On disk (any OCI tool can read it, e.g. `skopeo inspect oci:$HOIST_HOME:docker.io/library/x:1`)::

    oci-layout                      {"imageLayoutVersion": "1.0.0"}
    index.json                      one entry per name: the root manifest or index descriptor,
                                    annotated org.opencontainers.image.ref.name = canonical name;
                                    entries without the annotation are unnamed images (<none>)
    blobs/sha256/<hex>              manifests, configs and layers, addressed by content
    store-meta/diffids/sha256/<hex> diffID -> the compressed blob made from it (no recompression)
    store-meta/tmp/                 blobs being written (renamed into blobs/ when verified)
    store-meta/*.lock               the locks described in `hoist.store.lock`

Rules that keep it consistent: blobs are written before any name refers to them; `index.json`
is replaced atomically under the index lock and only after every blob a name needs is present;
unnamed content is removed only under the exclusive content lock, which writers hold shared
while they stage blobs. The image ID is the config digest (docker's), or the index digest for a
multi-platform image.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from hoist.atomic import atomic_write_bytes
from hoist.errors import HoistError, InvalidReferenceError, NotFoundError, StoreError
from hoist.oci import (
    ANNOTATION_REF_NAME,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    Descriptor,
    Digest,
    Manifest,
)
from hoist.paths import hoist_home
from hoist.reference import Reference
from hoist.store.blobs import BlobStore
from hoist.store.lock import file_lock

LAYOUT_VERSION: Final = {"imageLayoutVersion": "1.0.0"}
META_DIR: Final = "store-meta"
MAX_CONFIG_BYTES: Final = 8 * 1024 * 1024
_ID_PREFIX_RE: Final = re.compile(r"^(?:sha256:)?([0-9a-f]{1,64})$")
_WAIT_MESSAGE: Final = "waiting for another hoist process that is writing to the local store..."


@dataclass(frozen=True)
class IndexEntry:
    """One line of the store's index: a name (or none) and the root it points to."""

    name: Reference | None
    descriptor: Descriptor

    def to_json(self) -> dict[str, Any]:
        plain = Descriptor(self.descriptor.media_type, self.descriptor.digest, self.descriptor.size)
        out = plain.to_json()
        if self.name is not None:
            out["annotations"] = {ANNOTATION_REF_NAME: str(self.name)}
        return out


@dataclass(frozen=True)
class StoredImage:
    """An image as `hoist images` shows it: its ID, root, names, creation time and size."""

    id: Digest
    descriptor: Descriptor
    names: tuple[Reference, ...]
    created: str | None
    size: int
    platforms: tuple[str, ...] = field(default=())


@dataclass
class Removal:
    """What `rmi` did, in docker's words."""

    untagged: list[str] = field(default_factory=list)
    deleted: list[Digest] = field(default_factory=list)


class ImageStore:
    """The store at `root` (default `$HOIST_HOME`)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else hoist_home()
        self.meta = self.root / META_DIR
        self.blobs = BlobStore(self.root / "blobs", self.meta / "tmp")
        self._index_path = self.root / "index.json"
        self._index_lock = self.meta / "index.lock"
        self._content_lock = self.meta / "content.lock"

    # --- layout ---------------------------------------------------------------------

    def _ensure_layout(self) -> None:
        layout = self.root / "oci-layout"
        if not layout.exists():
            try:
                atomic_write_bytes(layout, json.dumps(LAYOUT_VERSION).encode())
            except OSError as exc:
                raise StoreError(
                    f"cannot create the local image store at {self.root}: {exc.strerror}",
                    fix="set HOIST_HOME to a writable directory",
                ) from None
        if not self._index_path.exists():
            self._write_index([])

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the content lock shared while staging blobs, so GC leaves them alone."""
        self._ensure_layout()
        with file_lock(self._content_lock, shared=True, waiting=_WAIT_MESSAGE):
            yield

    # --- the index ------------------------------------------------------------------

    def entries(self) -> list[IndexEntry]:
        """The current index (read without a lock: it is always replaced whole)."""
        try:
            raw = self._index_path.read_bytes()
        except FileNotFoundError:
            return []
        try:
            obj = json.loads(raw)
            manifests = obj["manifests"] if isinstance(obj, dict) else None
            if not isinstance(manifests, list):
                raise ValueError("no 'manifests' list")
            out: list[IndexEntry] = []
            for item in manifests:
                desc = Descriptor.from_json(item)
                name_text = desc.annotations.get(ANNOTATION_REF_NAME)
                name = None
                if name_text:
                    with contextlib.suppress(InvalidReferenceError):
                        name = Reference.parse(name_text)
                out.append(IndexEntry(name, desc))
            return out
        except (ValueError, KeyError) as exc:
            raise StoreError(
                f"the local store's index {self._index_path} is damaged: {exc}",
                why="it was edited by hand or written by another tool",
                fix=f"restore it, or move {self.root} aside and load or pull the images again",
            ) from None

    def _write_index(self, entries: Iterable[IndexEntry]) -> None:
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [e.to_json() for e in entries],
        }
        atomic_write_bytes(self._index_path, (json.dumps(doc, indent=2) + "\n").encode())

    @contextlib.contextmanager
    def _locked_index(self) -> Iterator[list[IndexEntry]]:
        """Read-modify-write of the index: mutate the yielded list; it is written on exit."""
        self._ensure_layout()
        with file_lock(self._index_lock):
            entries = self.entries()
            before = list(entries)
            yield entries
            if entries != before:
                self._write_index(entries)

    # --- reading content --------------------------------------------------------------

    def manifest(self, digest: Digest) -> Manifest:
        return Manifest.parse(self.blobs.read_small(digest, MAX_MANIFEST_BYTES))

    def config_json(self, manifest: Manifest) -> dict[str, Any]:
        data = self.blobs.read_small(manifest.config.digest, MAX_CONFIG_BYTES)
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
        return obj if isinstance(obj, dict) else {}

    def image_id(self, desc: Descriptor) -> Digest:
        """docker's image ID: the config digest; for a multi-platform index, its own digest."""
        m = self.manifest(desc.digest)
        return m.digest if m.is_index else m.config.digest

    def missing_blobs(self, desc: Descriptor) -> list[Digest]:
        """Blobs `desc` needs that are not in the store (empty when it is complete)."""
        if not self.blobs.has(desc.digest):
            return [desc.digest]
        m = self.manifest(desc.digest)
        missing: list[Digest] = []
        for child in m.manifests:
            missing += self.missing_blobs(child)
        missing += [b.digest for b in m.blobs() if not self.blobs.has(b.digest)]
        return missing

    # --- names ----------------------------------------------------------------------

    def lookup(self, ref: Reference) -> IndexEntry | None:
        """The entry a name points to (`name@digest` matches by content, as docker does)."""
        entries = self.entries()
        text = str(ref)
        for e in entries:
            if e.name is not None and str(e.name) == text:
                return e
        if ref.digest is not None:
            for e in entries:
                if e.descriptor.digest == ref.digest and (
                    e.name is None or e.name.name == ref.name
                ):
                    return IndexEntry(ref, e.descriptor)
        return None

    def resolve(self, text: str) -> IndexEntry:
        """A name or an image ID (full, or a unique prefix as docker accepts) to its entry."""
        ref: Reference | None = None
        with contextlib.suppress(InvalidReferenceError):
            ref = Reference.parse(text)
        if ref is not None:
            found = self.lookup(ref)
            if found is not None:
                return found
        m = _ID_PREFIX_RE.match(text)
        if m is not None:
            prefix = m.group(1)
            matches: dict[Digest, IndexEntry] = {}
            for image in self.images():
                if image.id.hex.startswith(prefix):
                    matches.setdefault(
                        image.id,
                        IndexEntry(image.names[0] if image.names else None, image.descriptor),
                    )
            if len(matches) == 1:
                return next(iter(matches.values()))
            if len(matches) > 1:
                raise NotFoundError(
                    f"image ID prefix {prefix!r} is ambiguous: it matches "
                    + ", ".join(d.short for d in sorted(matches)),
                    fix="give more digits of the ID",
                )
        shown = ref.familiar if ref is not None else text
        raise NotFoundError(
            f"no such image in the local store: {shown}",
            why=f"the store at {self.root} has no image with that name or ID",
            fix="list local images with `hoist images`, or get it with `hoist pull` / `hoist load`",
        )

    def set_name(self, name: Reference | None, desc: Descriptor) -> None:
        """Point `name` at `desc` (a name moved off an image leaves it unnamed, as docker)."""
        self.set_names([(name, desc)])

    def set_names(self, pairs: list[tuple[Reference | None, Descriptor]]) -> None:
        """Name several roots in one index update, after checking all their content is here."""
        for desc in {d.digest: d for _name, d in pairs}.values():  # each root checked once
            missing = self.missing_blobs(desc)
            if missing:
                raise StoreError(
                    f"refusing to name {desc.digest}: {len(missing)} blob(s) missing, "
                    f"first {missing[0]}",
                    why="a name must never point at content the store does not have",
                )
        with self._locked_index() as entries:
            for name, desc in pairs:
                plain = Descriptor(desc.media_type, desc.digest, desc.size)
                if name is None:
                    if not any(e.descriptor.digest == plain.digest for e in entries):
                        entries.append(IndexEntry(None, plain))
                    continue
                text = str(name)
                old = next((e for e in entries if e.name and str(e.name) == text), None)
                if old is not None:
                    idx = entries.index(old)
                    entries[idx] = IndexEntry(name, plain)
                    still = any(e.descriptor.digest == old.descriptor.digest for e in entries)
                    if not still:
                        entries.append(IndexEntry(None, old.descriptor))
                else:
                    entries.append(IndexEntry(name, plain))
                # a named image no longer needs its unnamed entry
                entries[:] = [
                    e for e in entries if e.name is not None or e.descriptor.digest != plain.digest
                ]

    def remove(self, text: str, *, force: bool = False) -> Removal:
        """`rmi`: remove a name (or every name of an image ID with force) and unused content."""
        result = Removal()
        self._ensure_layout()
        with file_lock(self._content_lock, waiting=_WAIT_MESSAGE):
            target = self.resolve(text)
            by_name = target.name is not None and self._is_name_of(text, target)
            with self._locked_index() as entries:
                if by_name:
                    assert target.name is not None
                    doomed = [e for e in entries if e.name == target.name]
                    if not doomed:
                        # `name@digest` matched by content: the store names images by tag only.
                        raise StoreError(
                            f"{text} is not a name in the local store (it matches by digest)",
                            why="the store keeps names by tag; a digest reference only finds "
                            "the content",
                            fix="remove a tag with `hoist rmi NAME:TAG`, or every name of the "
                            "image with `hoist rmi --force IMAGE_ID`",
                        )
                else:
                    image_id = self.image_id(target.descriptor)
                    doomed = [e for e in entries if self._safe_id(e.descriptor) == image_id]
                    named = [e for e in doomed if e.name is not None]
                    if len(named) > 1 and not force:
                        raise StoreError(
                            f"unable to delete {image_id.short} (must be forced): the image has "
                            f"{len(named)} names",
                            fix="remove the names one by one, or pass --force to remove all",
                        )
                roots_before = {e.descriptor.digest: e.descriptor for e in entries}
                for e in doomed:
                    entries.remove(e)
                    if e.name is not None:
                        result.untagged.append(e.name.familiar)
                remaining = {e.descriptor.digest for e in entries}
                gone = [d for dg, d in roots_before.items() if dg not in remaining]
                for desc in gone:
                    result.deleted.append(self._safe_id(desc) or desc.digest)
            self._collect_garbage()
        return result

    def _is_name_of(self, text: str, target: IndexEntry) -> bool:
        with contextlib.suppress(InvalidReferenceError):
            ref = Reference.parse(text)
            return target.name is not None and ref.name == target.name.name
        return False

    def _safe_id(self, desc: Descriptor) -> Digest | None:
        try:
            return self.image_id(desc)
        except (OSError, ValueError, HoistError):
            return None  # damaged or missing manifest/config: it has no ID to show

    # --- garbage collection ------------------------------------------------------------

    def _reachable(self, entries: list[IndexEntry]) -> set[Digest]:
        seen: set[Digest] = set()
        stack = [e.descriptor for e in entries]
        while stack:
            desc = stack.pop()
            if desc.digest in seen:
                continue
            seen.add(desc.digest)
            try:
                m = self.manifest(desc.digest)
            except (OSError, ValueError, HoistError):  # unreadable: its blobs are unknown
                continue
            stack.extend(m.manifests)
            seen.update(b.digest for b in m.blobs())
            if m.subject is not None:
                seen.add(m.subject.digest)
        return seen

    def _collect_garbage(self) -> None:
        """Delete blobs no name reaches. Caller holds the exclusive content lock."""
        with file_lock(self._index_lock):
            keep = self._reachable(self.entries())
            for digest in list(self.blobs.digests()):
                if digest not in keep:
                    self.blobs.delete(digest)
            self._prune_diff_ids()
            # Staging left by a crashed process (live writers hold the content lock shared, so
            # none is running now; the age check is a second guard).
            cutoff = time.time() - 600
            if self.blobs.scratch.is_dir():
                for tmp in self.blobs.scratch.iterdir():
                    with contextlib.suppress(OSError):
                        if tmp.lstat().st_mtime >= cutoff:
                            continue
                        if tmp.is_dir() and not tmp.is_symlink():
                            shutil.rmtree(tmp, ignore_errors=True)
                        else:
                            tmp.unlink()

    # --- diffID -> compressed blob ------------------------------------------------------

    def _diff_id_path(self, diff_id: Digest) -> Path:
        return self.meta / "diffids" / diff_id.algorithm / diff_id.hex

    def record_diff_id(self, diff_id: Digest, compressed: Descriptor) -> None:
        """Remember which blob is `diff_id` compressed, so nothing is compressed twice."""
        path = self._diff_id_path(diff_id)
        doc = {
            "digest": str(compressed.digest),
            "size": compressed.size,
            "mediaType": compressed.media_type,
        }
        atomic_write_bytes(path, json.dumps(doc, sort_keys=True).encode(), durable=False)

    def compressed_for(self, diff_id: Digest) -> Descriptor | None:
        """The stored compressed blob for an uncompressed layer, if the store still has it."""
        try:
            doc = json.loads(self._diff_id_path(diff_id).read_bytes())
            desc = Descriptor(str(doc["mediaType"]), Digest(str(doc["digest"])), int(doc["size"]))
        except (OSError, ValueError, KeyError, TypeError, HoistError):
            return None  # missing or damaged record: recompress rather than trust it
        return desc if self.blobs.has(desc.digest) else None

    def _prune_diff_ids(self) -> None:
        base = self.meta / "diffids"
        if not base.is_dir():
            return
        for algo in base.iterdir():
            for f in algo.iterdir():
                with contextlib.suppress(Exception):
                    doc = json.loads(f.read_bytes())
                    if not self.blobs.has(Digest(str(doc["digest"]))):
                        f.unlink()

    # --- listing ----------------------------------------------------------------------

    def images(self) -> list[StoredImage]:
        """Every image, once, with all its names (newest first, then by name)."""
        grouped: dict[Digest, tuple[Descriptor, list[Reference]]] = {}
        for e in self.entries():
            slot = grouped.setdefault(e.descriptor.digest, (e.descriptor, []))
            if e.name is not None:
                slot[1].append(e.name)
        out: list[StoredImage] = []
        for desc, names in grouped.values():
            try:
                out.append(self._describe(desc, names))
            except (NotFoundError, StoreError, ValueError):
                continue
        out.sort(key=lambda i: (i.created or "", str(i.names[0]) if i.names else ""), reverse=True)
        return out

    def _describe(self, desc: Descriptor, names: list[Reference]) -> StoredImage:
        m = self.manifest(desc.digest)
        size = desc.size
        created: str | None = None
        platforms: list[str] = []
        images: list[Manifest] = [m] if not m.is_index else []
        if m.is_index:
            for entry in m.manifests:
                with contextlib.suppress(Exception):
                    images.append(self.manifest(entry.digest))
                    size += entry.size
                    if entry.platform is not None:
                        platforms.append(str(entry.platform))
        seen: set[Digest] = set()
        for image in images:
            if image.is_index:
                continue
            cfg = self.config_json(image)
            c = cfg.get("created")
            if isinstance(c, str) and (created is None or c > created):
                created = c
            for b in image.blobs():
                if b.digest not in seen:
                    seen.add(b.digest)
                    size += b.size
        image_id = m.digest if m.is_index else m.config.digest
        return StoredImage(
            image_id, desc, tuple(sorted(names, key=str)), created, size, tuple(platforms)
        )
