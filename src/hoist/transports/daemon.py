"""A Docker-compatible daemon as a copy source and destination (`docker-daemon:NAME`).

hoist itself needs no daemon, but many users have images in one (built with `docker build`, or
held by podman): this transport lets `hoist copy docker-daemon:app:1 REGISTRY/app:1` and
`hoist load docker-daemon:app:1` take them from there, and `hoist copy SRC docker-daemon:NAME`
hand an image back. It speaks the Docker Engine API, which Docker and podman's
`podman system service` both serve.

Reading: `GET /images/NAME/get` streams a `docker save` tarball. Its index (`manifest.json`)
may come last in the stream, so the tar is spooled to a temp file (under TMPDIR) and imported,
exactly as `hoist load` imports it, into a private temporary store; nothing is held in memory.
The export's layers are uncompressed; registries (and the local store) want gzip, and the
compressed bytes are what the manifest names, so the import compresses each layer once,
deterministically (`hoist.store.compress`: the same layer always gets the same digest, so
re-pushing an unchanged image finds its layers already there). The image ID (the config
digest) does not change.

Writing: the image is written as a `docker save` tarball by the archive transport (gzip layers
decompressed and checked against their diffIDs), spooled to a temp file and streamed to
`POST /images/load`.

Where the daemon is: `DOCKER_HOST` (`unix:///path`, or `tcp://host:port` without TLS), else
`/var/run/docker.sock`, as the docker CLI does; the constructors take a `host` that overrides
both. Failures name the socket and say how to start the daemon or point hoist elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final, NoReturn
from urllib.parse import quote, urlsplit

import httpx

from hoist.errors import (
    AuthError,
    HoistError,
    InvalidContentError,
    NetworkError,
    NotFoundError,
    UsageError,
)
from hoist.oci import Descriptor, Digest, Manifest
from hoist.reference import Reference
from hoist.store.importer import load
from hoist.store.store import ImageStore
from hoist.transports.archive import ArchiveDestination
from hoist.transports.base import BlobResult

DEFAULT_SOCKET: Final = "/var/run/docker.sock"
#: The newest Engine API version hoist asks for; older daemons are spoken to in their own
#: version (the endpoints used here have not changed since 1.24), newer ones in this one.
MAX_API_VERSION: Final = (1, 47)
_CHUNK: Final = 1 << 20
_MAX_ERROR_BODY: Final = 64 * 1024
_START_FIX: Final = (
    "start it (`sudo systemctl start docker`; for podman: `systemctl --user start "
    "podman.socket` and export DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock), or "
    "point hoist at the daemon you mean: export DOCKER_HOST=unix:///path/to/docker.sock"
)


@dataclass(frozen=True)
class DaemonAddress:
    """Where the daemon listens: a unix socket path, or a plain-HTTP TCP base URL."""

    label: str  # as the user would write it, e.g. unix:///var/run/docker.sock
    socket: Path | None
    base_url: str


def daemon_address(host: str | None = None) -> DaemonAddress:
    """Parse `host`, else `DOCKER_HOST`, else the default socket; unsupported schemes are
    refused with what to use instead."""
    text = host or os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
    if text.startswith("/"):
        text = f"unix://{text}"
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise UsageError(
            f"daemon address {text!r} has no scheme",
            fix="use unix:///path/to/docker.sock or tcp://HOST:PORT",
        )
    if scheme == "unix":
        if not rest.startswith("/"):
            raise UsageError(
                f"daemon address {text!r} is not an absolute socket path",
                fix="use unix:///path/to/docker.sock",
            )
        return DaemonAddress(text, Path(rest), "http://docker")
    if scheme in ("tcp", "http"):
        if os.environ.get("DOCKER_TLS_VERIFY"):
            raise UsageError(
                f"hoist cannot reach the daemon at {text} over TLS yet",
                why="DOCKER_TLS_VERIFY asks for a TLS connection, which this version of hoist "
                "does not implement for daemons",
                fix="use the daemon's unix socket (DOCKER_HOST=unix:///var/run/docker.sock), "
                "e.g. on the daemon's machine or through `ssh -L /tmp/d.sock:/var/run/docker.sock`",
            )
        parts = urlsplit(f"http://{rest}")
        try:
            port = parts.port or 2375
        except ValueError:
            port = 0
        if not parts.hostname or not port:
            raise UsageError(f"daemon address {text!r} is not HOST:PORT", fix="use tcp://HOST:PORT")
        netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return DaemonAddress(text, None, f"http://{netloc}:{port}")
    raise UsageError(
        f"hoist cannot reach a daemon at {text!r}",
        why=f"{scheme}:// daemon addresses are not supported; only unix:// sockets and plain "
        "tcp:// are",
        fix="set DOCKER_HOST=unix:///path/to/docker.sock (for ssh://, forward the socket: "
        "ssh -L /tmp/d.sock:/var/run/docker.sock HOST)",
    )


def _cause(exc: BaseException) -> BaseException | None:
    """The innermost OS error under an httpx exception (it wraps them twice)."""
    seen: BaseException | None = exc
    found: BaseException | None = None
    for _ in range(6):
        if seen is None:
            break
        if isinstance(seen, OSError):
            found = seen
        seen = seen.__cause__ or seen.__context__
    return found


def connect_error(address: DaemonAddress, exc: BaseException) -> HoistError:
    """What a failed connection means for the user: no socket, no permission, or nobody home."""
    cause = _cause(exc)
    sock = address.socket
    if isinstance(cause, PermissionError) or (
        sock is not None and sock.exists() and not os.access(sock, os.R_OK | os.W_OK)
    ):
        return AuthError(
            f"permission denied on the Docker daemon socket {sock or address.label}",
            why="the daemon's socket is owned by root and the docker group, and this user "
            "is in neither",
            fix="add yourself to the group: sudo usermod -aG docker $USER (then log in again, "
            "or run `newgrp docker`); or run hoist with sudo",
        )
    if sock is not None and not sock.exists():
        return NetworkError(
            f"no Docker daemon at {address.label}",
            why=f"the socket {sock} does not exist: is the daemon running? (it may also listen "
            "elsewhere: DOCKER_HOST says where)",
            fix=_START_FIX,
        )
    if sock is not None and not stat.S_ISSOCK(sock.stat().st_mode):
        return NetworkError(
            f"{sock} is not a socket",
            why="DOCKER_HOST (or the default) names a file that is not the daemon's socket",
            fix="export DOCKER_HOST=unix:///path/to/docker.sock",
        )
    reason = getattr(cause, "strerror", None) or str(exc) or type(exc).__name__
    return NetworkError(
        f"cannot connect to the Docker daemon at {address.label}: {reason}",
        why="nothing is listening there: is the daemon running?",
        fix=_START_FIX,
    )


class DaemonClient:
    """The few Engine API calls hoist needs, with errors translated for the user."""

    def __init__(self, host: str | None = None) -> None:
        self.address = daemon_address(host)
        transport = (
            httpx.HTTPTransport(uds=str(self.address.socket))
            if self.address.socket is not None
            else httpx.HTTPTransport()
        )
        # No read timeout on the big transfers: podman writes the whole tar before the first
        # byte of a save, and a load answers only when the daemon has unpacked everything.
        self._http = httpx.Client(
            transport=transport,
            base_url=self.address.base_url,
            timeout=httpx.Timeout(None, connect=15.0),
        )
        self._prefix: str | None = None

    def close(self) -> None:
        self._http.close()

    def _fail(self, exc: httpx.TransportError, doing: str) -> NoReturn:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            raise connect_error(self.address, exc) from None
        raise NetworkError(
            f"the Docker daemon at {self.address.label} broke off while {doing}: {exc}",
            why="the daemon stopped or restarted, or the connection was cut",
            fix="check that the daemon is running and retry",
        ) from None

    def api(self, path: str) -> str:
        """`path` under the API version both sides speak (negotiated once, via `/_ping`)."""
        if self._prefix is None:
            try:
                resp = self._http.get("/_ping", timeout=httpx.Timeout(30.0, connect=15.0))
            except httpx.TransportError as exc:
                self._fail(exc, "answering a ping")
            if resp.status_code >= 400:
                self._raise_for(resp, "ping")
            self._prefix = _version_prefix(resp.headers.get("Api-Version", ""))
        return self._prefix + path

    def ping(self) -> None:
        """Fail now, with a clear error, if the daemon cannot be reached."""
        self.api("/_ping")

    def _raise_for(self, resp: httpx.Response, what: str, name: str | None = None) -> NoReturn:
        message = _error_message(resp)
        if resp.status_code == 404 and name is not None:
            raise NotFoundError(
                f"the Docker daemon at {self.address.label} has no image {name!r}",
                why=f"the daemon said: {message}",
                fix="list its images with `docker images` (or `podman images`); pull or build "
                "the image there first, or name it as the daemon does (e.g. localhost/app:1 "
                "for podman)",
            )
        if resp.status_code in (401, 403):
            raise AuthError(
                f"the Docker daemon at {self.address.label} refused to {what}: {message}",
                why="an authorization plugin or proxy in front of the daemon denied the request",
                fix="ask the daemon's administrator for access",
            )
        raise HoistError(
            f"the Docker daemon at {self.address.label} failed to {what}: {message}",
            why=f"it answered HTTP {resp.status_code}",
            fix="check the daemon's log (journalctl -u docker, or the podman service output)",
        )

    def save(self, name: str, out: BinaryIO) -> int:
        """Stream `docker save NAME` into `out`; returns the number of bytes written."""
        url = self.api(f"/images/{quote(name, safe='/:@')}/get")
        total = 0
        try:
            with self._http.stream("GET", url) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    self._raise_for(resp, f"export {name}", name)
                for chunk in resp.iter_raw(_CHUNK):
                    out.write(chunk)
                    total += len(chunk)
        except httpx.TransportError as exc:
            self._fail(exc, f"exporting {name}")
        return total

    def load(self, tar: Path) -> list[str]:
        """`docker load` the tarball at `tar` (streamed); returns what the daemon reported."""
        url = self.api("/images/load")
        size = tar.stat().st_size

        def body() -> Iterator[bytes]:
            with tar.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    yield chunk

        try:
            resp = self._http.post(
                url,
                content=body(),
                headers={"Content-Type": "application/x-tar", "Content-Length": str(size)},
            )
        except httpx.TransportError as exc:
            self._fail(exc, "loading the image")
        if resp.status_code >= 400:
            self._raise_for(resp, "load the image")
        messages: list[str] = []
        for obj in _json_stream(resp.text):
            error = obj.get("error") or (obj.get("errorDetail") or {}).get("message")
            if error:
                raise HoistError(
                    f"the Docker daemon at {self.address.label} failed to load the image: {error}",
                    fix="check the daemon's log (journalctl -u docker, or the podman service "
                    "output)",
                )
            text = obj.get("stream") or obj.get("status")
            if isinstance(text, str) and text.strip():
                messages.append(text.strip())
        return messages


def _version_prefix(server: str) -> str:
    """`/vX.Y` for min(server's version, ours); no prefix (the daemon's current) if unknown."""
    try:
        major, minor = (int(p) for p in server.split(".", 1))
    except ValueError:
        return ""
    use = min((major, minor), MAX_API_VERSION)
    return f"/v{use[0]}.{use[1]}"


def _error_message(resp: httpx.Response) -> str:
    text = resp.content[:_MAX_ERROR_BODY].decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError):
        obj = json.loads(text)
        if isinstance(obj, dict) and isinstance(obj.get("message"), str):
            return str(obj["message"])
    return text or f"HTTP {resp.status_code}"


def _json_stream(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a progress stream (concatenated or one per line)."""
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return
        if isinstance(obj, dict):
            yield obj


def _daemon_name(reference: Reference) -> str:
    """The name as the daemon knows it: docker's short form (`app:1`, `localhost/app:1`)."""
    return reference.familiar


@contextlib.contextmanager
def saved_image(
    reference: Reference, *, host: str | None = None, scratch: Path | None = None
) -> Iterator[Path]:
    """The daemon's `docker save` of `reference`, as a temp tar file removed afterwards."""
    client = DaemonClient(host)
    tmp = Path(tempfile.mkdtemp(prefix="hoist-daemon-", dir=scratch))
    try:
        path = tmp / "image.tar"
        with path.open("wb") as out:
            client.save(_daemon_name(reference), out)
        yield path
    finally:
        client.close()
        shutil.rmtree(tmp, ignore_errors=True)


class DaemonSource:
    """One image in a daemon, exported once and served with gzip-compressed layers.

    The export is imported into a private, temporary store by the same code as `hoist load`
    (`hoist.store.importer`): every layer is checked against the config's diffIDs and
    compressed deterministically, and the manifest is the one `hoist load` would make, so
    `hoist copy docker-daemon:X REG/X` and `hoist load docker-daemon:X && hoist push X` give
    the same digest.
    """

    def __init__(
        self, reference: Reference, *, host: str | None = None, scratch: Path | None = None
    ) -> None:
        self.reference = reference
        name = _daemon_name(reference)
        self._dir = Path(tempfile.mkdtemp(prefix="hoist-daemon-", dir=scratch))
        try:
            self._store = ImageStore(self._dir / "store")
            # the tar is deleted as soon as it is imported: the store holds all that is needed
            with saved_image(reference, host=host, scratch=self._dir) as tar:
                try:
                    loaded = load(tar, self._store)
                except InvalidContentError as exc:
                    raise InvalidContentError(
                        f"the daemon's export of {name} cannot be read: {exc.what}",
                        why=exc.why,
                        fix="retry; if it persists, check the image in the daemon "
                        f"(docker image inspect {name})",
                    ) from None
            if len(loaded) != 1:
                raise InvalidContentError(
                    f"the daemon exported {len(loaded)} images for {name}, expected one"
                )
            self._root_digest = loaded[0].descriptor.digest
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise

    def describe(self) -> str:
        return f"docker-daemon:{_daemon_name(self.reference)}"

    def root(self) -> Manifest:
        return self._store.manifest(self._root_digest)

    def manifest(self, digest: Digest) -> Manifest:
        return self._store.manifest(digest)

    @contextlib.contextmanager
    def open_blob(self, desc: Descriptor) -> Iterator[BinaryIO]:
        with self._store.blobs.open(desc.digest) as fh:
            yield fh

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


class DaemonDestination:
    """Loads one image into a daemon under `reference`'s name, as `docker load` would."""

    def __init__(
        self, reference: Reference, *, host: str | None = None, scratch: Path | None = None
    ) -> None:
        if reference.digest is not None:
            raise UsageError(
                f"docker-daemon:{reference.familiar} names a digest; a daemon stores images "
                "under tags",
                fix=f"use docker-daemon:{reference.familiar_name}:TAG",
            )
        self.reference = reference
        self._client = DaemonClient(host)
        try:
            self._client.ping()  # before any blob is copied: a missing daemon fails at once
        except BaseException:
            self._client.close()
            raise
        self._dir = Path(tempfile.mkdtemp(prefix="hoist-daemon-", dir=scratch))
        self._archive = ArchiveDestination(self._dir / "image.tar", reference)
        self.messages: list[str] = []

    def describe(self) -> str:
        return f"docker-daemon:{_daemon_name(self.reference)}"

    def has_blob(self, desc: Descriptor) -> bool:
        return self._archive.has_blob(desc)

    def put_blob(self, desc: Descriptor, stream: BinaryIO) -> BlobResult:
        return self._archive.put_blob(desc, stream)

    def put_manifest(self, manifest: Manifest, tag: str | None) -> None:
        self._archive.put_manifest(manifest, tag)

    def commit(self) -> None:
        self._archive.commit()
        if self._archive.path.exists():
            self.messages = self._client.load(self._archive.path)

    def close(self) -> None:
        self._archive.close()
        self._client.close()
        shutil.rmtree(self._dir, ignore_errors=True)
