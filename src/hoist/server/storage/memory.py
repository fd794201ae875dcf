"""An in-memory driver: for tests and throwaway registries (`storage: {driver: memory}`).

Content lives in a dict of path -> bytes; directories are implied by paths. It holds whole
blobs in memory by design, so it is not for large images.
"""

from __future__ import annotations

import io
import threading
import time
from typing import BinaryIO

from hoist.server.storage.driver import (
    FileInfo,
    FileWriter,
    PathNotFoundError,
    StorageDriver,
    check_path,
)


class _Entry:
    __slots__ = ("data", "mtime")

    def __init__(self, data: bytearray) -> None:
        self.data = data
        self.mtime = time.time()


class _MemoryWriter(FileWriter):
    def __init__(self, driver: MemoryDriver, path: str, entry: _Entry) -> None:
        self._driver = driver
        self._path = path
        self._entry = entry

    @property
    def size(self) -> int:
        return len(self._entry.data)

    def write(self, data: bytes) -> None:
        self._entry.data += data
        self._entry.mtime = time.time()

    def truncate(self, size: int) -> None:
        del self._entry.data[size:]

    def commit(self) -> None:
        pass

    def cancel(self) -> None:
        self._driver._remove(self._path)

    def close(self) -> None:
        pass


class MemoryDriver(StorageDriver):
    """Everything in a dict guarded by a lock (handlers may call from worker threads)."""

    name = "memory"

    def __init__(self) -> None:
        self._files: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def _get(self, path: str) -> _Entry:
        entry = self._files.get(check_path(path))
        if entry is None:
            raise PathNotFoundError(path)
        return entry

    def _remove(self, path: str) -> None:
        with self._lock:
            self._files.pop(path, None)

    def get_content(self, path: str) -> bytes:
        return bytes(self._get(path).data)

    def put_content(self, path: str, data: bytes) -> None:
        with self._lock:
            self._files[check_path(path)] = _Entry(bytearray(data))

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        stream = io.BytesIO(bytes(self._get(path).data))
        stream.seek(offset)
        return stream

    def writer(self, path: str, *, append: bool = False) -> FileWriter:
        check_path(path)
        with self._lock:
            entry = self._files.get(path) if append else None
            if entry is None:
                entry = self._files[path] = _Entry(bytearray())
        return _MemoryWriter(self, path, entry)

    def stat(self, path: str) -> FileInfo:
        check_path(path)
        entry = self._files.get(path)
        if entry is not None:
            return FileInfo(path, len(entry.data), entry.mtime, False)
        prefix = path + "/"
        with self._lock:
            mtimes = [e.mtime for p, e in self._files.items() if p.startswith(prefix)]
        if not mtimes:
            raise PathNotFoundError(path)
        return FileInfo(path, 0, max(mtimes), True)

    def list(self, path: str) -> list[str]:
        prefix = check_path(path) + "/"
        with self._lock:
            names = {p[len(prefix) :].split("/", 1)[0] for p in self._files if p.startswith(prefix)}
        return sorted(names)

    def move(self, source: str, dest: str) -> None:
        check_path(dest)
        with self._lock:
            entry = self._files.pop(check_path(source), None)
            if entry is None:
                raise PathNotFoundError(source)
            self._files[dest] = entry

    def delete(self, path: str) -> None:
        prefix = check_path(path) + "/"
        with self._lock:
            doomed = [p for p in self._files if p == path or p.startswith(prefix)]
            if not doomed:
                raise PathNotFoundError(path)
            for p in doomed:
                del self._files[p]

    def touch(self, path: str) -> None:
        self._get(path).mtime = time.time()
