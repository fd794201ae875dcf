"""The local image store as a copy end: `push` reads from it, `pull` writes into it.

`StoreSource` serves an image already in the store; `StoreDestination` stages blobs and
manifests into the store and names the root only in `commit`, after everything it needs is
present, so an interrupted pull never leaves a name pointing at missing content. While a
destination is open it holds the store's content lock shared, so a concurrent `rmi` cannot
collect the blobs it has written but not yet named.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import replace
from typing import BinaryIO

from hoist.errors import DigestMismatchError
from hoist.oci import Descriptor, Digest, Manifest
from hoist.reference import Reference
from hoist.store import ImageStore, IndexEntry
from hoist.transports.layout import BlobsDestination


class StoreSource:
    """An image in the local store, found by name or image ID."""

    def __init__(self, store: ImageStore, ref: Reference | str) -> None:
        self.store = store
        self.entry: IndexEntry = store.resolve(str(ref))
        self._label = self.entry.name.familiar if self.entry.name else str(ref)

    @property
    def reference(self) -> Reference | None:
        """The name the image was found under (None when opened by an unnamed image's ID)."""
        return self.entry.name

    def describe(self) -> str:
        return self._label

    def root(self) -> Manifest:
        return self.store.manifest(self.entry.descriptor.digest)

    def manifest(self, digest: Digest) -> Manifest:
        return self.store.manifest(digest)

    @contextlib.contextmanager
    def open_blob(self, desc: Descriptor) -> Iterator[BinaryIO]:
        with self.store.blobs.open(desc.digest) as fh:
            yield fh

    def close(self) -> None:
        return None


def open_store_source(ref_or_id: str) -> StoreSource:
    """Open an image of the default store (`$HOIST_HOME`) by name or (short) image ID."""
    return StoreSource(ImageStore(), ref_or_id)


class StoreDestination(BlobsDestination):
    """Writes an image into the local store under `ref` (named on `commit`)."""

    def __init__(self, store: ImageStore, ref: Reference | None) -> None:
        super().__init__(store.blobs)
        self.store = store
        self.ref = ref
        self._name: Reference | None = None
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(store.writing())

    def describe(self) -> str:
        return f"local store ({self.ref.familiar if self.ref else 'unnamed'})"

    def put_manifest(self, manifest: Manifest, tag: str | None) -> None:
        digest, _size = self.store.blobs.ingest(io.BytesIO(manifest.data))
        if digest != manifest.digest:  # Manifest.parse computed it from the same bytes
            raise DigestMismatchError(f"manifest {manifest.digest} changed while being stored")
        self._note_manifest(manifest, tag)
        if tag is not None and self.ref is not None:
            self._name = replace(self.ref, tag=tag, digest=None)

    def commit(self) -> None:
        root = self._root_manifest
        if root is None:
            return
        name = self._name or self.ref
        if name is not None and name.tag is None and name.digest is None:
            name = None
        self.store.set_names([(name, root.descriptor())])

    def close(self) -> None:
        self._stack.close()
