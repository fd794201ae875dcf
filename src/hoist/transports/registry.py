"""A registry repository as an image source and destination (the distribution API).

`RegistrySource` reads manifests and streams blobs (resuming a broken download with a `Range`
request); `RegistryDestination` checks blobs with HEAD, mounts them from other repositories of
the same registry when it knows one holds them, and uploads the rest through
`hoist.registry.uploads`. Both remember where blobs were seen (`hoist.registry.metadata`) so
the next push can mount instead of upload.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import BinaryIO, cast

import httpx

from hoist.errors import HoistError
from hoist.oci import Descriptor, Digest, Manifest
from hoist.reference import Reference
from hoist.registry.challenge import repository_scope
from hoist.registry.client import RegistryClient, explain_network
from hoist.registry.metadata import BlobLocations
from hoist.registry.uploads import DEFAULT_CHUNK, Session, start_upload, upload_blob
from hoist.transports.base import BlobResult, BlobStatus

_READ_CHUNK = 1 << 20


class _RegistryEnd:
    """What both ends share: the client, the repository, and where blobs were seen."""

    def __init__(
        self, client: RegistryClient, ref: Reference, locations: BlobLocations | None, owns: bool
    ) -> None:
        self.client = client
        self.ref = ref
        self.repository = ref.repository
        self.locations = locations
        self._owns = owns

    def describe(self) -> str:
        return str(self.ref)

    def _remember(self, desc: Descriptor) -> None:
        if self.locations is not None:
            self.locations.record(self.client.registry, desc.digest, self.repository)


class RegistrySource(_RegistryEnd):
    """An image in a registry repository, by tag or digest."""

    def __init__(
        self,
        client: RegistryClient,
        ref: Reference,
        *,
        locations: BlobLocations | None = None,
        owns_client: bool = True,
    ) -> None:
        super().__init__(client, ref, locations, owns_client)
        self._root: Manifest | None = None

    def root(self) -> Manifest:
        if self._root is None:
            self._root = self.client.get_manifest(self.repository, self.ref.identifier)
        return self._root

    def manifest(self, digest: Digest) -> Manifest:
        return self.client.get_manifest(self.repository, str(digest))

    @contextlib.contextmanager
    def open_blob(self, desc: Descriptor) -> Iterator[BinaryIO]:
        reader = _BlobReader(self.client, self.repository, desc)
        try:
            yield cast(BinaryIO, reader)
        finally:
            reader.close()
        self._remember(desc)

    def close(self) -> None:
        if self.locations is not None:
            self.locations.save()
        if self._owns:
            self.client.close()


class _BlobReader:
    """A file-like view of a streamed blob GET that resumes with `Range` when the link drops."""

    def __init__(self, client: RegistryClient, repository: str, desc: Descriptor) -> None:
        self.client = client
        self.repository = repository
        self.desc = desc
        self.offset = 0
        self._pending = b""
        self._failures = 0
        self._resp: httpx.Response | None = None
        self._it: Iterator[bytes] | None = None
        self._open()

    def _open(self) -> None:
        resp = self.client.get_blob(self.repository, self.desc.digest, start=self.offset)
        skip = self.offset if (self.offset and resp.status_code == 200) else 0
        self._resp = resp
        self._it = resp.iter_raw()
        while skip > 0:  # the server ignored Range: drop what was already read
            chunk = next(self._it, b"")
            if not chunk:
                break
            if len(chunk) > skip:
                self._pending = chunk[skip:]
                skip = 0
            else:
                skip -= len(chunk)

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes (fewer only at the end), gathered from the network's own pieces.

        The response is iterated as it arrives (`iter_raw()` without a chunk size: httpx's
        re-chunking copies every byte three more times) and pieces are joined once here.
        """
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(_READ_CHUNK), b""))
        parts: list[bytes] = []
        got = 0
        while got < n:
            if not self._pending:
                assert self._it is not None
                try:
                    chunk = next(self._it, b"")
                except httpx.TransportError as exc:
                    self._resume(exc)
                    continue
                if not chunk:
                    if self.offset < self.desc.size:
                        self._resume(None)
                        continue
                    break
                self._pending = chunk
            take = n - got
            if len(self._pending) <= take:
                piece, self._pending = self._pending, b""
            else:
                piece, self._pending = self._pending[:take], self._pending[take:]
            parts.append(piece)
            got += len(piece)
            self.offset += len(piece)  # what a resume asks the server for starts here
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _resume(self, exc: BaseException | None) -> None:
        self._failures += 1
        self.close()
        if self._failures >= self.client.retry.attempts:
            if exc is not None:
                raise explain_network(self.client.registry, exc)
            raise HoistError(
                f"{self.client.registry} kept ending the download of {self.desc.digest.short} "
                f"early ({self.offset} of {self.desc.size} bytes)",
                why="the connection closed before the whole blob arrived, on every attempt",
                fix="retry later; if a proxy is in between, try without it",
            )
        self.client._sleep(
            "download",
            self._failures,
            self.client.retry.backoff(self._failures),
            exc or "short read",
        )
        self._open()

    def close(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None


class RegistryDestination(_RegistryEnd):
    """A registry repository to push into, under a tag (or only by digest)."""

    def __init__(
        self,
        client: RegistryClient,
        ref: Reference,
        *,
        locations: BlobLocations | None = None,
        chunk_size: int = DEFAULT_CHUNK,
        owns_client: bool = True,
    ) -> None:
        super().__init__(client, ref, locations, owns_client)
        self.chunk_size = chunk_size
        self.scopes = (repository_scope(self.repository, ["pull", "push"]),)
        self._sessions: dict[str, Session] = {}
        self.pushed_digest: str | None = None

    def has_blob(self, desc: Descriptor) -> bool:
        found = self.client.blob_exists(self.repository, desc.digest, self.scopes) is not None
        if found:
            self._remember(desc)
        return found

    def mount_candidates(self, desc: Descriptor, source: object) -> list[str]:
        """Repositories on this registry that hold the blob: the source's, then remembered."""
        out: list[str] = []
        if isinstance(source, RegistrySource) and source.client.registry == self.client.registry:
            out.append(source.repository)
        if self.locations is not None:
            out += self.locations.repositories(self.client.registry, desc.digest)
        unique: list[str] = []
        for repo in out:
            if repo != self.repository and repo not in unique:
                unique.append(repo)
        return unique

    def try_mount(self, desc: Descriptor, source: object) -> BlobResult | None:
        """Ask the registry to link the blob from another repository (no bytes sent)."""
        for repo in self.mount_candidates(desc, source)[:3]:
            scopes = (*self.scopes, repository_scope(repo, ["pull"]))
            try:
                session = start_upload(
                    self.client, self.repository, scopes, mount=(desc.digest, repo)
                )
            except HoistError:
                continue  # not allowed to read that repository: just upload
            if session is None:
                self._remember(desc)
                return BlobResult(BlobStatus.MOUNTED, 0, mounted_from=repo)
            self._sessions[desc.digest] = session  # reuse the session the failed mount opened
            break
        return None

    def put_blob(self, desc: Descriptor, stream: BinaryIO) -> BlobResult:
        session = self._sessions.pop(desc.digest, None)
        sent = upload_blob(
            self.client,
            self.repository,
            desc,
            stream,
            self.scopes,
            session=session,
            chunk_size=self.chunk_size,
        )
        self._remember(desc)
        return BlobResult(BlobStatus.PUSHED, sent)

    def put_manifest(self, manifest: Manifest, tag: str | None) -> None:
        identifier = tag or str(manifest.digest)
        reported = self.client.put_manifest(self.repository, identifier, manifest, self.scopes)
        if reported and reported != manifest.digest:
            raise HoistError(
                f"{self.client.registry} stored the manifest of {self.ref} under another digest",
                why=f"hoist sent {manifest.digest}, the registry reports {reported}: it "
                "rewrote the manifest (older registries convert OCI manifests)",
                fix="pull by the reported digest, or use a registry that keeps manifests as sent",
            )
        if tag is not None or self.pushed_digest is None:
            self.pushed_digest = manifest.digest

    def commit(self) -> None:
        if self.locations is not None:
            self.locations.save()

    def close(self) -> None:
        if self._owns:
            self.client.close()
