"""Read tar archives safely and with random access: no path escapes, no truncation unnoticed.

`docker save` tarballs and OCI layout tarballs are read in place, never extracted: a scan of the
headers records where each regular file's bytes live, then each blob is streamed from its byte
range on its own file handle (so several layers can be compressed in parallel). Nothing is ever
written from an archive to the file system, so a hostile entry name cannot land outside a
directory; names are still checked, because an archive that contains `../x`, `/etc/x` or a link
pointing outside itself is not one hoist should believe anything from.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, cast

from hoist.errors import InvalidContentError, NotFoundError

_MAX_LINK_HOPS: Final = 16
GZIP_MAGIC: Final = b"\x1f\x8b"
ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"


def safe_member_name(name: str, archive: str) -> str:
    """Normalize a tar entry name, refusing absolute paths and `..` components."""
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise InvalidContentError(
            f"{archive}: entry {name!r} has an absolute path",
            why="an image archive only contains paths relative to its root",
            fix="recreate the archive with docker save, podman save or skopeo copy",
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidContentError(
            f"{archive}: entry {name!r} contains '..'",
            why="a path that climbs out of the archive is a path-traversal attempt",
            fix="recreate the archive with docker save, podman save or skopeo copy",
        )
    return "/".join(parts)


def resolve_link(link_name: str, target: str, *, symlink: bool, archive: str) -> str:
    """Where a link inside the archive points, as an archive-relative path, or an error."""
    if target.startswith("/"):
        raise InvalidContentError(
            f"{archive}: link {link_name!r} points to the absolute path {target!r}",
            why="a link in an image archive must stay inside the archive",
        )
    base = posixpath.dirname(link_name) if symlink else ""
    joined = posixpath.normpath(posixpath.join(base, target))
    if joined == ".." or joined.startswith("../"):
        raise InvalidContentError(
            f"{archive}: link {link_name!r} -> {target!r} escapes the archive",
            why="a link that points outside the archive is a path-traversal attempt",
        )
    return "" if joined == "." else joined


@dataclass(frozen=True)
class _Span:
    offset: int
    size: int


class _RangeReader(io.RawIOBase):
    """A read-only stream over `size` bytes at `offset` of a file, on its own handle."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        super().__init__()
        self._fh = path.open("rb")
        self._fh.seek(offset)
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        n = self._fh.readinto(view)
        if not n:
            raise InvalidContentError("archive ended in the middle of an entry (truncated?)")
        self._left -= n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


class TarArchive:
    """The regular files of an uncompressed tar, addressable by normalized name."""

    def __init__(self, path: Path, label: str | None = None) -> None:
        self.path = path
        self.label = label or str(path)
        self._files: dict[str, _Span] = {}
        self._scan()

    def _scan(self) -> None:
        label = self.label
        total = self.path.stat().st_size
        links: dict[str, tuple[str, bool]] = {}
        try:
            with tarfile.open(self.path, "r:") as tf:
                for member in tf:
                    name = safe_member_name(member.name, label)
                    if member.isfile():
                        if member.offset_data + member.size > total:
                            raise InvalidContentError(
                                f"{label} is truncated: entry {name!r} needs "
                                f"{member.offset_data + member.size} bytes, the file has {total}",
                                why="the archive was cut off while being written or copied",
                                fix="copy or save the archive again and check its size",
                            )
                        self._files[name] = _Span(member.offset_data, member.size)
                    elif member.issym() or member.islnk():
                        target = resolve_link(
                            name, member.linkname, symlink=member.issym(), archive=label
                        )
                        links[name] = (target, member.issym())
        except tarfile.TarError as exc:
            raise InvalidContentError(
                f"{label} is not a readable tar archive: {exc}",
                why="the file is corrupt, truncated, or not an image archive",
                fix="check the file (tar tvf FILE) and recreate it with docker save or podman save",
            ) from None
        except EOFError:
            raise InvalidContentError(
                f"{label} is truncated (the tar ends in the middle of a header)",
                fix="copy or save the archive again and check its size",
            ) from None
        if not self._files and not links:
            raise InvalidContentError(
                f"{label} is empty or not a tar archive",
                fix="pass a file written by docker save, podman save or skopeo copy",
            )
        for name in links:
            span = self._follow(name, links)
            if span is not None:
                self._files[name] = span

    def _follow(self, name: str, links: dict[str, tuple[str, bool]]) -> _Span | None:
        current = name
        for _ in range(_MAX_LINK_HOPS):
            if current in self._files:
                return self._files[current]
            if current not in links:
                return None
            current = links[current][0]
        raise InvalidContentError(f"{self.label}: link {name!r} is part of a loop")

    def has(self, name: str) -> bool:
        return safe_member_name(name, self.label) in self._files

    def size(self, name: str) -> int:
        return self._span(name).size

    def _span(self, name: str) -> _Span:
        key = safe_member_name(name, self.label)
        span = self._files.get(key)
        if span is None:
            raise NotFoundError(
                f"{self.label} has no file {name!r}",
                why="the archive's index or manifest names a file the archive does not contain",
                fix="recreate the archive; it is incomplete",
            )
        return span

    def open(self, name: str) -> BinaryIO:
        """A stream of one entry's bytes, independent of any other open stream."""
        span = self._span(name)
        reader = io.BufferedReader(_RangeReader(self.path, span.offset, span.size), 1 << 20)
        return cast(BinaryIO, reader)

    def read_small(self, name: str, limit: int) -> bytes:
        """Read a small entry (JSON) whole, refusing anything over `limit` bytes."""
        span = self._span(name)
        if span.size > limit:
            raise InvalidContentError(
                f"{self.label}: {name!r} is {span.size} bytes, over the {limit}-byte limit",
                why="index, manifest and config files are small; this one is suspicious",
            )
        with self.open(name) as fh:
            return fh.read()

    def names(self) -> list[str]:
        return sorted(self._files)


def sniff(path: Path) -> bytes:
    """The first bytes of a file, to tell gzip/zstd/tar apart."""
    with path.open("rb") as fh:
        return fh.read(4)


def is_file_path(path: Path) -> bool:
    return path.is_file() or (path.exists() and not path.is_dir() and os.access(path, os.R_OK))
