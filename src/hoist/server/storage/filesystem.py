"""The filesystem driver: registry content under one root directory (the default).

Small content is replaced with `hoist.atomic` (temp file, fsync, rename); `move` is one
`os.replace` on the same filesystem, so a committed blob appears whole or not at all even if
the process is killed half way. With `durable=True` (the default) data and directory entries
are fsynced before a rename is trusted, which also survives power loss.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Final

from hoist.atomic import atomic_write_bytes, fsync_dir
from hoist.server.storage.driver import (
    FileInfo,
    FileWriter,
    PathNotFoundError,
    StorageDriver,
    check_path,
)

_SYNC_FILE_RANGE_WRITE: Final = 2
_WRITEBACK_EVERY: Final = 8 << 20


def _load_sync_file_range() -> Callable[[int, int, int], None] | None:
    """Linux's sync_file_range(2), which Python's os module lacks; None elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        func = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]

    def start_writeback(fd: int, offset: int, nbytes: int) -> None:
        func(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)

    return start_writeback


_start_writeback = _load_sync_file_range()


class _FileWriter(FileWriter):
    """Appends to one file. When durable, it asks the kernel to start writing back every
    8 MiB as the upload streams in (sync_file_range, which does not wait), so the fdatasync
    at commit finds little left to flush instead of the whole blob."""

    def __init__(self, path: Path, *, append: bool, durable: bool) -> None:
        self._path = path
        self._durable = durable
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: BinaryIO = open(path, "ab" if append else "wb")  # noqa: SIM115
        self._size = self._fh.tell()
        self._flushed_to = self._size

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        self._fh.write(data)
        self._size += len(data)
        if self._durable and self._size - self._flushed_to >= _WRITEBACK_EVERY:
            self._fh.flush()
            if _start_writeback is not None:
                _start_writeback(self._fh.fileno(), self._flushed_to, self._size - self._flushed_to)
            self._flushed_to = self._size

    def truncate(self, size: int) -> None:
        self._fh.flush()
        self._fh.truncate(size)
        self._fh.seek(size)
        self._size = size
        self._flushed_to = min(self._flushed_to, size)

    def commit(self) -> None:
        self._fh.flush()
        if self._durable:
            os.fdatasync(self._fh.fileno())

    def cancel(self) -> None:
        self._fh.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    def close(self) -> None:
        self._fh.close()


class FilesystemDriver(StorageDriver):
    """Content as plain files under `root`; `local_path` enables sendfile for blob GETs."""

    name = "filesystem"

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = root
        self.durable = durable
        root.mkdir(parents=True, exist_ok=True)
        self._prefix = str(root.resolve()) + os.sep

    def _full(self, path: str) -> Path:
        return self.root / check_path(path)

    def _fast(self, path: str) -> str:
        """The full path as a string: the hot paths (links, small files) skip pathlib."""
        return self._prefix + check_path(path)

    def get_content(self, path: str) -> bytes:
        try:
            fd = os.open(self._fast(path), os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFoundError(path) from None
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
        except IsADirectoryError:
            raise PathNotFoundError(path) from None
        finally:
            os.close(fd)
        return b"".join(chunks)

    def put_content(self, path: str, data: bytes) -> None:
        atomic_write_bytes(self._full(path), data, durable=self.durable)

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        try:
            fh = open(self._full(path), "rb")  # noqa: SIM115
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise PathNotFoundError(path) from None
        fh.seek(offset)
        return fh

    def writer(self, path: str, *, append: bool = False) -> FileWriter:
        return _FileWriter(self._full(path), append=append, durable=self.durable)

    def stat(self, path: str) -> FileInfo:
        try:
            st = os.stat(self._fast(path))  # noqa: PTH116 (hot path, no pathlib)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFoundError(path) from None
        is_dir = (st.st_mode & 0o170000) == 0o040000
        return FileInfo(path, st.st_size, st.st_mtime, is_dir)

    def list(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self._full(path)))  # noqa: PTH208 (names, not paths)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def move(self, source: str, dest: str) -> None:
        src, dst = self._full(source), self._full(dest)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            src.replace(dst)
        except FileNotFoundError:
            raise PathNotFoundError(source) from None
        if self.durable:
            fsync_dir(dst.parent)

    def delete(self, path: str) -> None:
        full = self._full(path)
        try:
            if full.is_dir() and not full.is_symlink():
                shutil.rmtree(full)
            else:
                full.unlink()
        except FileNotFoundError:
            raise PathNotFoundError(path) from None

    def touch(self, path: str) -> None:
        try:
            os.utime(self._full(path))
        except FileNotFoundError:
            raise PathNotFoundError(path) from None

    def exists(self, path: str) -> bool:
        return os.path.exists(self._fast(path))  # noqa: PTH110 (hot path, no pathlib)

    def local_path(self, path: str) -> Path | None:
        return self._full(path)

    @contextlib.contextmanager
    def lock(self, *, exclusive: bool) -> Iterator[None]:
        """flock(2) on `ROOT/.lock`: shared for pushes, exclusive for `hoist registry gc`."""
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)
