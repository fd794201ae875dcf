"""One read-only view over "a set of named files", whether a directory or a tar archive.

OCI layouts come as directories or tars, `docker save` output as a tar; the readers above this
(`layout`, `archive`, the store importer) only need "does X exist, open X, read small X". A
directory is held to the same rules as an archive: no absolute paths, no `..`, and no symlink
that resolves outside it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from hoist.errors import InvalidContentError, NotFoundError
from hoist.transports.tarsafe import GZIP_MAGIC, ZSTD_MAGIC, TarArchive, safe_member_name, sniff


class FileSet(Protocol):
    """The files of a layout or archive, by relative path."""

    label: str

    def has(self, name: str) -> bool: ...
    def size(self, name: str) -> int: ...
    def open(self, name: str) -> BinaryIO: ...
    def read_small(self, name: str, limit: int) -> bytes: ...


class DirectoryFiles:
    """A directory, refusing any path (or symlink) that leads outside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real = root.resolve()
        self.label = str(root)

    def _path(self, name: str) -> Path:
        rel = safe_member_name(name, self.label)
        path = self.root / rel
        real = path.resolve()
        if not real.is_relative_to(self._real):
            raise InvalidContentError(
                f"{self.label}: {rel!r} is a link that leads outside the layout (to {real})",
                why="a layout's files must stay inside its directory",
            )
        return path

    def has(self, name: str) -> bool:
        return self._path(name).is_file()

    def size(self, name: str) -> int:
        try:
            return self._path(name).stat().st_size
        except FileNotFoundError:
            raise self._missing(name) from None

    def open(self, name: str) -> BinaryIO:
        try:
            return self._path(name).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise self._missing(name) from None

    def read_small(self, name: str, limit: int) -> bytes:
        if self.size(name) > limit:
            raise InvalidContentError(
                f"{self.label}: {name!r} is over the {limit}-byte limit for metadata files"
            )
        with self.open(name) as fh:
            return fh.read()

    def _missing(self, name: str) -> NotFoundError:
        return NotFoundError(
            f"{self.label} has no file {name!r}",
            why="the layout's index or a manifest names a file that is not there",
            fix="copy the layout again; it is incomplete",
        )


class OpenedFiles(contextlib.AbstractContextManager["OpenedFiles"]):
    """`path` opened as a FileSet; a gzip-compressed tar is first decompressed to scratch."""

    def __init__(self, path: Path, scratch: Path | None = None) -> None:
        self._tmpdir: Path | None = None
        if not path.exists():
            raise NotFoundError(
                f"{path} does not exist",
                fix="check the path; pass a docker save tarball or an OCI layout directory",
            )
        if path.is_dir():
            self.files: FileSet = DirectoryFiles(path)
            return
        magic = sniff(path)
        if magic.startswith(ZSTD_MAGIC):
            raise InvalidContentError(
                f"{path} is zstd-compressed",
                fix=f"decompress it first: zstd -d {path}",
            )
        if magic.startswith(GZIP_MAGIC):
            self._tmpdir = Path(tempfile.mkdtemp(prefix="gunzip-", dir=scratch))
            plain = self._tmpdir / "archive.tar"
            from isal import igzip

            try:
                src = cast(BinaryIO, igzip.open(path, "rb"))  # type: ignore[no-untyped-call]
                with src, plain.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (OSError, EOFError, ValueError) as exc:
                self.close()
                raise InvalidContentError(
                    f"{path} is a corrupt or truncated gzip file: {exc}",
                    fix="copy or save the archive again",
                ) from None
            try:
                self.files = TarArchive(plain, label=str(path))
            except BaseException:
                self.close()
                raise
            return
        self.files = TarArchive(path)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
