"""The one engine behind push, pull and copy: any `ImageSource` to any `ImageDestination`.

Order matters for registries, which refuse a manifest whose blobs are missing: blobs first (in
parallel, each skipped if the destination has it, mounted if the destination can link it from a
repository it already holds, else streamed and verified against its digest on the way), then
manifests children-first, the root last under its tag. Nothing is buffered whole: blobs flow
from `open_blob` to `put_blob` through `hoist.oci.VerifyingReader`. Progress is reported as
`CopyEvent`s that the CLI renders (docker-style lines, progress bars, or JSON).

Hashing costs about 0.5 s of CPU per GiB, so a blob is hashed once, by whoever has to believe
it, and not again on the way: `copy_image(verify_blobs=False)` hands `put_blob` the source's
own stream when the destination verifies for itself — the local store (`ingest` checks size
and digest before the rename that makes a blob visible) and a registry (it hashes what it
received and refuses the final `PUT ?digest=` on a mismatch). Push uses that for blobs from the
local store, which were verified when they entered it; a file that rotted since is caught by
the registry, and then re-hashed here to say which side is wrong. Pull uses it because the
store's ingest is the check. Everything else keeps the client-side check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import BinaryIO, Literal, Protocol, cast, runtime_checkable

from hoist.errors import DigestMismatchError, HoistError, NotFoundError
from hoist.oci import Descriptor, Manifest, Platform, VerifyingReader
from hoist.transports.base import BlobResult, BlobStatus, ImageDestination, ImageSource

EventKind = Literal["plan", "blob-start", "blob-progress", "blob-done", "manifest", "done"]


@dataclass(frozen=True)
class CopyEvent:
    """Something the user may want to see. `nbytes` is a delta for `blob-progress`."""

    kind: EventKind
    desc: Descriptor | None = None
    nbytes: int = 0
    status: BlobStatus | None = None
    mounted_from: str | None = None
    role: str = "layer"  # layer | config | manifest
    blobs: tuple[Descriptor, ...] = ()  # for "plan": the layers, in manifest order


EventHook = Callable[[CopyEvent], None]

#: How many blobs are checked (HEAD) and mounted at once; transfers are limited by `jobs`.
_MAX_CHECKS = 16


@dataclass(frozen=True)
class BlobOutcome:
    desc: Descriptor
    role: str
    status: BlobStatus
    bytes_sent: int
    mounted_from: str | None = None


@dataclass
class CopyResult:
    """What happened: the root manifest written, and each blob's fate."""

    root: Manifest
    blobs: list[BlobOutcome] = field(default_factory=list)
    manifests: list[Manifest] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def bytes_sent(self) -> int:
        return sum(b.bytes_sent for b in self.blobs)

    @property
    def layers(self) -> list[BlobOutcome]:
        return [b for b in self.blobs if b.role == "layer"]


@runtime_checkable
class MountingDestination(Protocol):
    """A destination that can link a blob it already holds elsewhere (registries)."""

    def try_mount(self, desc: Descriptor, source: object) -> BlobResult | None: ...


class RestartableError(HoistError):
    """Raised by a destination when a blob must be sent again from the start of the source."""


class _CancelledError(Exception):
    pass


class _CountingReader:
    """Reports bytes as the destination reads them; stops early when the copy is aborted.

    Seekable when the stream under it is (an unverified file, see `verify_blobs`), so an upload
    can resume from the server's offset; bytes read again after a seek are not counted twice.
    Never yields more than `desc.size` bytes: a hostile source cannot fill the disk even where
    the digest is checked only at the end.
    """

    def __init__(
        self,
        raw: VerifyingReader | BinaryIO,
        desc: Descriptor,
        on_bytes: Callable[[int], None],
        abort: threading.Event,
    ) -> None:
        self._raw = raw
        self._desc = desc
        self._on_bytes = on_bytes
        self._abort = abort
        self._pos = 0
        self._high = 0
        try:
            self._seekable = not isinstance(raw, VerifyingReader) and bool(raw.seekable())
        except (AttributeError, OSError, ValueError):
            self._seekable = False

    def read(self, n: int = -1) -> bytes:
        if self._abort.is_set():
            raise _CancelledError
        chunk = self._raw.read(n)
        if chunk:
            self._pos += len(chunk)
            if self._pos > self._desc.size:
                raise DigestMismatchError(
                    f"content for {self._desc.digest} is larger than the {self._desc.size} "
                    "bytes declared",
                    why="the source sent more data than its descriptor says",
                )
            if self._pos > self._high:
                self._on_bytes(self._pos - self._high)
                self._high = self._pos
        return chunk

    def seekable(self) -> bool:
        return self._seekable

    def seek(self, offset: int, whence: int = 0) -> int:
        if not self._seekable:
            raise OSError("not seekable")
        assert not isinstance(self._raw, VerifyingReader)
        self._pos = self._raw.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos


def select_platform(source: ImageSource, index: Manifest, platform: Platform) -> Manifest:
    """The child of `index` built for `platform` (variant optional), as docker pull picks it."""
    candidates = [
        d
        for d in index.manifests
        if d.platform is not None
        and d.platform.os == platform.os
        and d.platform.architecture == platform.architecture
        and (platform.variant is None or d.platform.variant == platform.variant)
    ]
    if not candidates:
        have = ", ".join(sorted({str(d.platform) for d in index.manifests if d.platform})) or "none"
        raise NotFoundError(
            f"{source.describe()} has no image for {platform}",
            why=f"it is a multi-platform index with: {have}",
            fix="choose one of those with --platform",
        )
    return source.manifest(candidates[0].digest)


def _walk(source: ImageSource, manifest: Manifest, out: list[Manifest], depth: int = 0) -> None:
    """Children first (post-order), so each manifest lands after everything it references."""
    if depth > 4:
        raise HoistError(f"{source.describe()} nests indexes too deeply")
    for child in manifest.manifests:
        _walk(source, source.manifest(child.digest), out, depth + 1)
    out.append(manifest)


def copy_image(
    source: ImageSource,
    destination: ImageDestination,
    *,
    tag: str | None,
    jobs: int = 4,
    platform: Platform | None = None,
    on_event: EventHook | None = None,
    blob_attempts: int = 3,
    verify_blobs: bool = True,
) -> CopyResult:
    """Copy the image `source` points to into `destination` under `tag` (None: by digest).

    `verify_blobs=False` skips the client-side hash of blobs on the way: only for a
    destination that verifies every blob itself (the module docstring says which, and why).
    """
    started = time.monotonic()
    emit = on_event or (lambda e: None)
    root = source.root()
    if platform is not None and root.is_index:
        root = select_platform(source, root, platform)
    manifests: list[Manifest] = []
    _walk(source, root, manifests)

    blobs: list[tuple[Descriptor, str]] = []
    seen: set[str] = set()
    for m in manifests:
        if m.is_index:
            continue
        for role, desc in [("config", m.config)] + [("layer", d) for d in m.layers]:
            if desc.digest not in seen and not desc.urls:  # foreign layers stay where they are
                seen.add(desc.digest)
                blobs.append((desc, role))
    emit(CopyEvent("plan", blobs=tuple(d for d, r in blobs if r == "layer")))

    result = CopyResult(root=root, manifests=manifests)
    abort = threading.Event()
    lock = threading.Lock()

    def one(desc: Descriptor, role: str, slots: threading.BoundedSemaphore | None) -> BlobOutcome:
        emit(CopyEvent("blob-start", desc, role=role))
        outcome = _copy_blob(
            source, destination, desc, role, emit, abort, blob_attempts, verify_blobs, slots
        )
        with lock:
            result.blobs.append(outcome)
        emit(
            CopyEvent(
                "blob-done",
                desc,
                nbytes=outcome.bytes_sent,
                status=outcome.status,
                mounted_from=outcome.mounted_from,
                role=role,
            )
        )
        return outcome

    # the config is small and goes last among the blobs, as docker does
    ordered = [b for b in blobs if b[1] != "config"] + [b for b in blobs if b[1] == "config"]
    if jobs <= 1 or len(ordered) <= 1:
        for desc, role in ordered:
            one(desc, role, None)
    else:
        # every blob's existence check (HEAD) and mount go out at once, so a re-push costs one
        # wave of round trips; only the transfers themselves are limited to `jobs` at a time
        slots = threading.BoundedSemaphore(jobs)
        workers = min(len(ordered), max(jobs, _MAX_CHECKS))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hoist-blob") as pool:
            futures: list[Future[BlobOutcome]] = [pool.submit(one, d, r, slots) for d, r in ordered]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                abort.set()
                for f in pending:
                    f.cancel()
                wait(pending)
                exc = failed[0].exception()
                assert exc is not None
                raise exc

    for m in manifests:
        is_root = m is manifests[-1]
        destination.put_manifest(m, tag if is_root else None)
        emit(CopyEvent("manifest", m.descriptor(), role="manifest"))
    destination.commit()
    result.seconds = time.monotonic() - started
    emit(CopyEvent("done", root.descriptor()))
    return result


def _copy_blob(
    source: ImageSource,
    destination: ImageDestination,
    desc: Descriptor,
    role: str,
    emit: EventHook,
    abort: threading.Event,
    attempts: int,
    verify: bool = True,
    slots: threading.BoundedSemaphore | None = None,
) -> BlobOutcome:
    if destination.has_blob(desc):
        return BlobOutcome(desc, role, BlobStatus.EXISTS, 0)
    if isinstance(destination, MountingDestination):
        mounted = destination.try_mount(desc, source)
        if mounted is not None:
            return BlobOutcome(desc, role, BlobStatus.MOUNTED, 0, mounted.mounted_from)
    if slots is None:
        return _transfer(source, destination, desc, role, emit, abort, attempts, verify)
    with slots:
        if abort.is_set():
            raise HoistError("cancelled after another blob failed")
        return _transfer(source, destination, desc, role, emit, abort, attempts, verify)


def _transfer(
    source: ImageSource,
    destination: ImageDestination,
    desc: Descriptor,
    role: str,
    emit: EventHook,
    abort: threading.Event,
    attempts: int,
    verify: bool,
) -> BlobOutcome:
    def progress(n: int) -> None:
        emit(CopyEvent("blob-progress", desc, nbytes=n, role=role))

    from hoist.registry.uploads import UploadLostError  # lazy: keeps local-only copies light

    for attempt in range(1, attempts + 1):
        try:
            with source.open_blob(desc) as raw:
                inner = VerifyingReader(raw, desc.digest, desc.size) if verify else raw
                reader = _CountingReader(inner, desc, progress, abort)
                res = destination.put_blob(desc, cast(BinaryIO, reader))
            return BlobOutcome(desc, role, res.status, res.bytes_sent, res.mounted_from)
        except (UploadLostError, RestartableError):
            if attempt == attempts:
                raise
        except _CancelledError:
            raise HoistError("cancelled after another blob failed") from None
        except DigestMismatchError as exc:
            if exc.fix is not None:
                raise
            # the check that caught it (a reader's cap, the store's ingest) knows only the
            # digest: say whose content it was, and what to do
            raise DigestMismatchError(
                f"{source.describe()}: blob {desc.digest.short} is not what its digest says "
                f"({exc.what})",
                why=exc.why,
                fix=f"retry; if it fails again, {source.describe()} holds damaged content or "
                "something in between alters it (bypass any proxy)",
                details=exc.details,
            ) from None
        except HoistError as exc:
            if not verify and exc.details.get("code") in ("DIGEST_INVALID", "SIZE_INVALID"):
                _blame_source(source, desc)  # raises when the source itself is damaged
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _blame_source(source: ImageSource, desc: Descriptor) -> None:
    """After a destination refused an unverified blob: hash the source to say if it is wrong."""
    try:
        with source.open_blob(desc) as raw:
            reader = VerifyingReader(raw, desc.digest, desc.size)
            while reader.read(1 << 20):
                pass
    except DigestMismatchError as exc:
        # a local store's file is named, so "the copy" cannot be read as the destination's
        blobs = getattr(getattr(source, "store", None), "blobs", None)
        path = getattr(blobs, "path", None)
        copy = (
            f"the local store's file {path(desc.digest)}"
            if callable(path)
            else f"the copy in {source.describe()}"
        )
        raise DigestMismatchError(
            f"{source.describe()}: blob {desc.digest.short} is damaged ({exc.what})",
            why=f"{copy} no longer matches its digest, so the destination refused it",
            fix="remove the image and load or pull it again",
        ) from None
