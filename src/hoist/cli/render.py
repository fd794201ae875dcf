"""How push, pull and copy show progress: docker's lines, live bars, or nothing (for --json).

Off a terminal (CI logs, pipes) the output is exactly docker's, one final line per layer
(`5f70bf18a086: Pushed`, `Layer already exists`, `Mounted from team/base`), so scripts and
people who grep docker's output keep working. On a terminal each layer gets a live line with a
bar, bytes and speed, redrawn at most ten times a second with plain ANSI escapes (no extra
dependency). Events arrive from the copy engine's worker threads, hence the lock.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TextIO

from hoist.copy import CopyEvent
from hoist.oci import Descriptor
from hoist.registry.tls import TransportOptions
from hoist.transports.base import BlobStatus

_REDRAW_EVERY: Final = 0.1


def is_terminal(stream: TextIO) -> bool:
    """A live terminal, and not a dumb one (TERM=dumb) or a forced plain mode."""
    if os.environ.get("HOIST_PROGRESS") == "plain":
        return False
    if os.environ.get("HOIST_PROGRESS") == "tty":
        return True
    return stream.isatty() and os.environ.get("TERM", "") != "dumb"


def human_bytes(n: float) -> str:
    """docker's units (powers of 1000: kB, MB, GB)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.3g}{unit}"
        n /= 1000
    return f"{n}"  # pragma: no cover


@dataclass
class _Line:
    desc: Descriptor
    state: str
    done: int = 0
    started: float = field(default_factory=time.monotonic)


# (verb while moving, final words) per mode and status
_FINAL: Final[dict[str, dict[BlobStatus, str]]] = {
    "push": {
        BlobStatus.PUSHED: "Pushed",
        BlobStatus.EXISTS: "Layer already exists",
        BlobStatus.MOUNTED: "Mounted from {src}",
    },
    "pull": {
        BlobStatus.PUSHED: "Pull complete",
        BlobStatus.EXISTS: "Already exists",
        BlobStatus.MOUNTED: "Mounted from {src}",
    },
    "copy": {
        BlobStatus.PUSHED: "Copied",
        BlobStatus.EXISTS: "Already exists",
        BlobStatus.MOUNTED: "Mounted from {src}",
    },
}
_MOVING: Final = {"push": "Pushing", "pull": "Downloading", "copy": "Copying"}
_WAITING: Final = {"push": "Preparing", "pull": "Waiting", "copy": "Waiting"}


class Progress:
    """Renders copy events for one command. `mode` is push, pull or copy."""

    def __init__(self, mode: str, out: TextIO | None = None, *, quiet: bool = False) -> None:
        self.mode = mode
        self.out = out or sys.stdout
        self.quiet = quiet
        self.live = not quiet and is_terminal(self.out)
        self._lock = threading.Lock()
        self._lines: dict[str, _Line] = {}
        self._order: list[str] = []
        self._drawn = 0
        self._last_draw = 0.0

    def final_words(self, status: BlobStatus, mounted_from: str | None) -> str:
        return _FINAL[self.mode][status].format(src=mounted_from or "another repository")

    def __call__(self, event: CopyEvent) -> None:
        if self.quiet:
            return
        with self._lock:
            self._handle(event)

    def _handle(self, e: CopyEvent) -> None:
        if e.kind == "plan":
            # docker lists the top layer first
            for desc in reversed(e.blobs):
                if desc.digest not in self._lines:
                    self._order.append(desc.digest)
                    self._lines[desc.digest] = _Line(desc, _WAITING[self.mode])
            self._draw(force=True)
            return
        if e.desc is None or e.role != "layer" or e.desc.digest not in self._lines:
            return
        line = self._lines[e.desc.digest]
        if e.kind == "blob-start":
            line.state = _WAITING[self.mode]
            line.started = time.monotonic()
        elif e.kind == "blob-progress":
            line.done += e.nbytes
            line.state = _MOVING[self.mode]
            self._draw()
        elif e.kind == "blob-done" and e.status is not None:
            line.state = self.final_words(e.status, e.mounted_from)
            line.done = line.desc.size
            if self.live:
                self._draw(force=True)
            else:
                self.out.write(f"{e.desc.digest.short}: {line.state}\n")
                self.out.flush()

    def _render(self, line: _Line) -> str:
        head = f"{line.desc.digest.short}: {line.state}"
        if line.state not in (_MOVING[self.mode],):
            return head
        total = max(1, line.desc.size)
        width = 40
        filled = min(width, int(width * line.done / total))
        bar = "=" * max(0, filled - 1) + (">" if filled else "") + " " * (width - filled)
        speed = line.done / max(1e-3, time.monotonic() - line.started)
        return (
            f"{head} [{bar}] {human_bytes(line.done)}/{human_bytes(line.desc.size)} "
            f"{human_bytes(speed)}/s"
        )

    def _draw(self, force: bool = False) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < _REDRAW_EVERY:
            return
        self._last_draw = now
        parts = []
        if self._drawn:
            parts.append(f"\x1b[{self._drawn}A")
        for digest in self._order:
            parts.append("\x1b[2K" + self._render(self._lines[digest]) + "\n")
        self._drawn = len(self._order)
        self.out.write("".join(parts))
        self.out.flush()

    def finish(self) -> None:
        with self._lock:
            self._draw(force=True)


def warn(message: str) -> None:
    print(message, file=sys.stderr)


# --- flags every registry-talking command shares -----------------------------------------


def add_registry_flags(parser: argparse.ArgumentParser) -> None:
    """`--insecure` and `--ca-cert`, with the same meaning on every command."""
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow plain HTTP and unverified TLS to the registry (loopback needs no flag)",
    )
    parser.add_argument(
        "--ca-cert",
        action="append",
        default=[],
        metavar="FILE",
        help="trust this PEM CA for the registry (also read: /etc/docker/certs.d/HOST/*.crt)",
    )


def add_transfer_flags(parser: argparse.ArgumentParser, *, moved: str, quiet_prints: str) -> None:
    """`--jobs`, `--json`, `--quiet` and the registry flags, shared by push, pull and copy."""
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=4,
        metavar="N",
        help=f"blobs {moved} in parallel (default 4)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON result, no progress")
    parser.add_argument("-q", "--quiet", action="store_true", help=f"print only the {quiet_prints}")
    add_registry_flags(parser)


def transport_options(args: argparse.Namespace) -> TransportOptions:
    return TransportOptions(
        insecure=bool(getattr(args, "insecure", False)),
        ca_certs=tuple(Path(p) for p in getattr(args, "ca_cert", []) or []),
    )


def retry_notice(what: str, attempt: int, delay: float, reason: str) -> None:
    """Say on stderr that hoist is retrying, so a slow push does not look hung."""
    print(f"retrying {what} in {delay:.1f}s (attempt {attempt + 1}): {reason}", file=sys.stderr)
