"""Where blobs were last seen on each registry, so a push can mount instead of upload.

docker keeps "distribution metadata" (`/var/lib/docker/image/*/distribution/`) mapping a layer
digest to the repositories it was pulled from or pushed to; a push of an image built on
`team/base` then asks the registry to mount the shared layers (`Mounted from team/base`)
instead of sending them. hoist keeps the same small map in
`$HOIST_HOME/client/blob-locations.json`: registry -> digest -> the few repositories it is
known in (most recent first). It is a cache: losing it only costs uploads, so it is written
atomically but best-effort, merged under a file lock with other hoist processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import threading
from pathlib import Path
from typing import Final

from hoist.atomic import atomic_write_bytes
from hoist.paths import hoist_home

_PER_BLOB: Final = 5
_MAX_BLOBS_PER_REGISTRY: Final = 20000


def metadata_path() -> Path:
    return hoist_home() / "client" / "blob-locations.json"


class BlobLocations:
    """The in-memory view, updated during a copy and merged into the file by `save()`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or metadata_path()
        self._lock = threading.Lock()
        self._data = self._read()
        self._new: list[tuple[str, str, str]] = []

    def _read(self) -> dict[str, dict[str, list[str]]]:
        try:
            obj = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(obj, dict):
            return {}
        out: dict[str, dict[str, list[str]]] = {}
        for registry, blobs in obj.items():
            if isinstance(blobs, dict):
                out[str(registry)] = {
                    str(d): [str(r) for r in repos][:_PER_BLOB]
                    for d, repos in blobs.items()
                    if isinstance(repos, list)
                }
        return out

    def repositories(self, registry: str, digest: str) -> list[str]:
        """Repositories of `registry` the blob is known in, most recent first."""
        with self._lock:
            return list(self._data.get(registry, {}).get(digest, []))

    def record(self, registry: str, digest: str, repository: str) -> None:
        with self._lock:
            self._apply(self._data, registry, digest, repository)
            self._new.append((registry, digest, repository))

    @staticmethod
    def _apply(
        data: dict[str, dict[str, list[str]]], registry: str, digest: str, repository: str
    ) -> None:
        blobs = data.setdefault(registry, {})
        repos = [r for r in blobs.pop(digest, []) if r != repository]
        blobs[digest] = [repository, *repos][:_PER_BLOB]  # re-insert: newest last in order
        while len(blobs) > _MAX_BLOBS_PER_REGISTRY:
            blobs.pop(next(iter(blobs)))

    def save(self) -> None:
        """Merge what this process learned into the file (best-effort, never fails a push)."""
        with self._lock:
            if not self._new:
                return
            new, self._new = self._new, []
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.path.with_suffix(".lock")
            with lock_path.open("a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                merged = self._read()
                for registry, digest, repository in new:
                    self._apply(merged, registry, digest, repository)
                atomic_write_bytes(
                    self.path, json.dumps(merged, separators=(",", ":")).encode(), durable=False
                )
