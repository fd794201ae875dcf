"""Content-addressed blobs: `blobs/sha256/<hex>`, written to a temp file then renamed.

A blob becomes visible only under the digest its bytes hash to, and only complete: it is
written to `store-meta/tmp/`, verified, fsynced, then renamed into place. Two processes writing
the same blob at once both rename identical bytes over the same name, which is harmless.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Final

from hoist.atomic import fsync_dir
from hoist.errors import DigestMismatchError, NotFoundError
from hoist.oci import Descriptor, Digest, iter_chunks

#: While a blob streams in, the kernel is asked to start writing back every this many bytes.
_WRITEBACK_EVERY: Final = 8 << 20


@functools.cache
def _writeback_starter() -> Callable[[int, int, int], None] | None:
    """Linux's sync_file_range(SYNC_FILE_RANGE_WRITE), which starts writeback without waiting
    (Python's os module lacks it); None elsewhere. Loaded on first use: ctypes is not free."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        func = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]

    def start(fd: int, offset: int, nbytes: int) -> None:
        func(fd, offset, nbytes, 2)  # SYNC_FILE_RANGE_WRITE

    return start


class PendingBlob:
    """A blob being produced (e.g. compressed) whose digest is known only at the end."""

    def __init__(self, blobs: BlobStore, fh: BinaryIO, tmp: Path) -> None:
        self._blobs = blobs
        self.fh = fh
        self._tmp = tmp
        self.committed: Digest | None = None

    def commit(self, digest: Digest) -> None:
        """Make the written bytes visible as `digest` (the producer computed it while writing)."""
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        self._blobs._install(self._tmp, digest)
        self.committed = digest


class BlobStore:
    """The `blobs/` directory of an OCI layout plus a scratch directory on the same disk."""

    def __init__(self, root: Path, scratch: Path) -> None:
        self.root = root
        self.scratch = scratch

    def path(self, digest: Digest) -> Path:
        return self.root / digest.algorithm / digest.hex

    def has(self, digest: Digest) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: Digest) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise self._missing(digest) from None

    def open(self, digest: Digest) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise self._missing(digest) from None

    def read_small(self, digest: Digest, limit: int) -> bytes:
        """Read a manifest or config whole (they are small) and verify its digest."""
        with self.open(digest) as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise DigestMismatchError(f"store blob {digest} is larger than {limit} bytes")
        if Digest.of(data, digest.algorithm) != digest:
            raise DigestMismatchError(
                f"store blob {digest} does not match its digest",
                why="the file under blobs/ was modified or damaged on disk",
                fix=f"remove the image and load or pull it again (the file is {self.path(digest)})",
            )
        return data

    def _missing(self, digest: Digest) -> NotFoundError:
        return NotFoundError(
            f"blob {digest} is missing from the local store",
            why="the store was modified outside hoist, or an earlier crash lost it",
            fix="load or pull the image again",
        )

    @contextlib.contextmanager
    def create(self) -> Iterator[PendingBlob]:
        """A temp file to write a new blob into; removed unless `commit` is called."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="blob-", suffix=".tmp", dir=self.scratch)
        tmp = Path(name)
        fh = os.fdopen(fd, "wb")
        pending = PendingBlob(self, fh, tmp)
        try:
            yield pending
        finally:
            if not fh.closed:
                fh.close()
            if pending.committed is None:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    def ingest(self, stream: BinaryIO, expected: Descriptor | None = None) -> tuple[Digest, int]:
        """Copy a stream into the store, verifying it against `expected` before it is visible.

        One pass writes and hashes. Writeback starts every 8 MiB as the data streams in, so the
        one fsync at commit finds little left to flush (on loopback that fsync was a third of
        a 4 x 64 MiB pull when it had to write the whole blob).
        """
        start_writeback = _writeback_starter()
        with self.create() as pending:
            hasher = expected.digest.hasher() if expected else hashlib.sha256()
            size = 0
            flushed = 0
            for chunk in iter_chunks(stream):
                hasher.update(chunk)
                pending.fh.write(chunk)
                size += len(chunk)
                if start_writeback is not None and size - flushed >= _WRITEBACK_EVERY:
                    pending.fh.flush()
                    start_writeback(pending.fh.fileno(), flushed, size - flushed)
                    flushed = size
            algorithm = expected.digest.algorithm if expected else "sha256"
            actual = Digest(f"{algorithm}:{hasher.hexdigest()}")
            if expected is not None:
                if size != expected.size:
                    raise DigestMismatchError(
                        f"blob {expected.digest} is {size} bytes, its descriptor says "
                        f"{expected.size}",
                        why="the content is truncated or the manifest is wrong",
                    )
                if actual != expected.digest:
                    raise DigestMismatchError(
                        f"blob content does not match its digest: expected {expected.digest}, "
                        f"got {actual}",
                        why="the data was corrupted, or the manifest names different content",
                    )
            pending.commit(actual)
        return actual, size

    def put_bytes(self, data: bytes) -> Digest:
        digest = Digest.of(data)
        if not self.has(digest):
            with self.create() as pending:
                pending.fh.write(data)
                pending.commit(digest)
        return digest

    def _install(self, tmp: Path, digest: Digest) -> None:
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(target)
        fsync_dir(target.parent)

    def digests(self) -> Iterator[Digest]:
        """Every blob on disk (for garbage collection)."""
        if not self.root.is_dir():
            return
        for algo_dir in self.root.iterdir():
            if not algo_dir.is_dir():
                continue
            for f in algo_dir.iterdir():
                with contextlib.suppress(Exception):
                    yield Digest(f"{algo_dir.name}:{f.name}")

    def delete(self, digest: Digest) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(digest).unlink()
