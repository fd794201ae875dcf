"""The storage driver interface: the few primitives every backend must offer.

Borrowed in spirit from distribution's `storagedriver.StorageDriver`: small content in and
out, a reader at an offset, a resumable writer, stat, list, move and delete. Everything the
registry knows about blobs, links, tags and uploads (`hoist.server.store`) is written once on
top of these, so a new backend (object storage, say) is one module.

Paths are `/`-separated, relative to the driver's root, and never contain `..`: the registry
builds them from validated names and digests only; drivers still refuse anything else.
"""

from __future__ import annotations

import abc
import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

_PATH_RE: Final = re.compile(r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$")


class PathNotFoundError(Exception):
    """The path does not exist in the driver."""

    def __init__(self, path: str) -> None:
        super().__init__(f"path not found: {path}")
        self.path = path


def check_path(path: str) -> str:
    """Refuse empty, absolute or traversing paths: a bug above must not escape the root."""
    wrapped = f"/{path}/"
    if not _PATH_RE.match(path) or "/../" in wrapped or "/./" in wrapped:
        raise ValueError(f"invalid storage path {path!r}")
    return path


@dataclass(frozen=True)
class FileInfo:
    """What `stat` reports: enough to serve a blob and to judge age in garbage collection."""

    path: str
    size: int
    mtime: float
    is_dir: bool


class FileWriter(abc.ABC):
    """A writer that can be closed and resumed later (upload sessions span requests).

    `commit` makes the bytes durable; `cancel` removes them. `truncate` exists so a chunk that
    failed half way (client hung up, body shorter than its Content-Range) can be rolled back,
    leaving the session exactly as it was before the request.
    """

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Bytes in the file, including those written before this writer was opened."""

    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def truncate(self, size: int) -> None: ...

    @abc.abstractmethod
    def commit(self) -> None:
        """Flush (and, if the driver is durable, fsync) what was written."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Close and delete the file."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the handle; the content stays for a later `writer(path, append=True)`."""


class StorageDriver(abc.ABC):
    """A backend for registry content. Implementations must make `put_content` and `move`
    atomic: a reader sees the old content or the new, never a prefix."""

    name: str = "abstract"

    @abc.abstractmethod
    def get_content(self, path: str) -> bytes: ...

    @abc.abstractmethod
    def put_content(self, path: str, data: bytes) -> None: ...

    @abc.abstractmethod
    def reader(self, path: str, offset: int = 0) -> BinaryIO: ...

    @abc.abstractmethod
    def writer(self, path: str, *, append: bool = False) -> FileWriter: ...

    @abc.abstractmethod
    def stat(self, path: str) -> FileInfo: ...

    @abc.abstractmethod
    def list(self, path: str) -> list[str]:
        """Names (not paths) of the direct children of directory `path`; [] if it is absent."""

    @abc.abstractmethod
    def move(self, source: str, dest: str) -> None:
        """Atomically replace `dest` with `source`."""

    @abc.abstractmethod
    def delete(self, path: str) -> None:
        """Delete a file or a whole directory tree; PathNotFoundError if absent."""

    def touch(self, path: str) -> None:
        """Refresh a file's modification time (garbage collection's grace period reads it)."""
        self.put_content(path, self.get_content(path))

    def local_path(self, path: str) -> Path | None:
        """A local file for zero-copy serving (sendfile), or None if the driver has none."""
        return None

    @contextlib.contextmanager
    def lock(self, *, exclusive: bool) -> Iterator[None]:
        """A reader-writer lock shared with other processes using the same storage.

        Mutations that create references (blob commit, mount, manifest put) hold it shared;
        garbage collection holds it exclusively, so it never deletes a blob that a push is
        linking at that instant. This default only excludes threads of one process.
        """
        if exclusive:
            with self._local_lock:
                yield
        else:
            yield

    _local_lock = threading.Lock()

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except PathNotFoundError:
            return False
        return True
