"""The two interfaces every end of a copy implements (the go-containerregistry idea).

A registry, an OCI layout, a `docker save` tarball, a Docker-compatible daemon and the local
store are all *sources* that answer "what does this name point to?" and "stream me blob X"; most
are also *destinations* that answer "do you have blob X?", "take blob X" and "take this manifest
under this tag". `hoist.copy` moves an image between any two of them, so push, pull and copy are
one function and a new transport is one new module.
"""

from __future__ import annotations

import enum
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable

from hoist.oci import Descriptor, Digest, Manifest


class BlobStatus(enum.Enum):
    """What a destination did with a blob, as docker reports it per layer."""

    PUSHED = "Pushed"
    EXISTS = "Layer already exists"
    MOUNTED = "Mounted"


@dataclass(frozen=True)
class BlobResult:
    """The outcome of `ImageDestination.put_blob`."""

    status: BlobStatus
    bytes_sent: int = 0
    mounted_from: str | None = None


@runtime_checkable
class ImageSource(Protocol):
    """Somewhere an image can be read from, opened on one name."""

    def describe(self) -> str:
        """A human label for messages, e.g. `oci:./out:1.0` or `registry.example.com/team/app:1`."""
        ...

    def root(self) -> Manifest:
        """The manifest or index the name points to."""
        ...

    def manifest(self, digest: Digest) -> Manifest:
        """A manifest referenced from the root index, by digest (verified)."""
        ...

    def open_blob(self, desc: Descriptor) -> AbstractContextManager[BinaryIO]:
        """Stream blob `desc`. Callers verify while reading (`hoist.oci.VerifyingReader`)."""
        ...

    def close(self) -> None:
        """Release connections and file handles."""
        ...


@runtime_checkable
class ImageDestination(Protocol):
    """Somewhere an image can be written to, opened on one name."""

    def describe(self) -> str: ...

    def has_blob(self, desc: Descriptor) -> bool:
        """True if the blob is already there (so it is skipped: `Layer already exists`)."""
        ...

    def put_blob(self, desc: Descriptor, stream: BinaryIO) -> BlobResult:
        """Store a blob from a stream; must verify size and digest before making it visible."""
        ...

    def put_manifest(self, manifest: Manifest, tag: str | None) -> None:
        """Store a manifest; `tag` names it when it is the root, None for an index's children."""
        ...

    def commit(self) -> None:
        """Make everything written visible (transports that write an archive finish it here)."""
        ...

    def close(self) -> None: ...
