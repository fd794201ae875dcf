"""Blob uploads: cross-repository mount, monolithic and chunked, resumed after a dropped link.

The distribution API uploads a blob in a session: `POST /v2/<name>/blobs/uploads/` opens it
(or, with `?mount=<digest>&from=<repo>`, asks the registry to link a blob it already holds in
another repository: 201 means done, nothing sent). Small blobs then go in one `PUT
<location>?digest=`; large ones in `PATCH` requests with `Content-Range` and a final empty
`PUT`. Chunks are at least the server's `OCI-Chunk-Min-Length`.

Two ways to send, both with memory bounded to about one read (never the blob):

* **From a seekable file** (a push from the local store): bodies stream straight from the file
  in 1 MiB pieces with an explicit `Content-Length`. The first PATCH carries one chunk, which
  proves cheaply that the session takes our data, credentials and `Content-Range`; the rest of
  the blob then streams in a single PATCH, as docker and skopeo send it, because every extra
  request costs a round trip plus the registry's per-request bookkeeping (distribution saves its
  hash state and fsyncs on each one). A resend after a failure seeks back to wherever the
  server's offset says, so nothing is kept in memory to make resuming possible.
* **From a stream** (a copy from another registry or an archive): the current chunk is held so
  it can be resent, and sent in 1 MiB pieces (one big `send` of a large buffer makes httpcore
  copy the unsent rest of it after every partial write).

When a PATCH fails midway (dropped connection, 5xx, 429), hoist asks the server how much it
kept (`GET <location>` -> `Range: 0-N`) and resends from there. If the session itself is gone,
or a stream cannot go back far enough, `UploadLostError` tells the copy engine to re-open the
source and start that blob over.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Final

import httpx

from hoist.errors import DigestMismatchError, HoistError, NetworkError, RegistryError
from hoist.oci import Descriptor
from hoist.registry.client import Body, RegistryClient
from hoist.registry.retry import RETRYABLE_STATUS

#: Default chunk: blobs up to this size go in one PUT; larger ones start with a PATCH of this
#: size. A stream that cannot seek holds one chunk in memory (so four uploads hold 64 MiB).
DEFAULT_CHUNK: Final = int(float(os.environ.get("HOIST_CHUNK_MIB", "16")) * 1024 * 1024)
#: A server asking for chunks larger than this is not obeyed beyond it (memory bound).
MAX_CHUNK: Final = 128 * 1024 * 1024

#: Bodies are produced and sent in pieces of this size.
_PIECE: Final = 1 << 20

ProgressHook = Callable[[int], None]


class UploadLostError(RegistryError):
    """The upload session vanished mid-blob; the caller may restart the blob from the source."""


@dataclass(frozen=True)
class Session:
    location: str
    min_chunk: int


def start_upload(
    client: RegistryClient,
    repository: str,
    scopes: Sequence[str],
    *,
    mount: tuple[str, str] | None = None,
) -> Session | None:
    """Open an upload session; with `mount=(digest, from_repo)`, None means it was mounted."""
    params = {"mount": mount[0], "from": mount[1]} if mount else None
    resp = client.request(
        "POST",
        f"/v2/{repository}/blobs/uploads/",
        operation="mount" if mount else "push",
        scopes=scopes,
        repository=repository,
        params=params,
        headers={"Content-Length": "0"},
        ok=(201, 202),
    )
    if resp.status_code == 201 and mount is not None:
        return None
    location = resp.headers.get("location")
    if not location:
        raise RegistryError(
            f"{client.registry} opened an upload for {repository} without a Location",
            why="every registry must say where to send the blob (Location header)",
            fix="report it to the registry's operator",
        )
    try:
        min_chunk = int(resp.headers.get("oci-chunk-min-length", "0"))
    except ValueError:
        min_chunk = 0
    return Session(location, max(0, min_chunk))


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _server_offset(
    client: RegistryClient, location: str, repository: str, scopes: Sequence[str]
) -> int:
    """How many bytes the server holds for this session (`GET` status, `Range: 0-N`)."""
    resp = client.request(
        "GET",
        location,
        operation="push",
        scopes=scopes,
        repository=repository,
        ok=(200, 204, 404),
    )
    if resp.status_code == 404:
        raise UploadLostError(
            f"{client.registry} forgot the upload session for {repository}",
            why="the session was dropped after a failed request",
            fix="push again",
        )
    rng = resp.headers.get("range", "")
    _, _, end = rng.partition("-")
    try:
        last = int(end)
    except ValueError:
        return 0
    # distribution reports an empty upload as "0-0" too; treating it as 0 is safe (a wrong
    # guess is answered with 416 and the blob restarts)
    return 0 if last <= 0 else last + 1


def upload_blob(
    client: RegistryClient,
    repository: str,
    desc: Descriptor,
    stream: BinaryIO,
    scopes: Sequence[str],
    *,
    session: Session | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    on_progress: ProgressHook | None = None,
) -> int:
    """Upload `desc` from `stream` (a seekable file, or a stream); returns the bytes sent."""
    sess = session or start_upload(client, repository, scopes)
    assert sess is not None
    chunk = min(MAX_CHUNK, max(chunk_size, sess.min_chunk, 1))
    progress = _Progress(on_progress)
    if _seekable(stream):
        return _upload_from_file(client, repository, desc, stream, scopes, sess, chunk, progress)
    return _upload_from_stream(client, repository, desc, stream, scopes, sess, chunk, progress)


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _file_body(stream: BinaryIO, desc: Descriptor, start: int, length: int) -> Body:
    """A body factory: `length` bytes of the file from `start`, read afresh on every send."""

    def pieces() -> Iterator[bytes]:
        stream.seek(start)
        left = length
        while left:
            piece = stream.read(min(left, _PIECE))
            if not piece:
                raise DigestMismatchError(
                    f"the source of {desc.digest} ended before its {desc.size} bytes",
                    why="the content is truncated",
                )
            left -= len(piece)
            yield piece

    return pieces


def _bytes_body(data: bytes) -> Body:
    """A body factory sending held bytes in bounded pieces."""
    if len(data) <= _PIECE:
        return data
    return lambda: (data[i : i + _PIECE] for i in range(0, len(data), _PIECE))


def _upload_from_file(
    client: RegistryClient,
    repository: str,
    desc: Descriptor,
    stream: BinaryIO,
    scopes: Sequence[str],
    sess: Session,
    chunk: int,
    progress: _Progress,
) -> int:
    base = stream.tell()
    size = desc.size
    location = sess.location
    if size <= chunk:
        _check_eof_at(stream, base + size)
        body = _file_body(stream, desc, base, size)
        return _put_final(client, repository, desc, location, body, size, scopes, progress)

    offset = 0  # bytes the server has acknowledged
    limit = chunk  # the first PATCH is one chunk; after it, the rest goes in one request
    failures = 0
    while offset < size:
        n = min(limit, size - offset)
        try:
            resp = _patch(
                client,
                repository,
                location,
                scopes,
                offset,
                n,
                _file_body(stream, desc, base + offset, n),
            )
        except NetworkError as exc:
            failures += 1
            offset = _after_failed_patch(client, repository, location, scopes, failures, exc)
            continue
        if resp.status_code == 202:
            location = resp.headers.get("location") or location
            offset += n
            progress.reached(offset)
            limit = size
            continue
        failures += 1
        offset = _after_failed_patch(client, repository, location, scopes, failures, None, resp)
    _check_eof_at(stream, base + size)
    return _put_final(client, repository, desc, location, b"", 0, scopes, progress, already=size)


def _patch(
    client: RegistryClient,
    repository: str,
    location: str,
    scopes: Sequence[str],
    offset: int,
    length: int,
    body: Body,
) -> httpx.Response:
    return client.request(
        "PATCH",
        location,
        operation="push",
        scopes=scopes,
        repository=repository,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + length - 1}",
            "Content-Length": str(length),
        },
        content=body,
        ok=(202, 416, *RETRYABLE_STATUS),
        retry=False,
    )


def _after_failed_patch(
    client: RegistryClient,
    repository: str,
    location: str,
    scopes: Sequence[str],
    failures: int,
    exc: HoistError | None,
    resp: httpx.Response | None = None,
) -> int:
    """After the `failures`-th failed PATCH (`exc`, or a 416/5xx/429 `resp`): give up, or wait
    as the retry policy says, then return the offset to resume from (the server's)."""
    if resp is not None and resp.status_code == 416:
        # our idea of the offset was wrong: ask, and continue from the server's (no pause)
        offset = _server_offset(client, location, repository, scopes)
        if failures > client.retry.attempts:
            raise UploadLostError(f"{client.registry} kept refusing the upload offset")
        return offset
    _give_up_after(client, failures, exc, resp)
    _pause(client, failures, resp)
    return _server_offset(client, location, repository, scopes)


def _upload_from_stream(
    client: RegistryClient,
    repository: str,
    desc: Descriptor,
    stream: BinaryIO,
    scopes: Sequence[str],
    sess: Session,
    chunk: int,
    progress: _Progress,
) -> int:
    location = sess.location
    size = desc.size
    if size <= chunk:
        data = _read_exact(stream, size)
        _check_eof(stream)
        body = _bytes_body(data)
        return _put_final(client, repository, desc, location, body, len(data), scopes, progress)

    offset = 0  # bytes the server has acknowledged
    buf = b""
    buf_start = 0
    failures = 0
    while offset < size:
        if offset >= buf_start + len(buf):
            buf_start += len(buf)
            buf = _read_exact(stream, min(chunk, size - buf_start))
            if not buf:
                raise DigestMismatchError(
                    f"the source of {desc.digest} ended after {buf_start} of {size} bytes",
                    why="the content is truncated",
                )
        elif offset < buf_start:
            raise UploadLostError(
                f"{client.registry} lost part of the upload of {desc.digest.short}",
                why=f"the server now holds {offset} bytes, before the {buf_start} already read",
                fix="push again",
            )
        piece = buf[offset - buf_start :]
        try:
            resp = _patch(
                client, repository, location, scopes, offset, len(piece), _bytes_body(piece)
            )
        except NetworkError as exc:
            failures += 1
            offset = _after_failed_patch(client, repository, location, scopes, failures, exc)
            continue
        if resp.status_code == 202:
            location = resp.headers.get("location") or location
            offset += len(piece)
            progress.reached(offset)
            del resp, piece
            # httpx's request/response objects form reference cycles that keep each sent
            # chunk alive until the cycle collector runs, and big byte strings never trigger
            # it: collect the young generations so memory stays at one chunk, not the blob
            gc.collect(1)
            continue
        failures += 1
        offset = _after_failed_patch(client, repository, location, scopes, failures, None, resp)
    _check_eof(stream)
    return _put_final(client, repository, desc, location, b"", 0, scopes, progress, already=size)


class _Progress:
    """Reports each byte once, even when a resume resends some."""

    def __init__(self, hook: ProgressHook | None) -> None:
        self.hook = hook
        self.high = 0

    def reached(self, offset: int) -> None:
        if offset > self.high:
            if self.hook is not None:
                self.hook(offset - self.high)
            self.high = offset


def _check_eof(stream: BinaryIO) -> None:
    # reaching EOF makes a VerifyingReader check the digest before the final PUT commits it
    if stream.read(1):
        raise DigestMismatchError("the source sent more data than its descriptor declares")


def _check_eof_at(stream: BinaryIO, end: int) -> None:
    """A file must end where its descriptor says (the registry checks the digest itself)."""
    stream.seek(end)
    _check_eof(stream)


def _give_up_after(
    client: RegistryClient,
    failures: int,
    exc: HoistError | None,
    resp: httpx.Response | None = None,
) -> None:
    if failures < client.retry.attempts:
        return
    if exc is not None:
        raise exc
    assert resp is not None
    raise client._error(resp, "push", None, None)


def _pause(client: RegistryClient, failures: int, resp: httpx.Response | None) -> None:
    reason = f"HTTP {resp.status_code}" if resp is not None else "connection dropped"
    client._sleep("upload", failures, client.retry.delay(failures, resp), reason)


def _put_final(
    client: RegistryClient,
    repository: str,
    desc: Descriptor,
    location: str,
    data: Body,
    length: int,
    scopes: Sequence[str],
    progress: _Progress,
    *,
    already: int = 0,
) -> int:
    """`PUT <location>?digest=` (with the whole small blob, or empty after chunks).

    The registry hashes what it received and refuses the PUT unless it matches the digest:
    that check is what makes an upload from an unverified file safe (see `hoist.copy`).
    """
    failures = 0
    while True:
        resp: httpx.Response | None = None
        failure: HoistError | None = None
        try:
            resp = client.request(
                "PUT",
                location,
                operation="push",
                scopes=scopes,
                repository=repository,
                params={"digest": str(desc.digest)},
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(length),
                },
                content=data,
                ok=(201, 204, *RETRYABLE_STATUS),
                retry=False,
            )
        except NetworkError as exc:
            failure = exc
        else:
            if resp.status_code in (201, 204):
                progress.reached(already + length)
                return already + length
        failures += 1
        _give_up_after(client, failures, failure, resp)
        _pause(client, failures, resp)
        # the PUT may have landed before the connection broke
        if client.blob_exists(repository, desc.digest, scopes) is not None:
            progress.reached(already + length)
            return already + length
        if failure is None:
            continue  # the server refused (5xx/429) before taking anything: same session again
        if already:
            raise UploadLostError(
                f"{client.registry} lost the end of the upload of {desc.digest.short}",
                why="the final request failed and the session cannot be trusted",
                fix="push again",
            )
        # the connection broke mid-body: the session may hold part of it, so start a new one
        sess = start_upload(client, repository, scopes)
        assert sess is not None
        location = sess.location
