"""Advisory file locks that let several hoist processes share one store.

Two locks, always taken in this order so no two processes can deadlock:

* the **content lock**, held *shared* by every process that is adding blobs (a load, a pull, a
  pack) from its first blob to its index commit, and *exclusive* by garbage collection. So GC
  never deletes a blob another process has just written but not yet named.
* the **index lock**, held exclusive for each read-modify-write of `index.json` (short).

`flock` locks vanish with the process, so a crash never leaves the store locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False, waiting: str | None = None) -> Iterator[None]:
    """Hold an flock on `path` (created if missing); print `waiting` once if it takes a while."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            deadline = time.monotonic() + 1.0
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if waiting and time.monotonic() > deadline:
                        print(waiting, file=sys.stderr)
                        waiting = None
                        fcntl.flock(fd, mode)
                        break
                    time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
