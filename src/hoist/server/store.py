"""The registry's content model, written once on top of any `StorageDriver`.

Layout (inspired by distribution's, simplified):

    blobs/<alg>/<hh>/<hex>/data                              content, addressed by digest, shared
    repositories/<name>/_layers/<alg>/<hex>/link             blob pushed or mounted into <name>
    repositories/<name>/_manifests/revisions/<alg>/<hex>/link  manifest in <name> ("digest\\ntype")
    repositories/<name>/_manifests/tags/<tag>/current/link   tag -> manifest digest
    repositories/<name>/_referrers/<alg>/<subject-hex>/<alg>-<hex>  referrer descriptor (JSON)
    uploads/<uuid>/{info,data}                               upload sessions, staged apart

A blob is visible in a repository only through that repository's link, so one repository
never learns of another's content. Links are written after the content they point to, each
atomically, so a crash leaves content invisible, never a link to something partial.

All methods are synchronous and cheap except where noted; the HTTP layer runs the ones that
fsync in a worker thread. Manifests are immutable by digest, so their bytes are cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hoist.errors import InvalidContentError
from hoist.oci import Descriptor, Digest, Manifest, iter_chunks
from hoist.server.storage import PathNotFoundError, StorageDriver


@dataclass(frozen=True)
class StoredManifest:
    """A manifest's exact bytes and media type, as served on GET."""

    data: bytes
    media_type: str
    digest: Digest


def blob_path(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}/data"


def _repo(name: str) -> str:
    return f"repositories/{name}"


def layer_link(name: str, digest: Digest) -> str:
    return f"{_repo(name)}/_layers/{digest.algorithm}/{digest.hex}/link"


def revision_link(name: str, digest: Digest) -> str:
    return f"{_repo(name)}/_manifests/revisions/{digest.algorithm}/{digest.hex}/link"


def tags_dir(name: str) -> str:
    return f"{_repo(name)}/_manifests/tags"


def tag_link(name: str, tag: str) -> str:
    return f"{tags_dir(name)}/{tag}/current/link"


def _referrers_dir(name: str, subject: Digest) -> str:
    return f"{_repo(name)}/_referrers/{subject.algorithm}/{subject.hex}"


def hash_file(driver: StorageDriver, path: str, hasher: hashlib._Hash) -> int:
    """Feed the file at `path` through `hasher`, streaming; returns its size in bytes."""
    size = 0
    with driver.reader(path) as fh:
        for chunk in iter_chunks(fh):
            hasher.update(chunk)
            size += len(chunk)
    return size


def _parse_digest(text: str) -> Digest | None:
    try:
        return Digest(text)
    except InvalidContentError:
        return None


class _ManifestCache:
    """An LRU of manifest bytes by digest, bounded in bytes (content never changes)."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._items: OrderedDict[str, StoredManifest] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, digest: str) -> StoredManifest | None:
        with self._lock:
            item = self._items.get(digest)
            if item is not None:
                self._items.move_to_end(digest)
            return item

    def put(self, item: StoredManifest) -> None:
        if len(item.data) > self._max:
            return
        with self._lock:
            if item.digest in self._items:
                return
            self._items[item.digest] = item
            self._bytes += len(item.data)
            while self._bytes > self._max:
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old.data)


class RegistryStore:
    """Blobs, links, manifests, tags and referrers of every repository."""

    def __init__(self, driver: StorageDriver, *, manifest_cache_bytes: int = 64 << 20) -> None:
        self.driver = driver
        self._manifests = _ManifestCache(manifest_cache_bytes)

    # --- blobs ---------------------------------------------------------------------------

    def blob_size(self, digest: Digest) -> int | None:
        """The size of a blob in global storage, or None (whatever the repository)."""
        try:
            return self.driver.stat(blob_path(digest)).size
        except PathNotFoundError:
            return None

    def blob_linked(self, name: str, digest: Digest) -> bool:
        d = self.driver
        return d.exists(layer_link(name, digest)) or d.exists(revision_link(name, digest))

    def repo_blob_size(self, name: str, digest: Digest) -> int | None:
        """The blob's size if it is visible in repository `name`, else None."""
        if not self.blob_linked(name, digest):
            return None
        return self.blob_size(digest)

    def link_blob(self, name: str, digest: Digest) -> None:
        self.driver.put_content(layer_link(name, digest), digest.encode())

    def unlink_blob(self, name: str, digest: Digest) -> bool:
        try:
            self.driver.delete(layer_link(name, digest).rsplit("/", 1)[0])
        except PathNotFoundError:
            return False
        return True

    def mount_blob(self, source: str, name: str, digest: Digest) -> bool:
        """Link a blob of `source` into `name`; False if `source` does not have it."""
        with self.driver.lock(exclusive=False):
            if self.repo_blob_size(source, digest) is None:
                return False
            self.driver.touch(blob_path(digest))
            self.link_blob(name, digest)
        return True

    # --- manifests -----------------------------------------------------------------------

    def get_manifest(self, name: str, digest: Digest) -> StoredManifest | None:
        """The manifest if it is in repository `name` (cached by digest after first read)."""
        cached = self._manifests.get(digest)
        if cached is not None:
            # Content is immutable; only its presence in this repository needs checking.
            return cached if self.driver.exists(revision_link(name, digest)) else None
        try:
            link = self.driver.get_content(revision_link(name, digest))
        except PathNotFoundError:
            return None
        try:
            data = self.driver.get_content(blob_path(digest))
        except PathNotFoundError:
            return None
        parts = link.decode(errors="replace").split("\n")
        media_type = parts[1] if len(parts) > 1 and parts[1] else ""
        if not media_type:
            media_type = Manifest.parse(data).media_type
        item = StoredManifest(data, media_type, digest)
        self._manifests.put(item)
        return item

    def resolve_tag(self, name: str, tag: str) -> Digest | None:
        try:
            text = self.driver.get_content(tag_link(name, tag)).decode(errors="replace")
        except PathNotFoundError:
            return None
        return _parse_digest(text.strip())

    def missing_references(self, name: str, manifest: Manifest) -> list[Descriptor]:
        """Descriptors the manifest needs that repository `name` lacks (or has at another size).

        Image manifests need their config and layers as blobs of the repository (foreign layers
        with `urls` excepted, as distribution does); indexes need their child manifests.
        """
        missing: list[Descriptor] = []
        if manifest.is_index:
            for child in manifest.manifests:
                if not self.driver.exists(revision_link(name, child.digest)):
                    missing.append(child)
            return missing
        for blob in manifest.blobs():
            if blob.urls:
                continue
            size = self.repo_blob_size(name, blob.digest)
            if size is None or size != blob.size:
                missing.append(blob)
        return missing

    def put_manifest(self, name: str, manifest: Manifest, tag: str | None) -> list[Descriptor]:
        """Store content, then the revision link, referrer entry and tag (each atomic).

        Returns the references the repository lacks, in which case nothing is stored. The
        check and the writes run under the shared storage lock, and the links relied on are
        refreshed, so `hoist registry gc` can delete them neither in between nor shortly after.
        """
        d = self.driver
        with d.lock(exclusive=False):
            missing = self.missing_references(name, manifest)
            if missing:
                return missing
            for blob in manifest.blobs():
                if not blob.urls and d.exists(layer_link(name, blob.digest)):
                    d.touch(layer_link(name, blob.digest))
            path = blob_path(manifest.digest)
            if d.exists(path):
                d.touch(path)
            else:
                d.put_content(path, manifest.data)
            link = f"{manifest.digest}\n{manifest.media_type}\n"
            d.put_content(revision_link(name, manifest.digest), link.encode())
            subject = manifest.subject
            if subject is not None:
                desc = self._referrer_descriptor(manifest)
                entry = f"{_referrers_dir(name, subject.digest)}/{manifest.digest.algorithm}-"
                d.put_content(entry + manifest.digest.hex, json.dumps(desc).encode())
            if tag is not None:
                d.put_content(tag_link(name, tag), manifest.digest.encode())
        self._manifests.put(StoredManifest(manifest.data, manifest.media_type, manifest.digest))
        return []

    @staticmethod
    def _referrer_descriptor(manifest: Manifest) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "mediaType": manifest.media_type,
            "digest": str(manifest.digest),
            "size": len(manifest.data),
        }
        artifact_type = manifest.artifact_type
        if artifact_type:
            desc["artifactType"] = artifact_type
        annotations = manifest.json.get("annotations")
        if isinstance(annotations, dict) and annotations:
            desc["annotations"] = annotations
        return desc

    def delete_manifest(self, name: str, digest: Digest) -> bool:
        """Remove a manifest from `name`, with every tag that points to it and its referrer
        entry. The content stays in global storage until garbage collection."""
        item = self.get_manifest(name, digest)
        if item is None:
            return False
        for tag, tagged in self.tag_digests(name).items():
            if tagged == digest:
                self.delete_tag(name, tag)
        try:
            subject = Manifest.parse(item.data, item.media_type).subject
        except InvalidContentError:
            subject = None
        if subject is not None:
            entry = f"{_referrers_dir(name, subject.digest)}/{digest.algorithm}-{digest.hex}"
            with contextlib.suppress(PathNotFoundError):
                self.driver.delete(entry)
        try:
            self.driver.delete(revision_link(name, digest).rsplit("/", 1)[0])
        except PathNotFoundError:
            return False
        return True

    def delete_tag(self, name: str, tag: str) -> bool:
        try:
            self.driver.delete(f"{tags_dir(name)}/{tag}")
        except PathNotFoundError:
            return False
        return True

    def referrers(self, name: str, subject: Digest) -> list[dict[str, Any]]:
        """Descriptors of the manifests in `name` whose subject is `subject`, sorted by digest."""
        base = _referrers_dir(name, subject)
        out: list[dict[str, Any]] = []
        for entry in self.driver.list(base):
            try:
                desc = json.loads(self.driver.get_content(f"{base}/{entry}"))
            except (PathNotFoundError, ValueError):
                continue
            if isinstance(desc, dict):
                out.append(desc)
        out.sort(key=lambda d: str(d.get("digest", "")))
        return out

    # --- repositories and tags -----------------------------------------------------------

    def repo_exists(self, name: str) -> bool:
        base = _repo(name)
        return self.driver.exists(f"{base}/_manifests") or self.driver.exists(f"{base}/_layers")

    def tags(self, name: str) -> list[str] | None:
        """The repository's tags, sorted; None if the repository does not exist."""
        if not self.repo_exists(name):
            return None
        return sorted(self.tag_digests(name))

    def tag_digests(self, name: str) -> dict[str, Digest]:
        """Each tag of `name` with a valid link, and the manifest digest it points to."""
        out: dict[str, Digest] = {}
        for tag in self.driver.list(tags_dir(name)):
            digest = self.resolve_tag(name, tag)
            if digest is not None:
                out[tag] = digest
        return out

    def repositories(self) -> list[str]:
        """Every repository name, sorted (a walk of `repositories/`)."""
        found: list[str] = []

        def walk(prefix: str) -> Iterator[str]:
            children = self.driver.list(f"repositories/{prefix}".rstrip("/"))
            if "_manifests" in children or "_layers" in children:
                yield prefix.rstrip("/")
            for child in children:
                if not child.startswith("_"):
                    yield from walk(f"{prefix}{child}/")

        found.extend(walk(""))
        return sorted(r for r in found if r)

    def _linked_digests(self, base: str) -> list[Digest]:
        """The digests named by `base/<alg>/<hex>` directories (unparsable names skipped)."""
        out: list[Digest] = []
        for alg in self.driver.list(base):
            for hexpart in self.driver.list(f"{base}/{alg}"):
                digest = _parse_digest(f"{alg}:{hexpart}")
                if digest is not None:
                    out.append(digest)
        return out

    def manifest_revisions(self, name: str) -> list[Digest]:
        """Every manifest digest linked in `name` (for gc and check)."""
        return self._linked_digests(f"{_repo(name)}/_manifests/revisions")

    def layer_links(self, name: str) -> list[Digest]:
        """Every blob digest linked in `name` (for gc and check)."""
        return self._linked_digests(f"{_repo(name)}/_layers")

    def all_blobs(self) -> list[Digest]:
        out: list[Digest] = []
        for alg in self.driver.list("blobs"):
            for prefix in self.driver.list(f"blobs/{alg}"):
                for hexpart in self.driver.list(f"blobs/{alg}/{prefix}"):
                    digest = _parse_digest(f"{alg}:{hexpart}")
                    if digest is not None:
                        out.append(digest)
        return out
