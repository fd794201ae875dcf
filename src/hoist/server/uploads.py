"""Blob upload sessions: staged apart, hashed while streaming, committed atomically.

A session is `uploads/<uuid>/info` (repository and start time) plus `uploads/<uuid>/data`.
Bytes are hashed as they are written, so committing needs no second read: verify size and
digest, fsync, one atomic move into `blobs/`, then the repository link. Until that move nothing
of the upload is visible anywhere, so a server killed at any instant exposes no partial blob.

The running hash lives in memory; a restarted server that meets an upload it does not know
rebuilds the hash by re-reading the staged bytes (resume), and uploads idle for longer than
the configured time to live are deleted (clean).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from hoist.oci import Digest
from hoist.server.errors import APIError
from hoist.server.storage import FileWriter, PathNotFoundError, StorageDriver
from hoist.server.store import RegistryStore, blob_path, hash_file

_UUID_RE: Final = re.compile(r"^[0-9a-f]{32}$")


def _session_dir(upload_id: str) -> str:
    return f"uploads/{upload_id}"


@dataclass
class UploadSession:
    """One upload in progress; `lock` serialises requests to the same session.

    The file is open only while a request writes to it (`release` closes it after each), so
    abandoned uploads cost no file descriptors, only their staged bytes until purged.
    """

    id: str
    repository: str
    started: float
    driver: StorageDriver
    hasher: hashlib._Hash
    size: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    touched: float = field(default_factory=time.time)
    _writer: FileWriter | None = None

    @property
    def data_path(self) -> str:
        return f"{_session_dir(self.id)}/data"

    def _open(self) -> FileWriter:
        if self._writer is None:
            self._writer = self.driver.writer(self.data_path, append=True)
        return self._writer

    def write(self, data: bytes) -> None:
        """Hash and append (sync: called inline for small pieces, in a thread for big ones)."""
        writer = self._open()
        self.hasher.update(data)
        writer.write(data)
        self.size += len(data)

    def rollback(self, size: int, hasher: hashlib._Hash) -> None:
        """Undo a partly written chunk: the session is left as it was before the request."""
        self._open().truncate(size)
        self.size = size
        self.hasher = hasher

    def sync(self) -> None:
        """Make the staged bytes durable (before they are moved into place)."""
        self._open().commit()

    def release(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class UploadManager:
    """Creates, finds, appends to, commits and cancels upload sessions."""

    def __init__(self, store: RegistryStore) -> None:
        self.store = store
        self.driver = store.driver
        self._sessions: dict[str, UploadSession] = {}

    # --- lifecycle -----------------------------------------------------------------------

    def create(self, repository: str) -> UploadSession:
        upload_id = uuid.uuid4().hex
        started = time.time()
        info = json.dumps({"repository": repository, "started": started}).encode()
        self.driver.put_content(f"{_session_dir(upload_id)}/info", info)
        self.driver.writer(f"{_session_dir(upload_id)}/data").close()
        session = UploadSession(upload_id, repository, started, self.driver, hashlib.sha256())
        self._sessions[upload_id] = session
        return session

    async def get(self, repository: str, upload_id: str) -> UploadSession:
        """The session, reloaded from storage (hash rebuilt) if this process does not know it."""
        unknown = APIError("BLOB_UPLOAD_UNKNOWN", detail={"uuid": upload_id[:64]})
        if not _UUID_RE.match(upload_id):
            raise unknown
        session = self._sessions.get(upload_id)
        if session is None:
            session = await asyncio.to_thread(self._load, upload_id)
            if session is None:
                raise unknown
            session = self._sessions.setdefault(upload_id, session)
        if session.repository != repository:
            raise unknown
        session.touched = time.time()
        return session

    def _load(self, upload_id: str) -> UploadSession | None:
        base = _session_dir(upload_id)
        try:
            info = json.loads(self.driver.get_content(f"{base}/info"))
            repository = str(info["repository"])
            started = float(info["started"])
        except (PathNotFoundError, ValueError, KeyError, TypeError):
            return None
        hasher = hashlib.sha256()
        try:
            size = hash_file(self.driver, f"{base}/data", hasher)
        except PathNotFoundError:
            return None
        return UploadSession(upload_id, repository, started, self.driver, hasher, size)

    def cancel(self, session: UploadSession) -> None:
        self._sessions.pop(session.id, None)
        session.release()
        with contextlib.suppress(PathNotFoundError):
            self.driver.delete(_session_dir(session.id))

    def discard(self, session: UploadSession) -> None:
        """Cancel the session unless it was already committed or cancelled."""
        if self._sessions.get(session.id) is session:
            self.cancel(session)

    # --- data ----------------------------------------------------------------------------

    def commit(self, session: UploadSession, digest: Digest) -> int:
        """Verify, make durable, move into place and link; returns the blob's size.

        Raises DIGEST_INVALID (and cancels the session, as distribution does) on mismatch.
        Synchronous: it fsyncs, so the HTTP layer runs it in a worker thread.
        """
        if digest.algorithm == "sha256":
            actual = f"sha256:{session.hasher.hexdigest()}"
        else:
            actual = self._rehash(session, digest)
        if actual != digest:
            self.cancel(session)
            raise APIError(
                "DIGEST_INVALID",
                f"uploaded content has digest {actual}, not {digest}",
                detail={"digest": str(digest)},
            )
        size = session.size
        session.sync()
        session.release()
        base = _session_dir(session.id)
        d = self.driver
        with d.lock(exclusive=False):
            target = blob_path(digest)
            if d.exists(target):
                d.touch(target)
            else:
                d.move(f"{base}/data", target)
            self.store.link_blob(session.repository, digest)
        self._sessions.pop(session.id, None)
        with contextlib.suppress(PathNotFoundError):
            d.delete(base)
        return size

    def _rehash(self, session: UploadSession, digest: Digest) -> str:
        session.sync()
        hasher = digest.hasher()
        hash_file(self.driver, session.data_path, hasher)
        return f"{digest.algorithm}:{hasher.hexdigest()}"

    # --- housekeeping --------------------------------------------------------------------

    def purge_stale(self, max_age: float, now: Callable[[], float] = time.time) -> list[str]:
        """Delete sessions idle for longer than `max_age` seconds; returns their ids."""
        purged: list[str] = []
        cutoff = now() - max_age
        for upload_id in self.driver.list("uploads"):
            live = self._sessions.get(upload_id)
            if live is not None:
                if live.touched < cutoff and not live.lock.locked():
                    self.cancel(live)
                    purged.append(upload_id)
                continue
            base = _session_dir(upload_id)
            last = 0.0  # a session directory with nothing in it is debris: remove it
            for part in self.driver.list(base):
                with contextlib.suppress(PathNotFoundError):
                    last = max(last, self.driver.stat(f"{base}/{part}").mtime)
            if last < cutoff:
                with contextlib.suppress(PathNotFoundError):
                    self.driver.delete(base)
                purged.append(upload_id)
        return purged
