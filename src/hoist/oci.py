"""The image model: digests, media types, descriptors and manifests (pure, no I/O).

Shared by every transport, the copy engine and the embedded registry, so that "what is a valid
digest" or "which media types are manifests" is decided in exactly one place. Follows the OCI
image-spec v1.1 and Docker's image manifest v2 schema 2, which registries treat as equivalent.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

from hoist.errors import DigestMismatchError, InvalidContentError

# --- media types -------------------------------------------------------------------------

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_EMPTY: Final = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER: Final = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

IMAGE_MANIFESTS: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_MANIFESTS: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_TYPES: Final = IMAGE_MANIFESTS | INDEX_MANIFESTS
GZIP_LAYERS: Final = frozenset({OCI_LAYER_GZIP, DOCKER_LAYER_GZIP, DOCKER_FOREIGN_LAYER})
UNCOMPRESSED_LAYERS: Final = frozenset({OCI_LAYER, DOCKER_LAYER})

#: The registry-side ceiling for a manifest (distribution and the OCI spec use 4 MiB).
MAX_MANIFEST_BYTES: Final = 4 * 1024 * 1024

# The annotation an OCI layout's index uses to name a manifest.
ANNOTATION_REF_NAME: Final = "org.opencontainers.image.ref.name"

# --- digests -----------------------------------------------------------------------------

_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)\Z")
_HEX_LENGTHS: Final = {"sha256": 64, "sha512": 128}


class Digest(str):
    """A content digest such as `sha256:9c4e...`, validated on construction.

    A `str` subclass so it serializes and compares as the plain string everywhere, while the
    type says "this has been checked". Only sha256 and sha512 are accepted: those are the
    algorithms registries verify; anything else could never be checked here.
    """

    __slots__ = ()

    def __new__(cls, value: str) -> Digest:
        m = _DIGEST_RE.match(value)
        if not m:
            raise InvalidContentError(
                f"invalid digest {value!r}",
                why="a digest is ALGORITHM:HEX, for example sha256: followed by 64 hex digits",
            )
        algorithm, encoded = m.group(1), m.group(2)
        expected = _HEX_LENGTHS.get(algorithm)
        if expected is None:
            raise InvalidContentError(
                f"unsupported digest algorithm {algorithm!r} in {value!r}",
                why="only sha256 and sha512 digests can be verified",
            )
        if len(encoded) != expected or not re.fullmatch(r"[a-f0-9]+", encoded):
            raise InvalidContentError(
                f"invalid digest {value!r}",
                why=f"a {algorithm} digest has exactly {expected} lowercase hex digits",
            )
        return super().__new__(cls, value)

    @property
    def algorithm(self) -> str:
        return self.split(":", 1)[0]

    @property
    def hex(self) -> str:
        return self.split(":", 1)[1]

    @property
    def short(self) -> str:
        """The 12-hex-digit form docker shows (image IDs, layer lines)."""
        return self.hex[:12]

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of a byte string."""
        return cls(f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}")

    def hasher(self) -> hashlib._Hash:
        """A fresh hash object of this digest's algorithm."""
        return hashlib.new(self.algorithm)


def is_digest(value: str) -> bool:
    """True if `value` is a digest hoist can verify."""
    try:
        Digest(value)
    except InvalidContentError:
        return False
    return True


class VerifyingReader:
    """Wraps a stream, hashes what passes through, and checks size and digest at EOF.

    This is how "a digest is always verified before content is believed" is enforced while
    streaming: the mismatch surfaces as an exception on the read that reaches the end, before
    the consumer commits anything.
    """

    def __init__(self, raw: BinaryIO, digest: Digest, size: int | None = None) -> None:
        self._raw = raw
        self._digest = digest
        self._size = size
        self._hash = digest.hasher()
        self._seen = 0
        self._checked = False

    def read(self, n: int = -1) -> bytes:
        chunk = self._raw.read(n)
        if chunk:
            self._seen += len(chunk)
            if self._size is not None and self._seen > self._size:
                raise DigestMismatchError(
                    f"content for {self._digest} is larger than the {self._size} bytes declared",
                    why="the source sent more data than its descriptor says",
                )
            self._hash.update(chunk)
        elif n != 0:
            self.verify()
        return chunk

    def verify(self) -> None:
        """Check the size and digest of everything read so far (idempotent)."""
        if self._checked:
            return
        if self._size is not None and self._seen != self._size:
            raise DigestMismatchError(
                f"content for {self._digest} is {self._seen} bytes, expected {self._size}",
                why="the content is truncated or the descriptor is wrong",
            )
        actual = f"{self._digest.algorithm}:{self._hash.hexdigest()}"
        if actual != self._digest:
            raise DigestMismatchError(
                f"content does not match its digest: expected {self._digest}, got {actual}",
                why="the data was corrupted in storage or in transit, or the source lied",
            )
        self._checked = True

    @property
    def bytes_read(self) -> int:
        return self._seen


def iter_chunks(stream: BinaryIO, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Read `stream` to the end in chunks (never holding it whole)."""
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            return
        yield chunk


# --- descriptors and manifests -----------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    """An index entry's platform, e.g. linux/arm64/v8."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse `os/arch[/variant]` as given to `--platform`."""
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InvalidContentError(
                f"invalid platform {text!r}",
                why="a platform is OS/ARCH or OS/ARCH/VARIANT",
                fix="use for example --platform linux/amd64 or --platform linux/arm64/v8",
            )
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Platform:
        return cls(str(obj.get("os", "")), str(obj.get("architecture", "")), obj.get("variant"))

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    """A typed, sized, digest-addressed pointer to content (image-spec descriptor)."""

    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: Any) -> Descriptor:
        if not isinstance(obj, dict):
            raise InvalidContentError("a descriptor is not a JSON object")
        try:
            size = obj["size"]
            digest = Digest(str(obj["digest"]))
        except KeyError as exc:
            raise InvalidContentError(f"a descriptor has no {exc.args[0]!r} field") from None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidContentError(f"descriptor {digest} has an invalid size {size!r}")
        platform = obj.get("platform")
        annotations = obj.get("annotations") or {}
        return cls(
            media_type=str(obj.get("mediaType", "")),
            digest=digest,
            size=size,
            platform=Platform.from_json(platform) if isinstance(platform, dict) else None,
            annotations=dict(annotations) if isinstance(annotations, dict) else {},
            artifact_type=obj.get("artifactType"),
            urls=tuple(obj.get("urls") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.urls:
            out["urls"] = list(self.urls)
        return out


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest or index together with its exact bytes.

    The bytes are kept because a manifest's digest is of its bytes: re-serializing would change
    the digest, so hoist always moves the original bytes and only reads the parsed view.
    """

    data: bytes
    media_type: str
    digest: Digest
    json: Mapping[str, Any]

    @classmethod
    def parse(cls, data: bytes, media_type: str | None = None) -> Manifest:
        """Parse manifest bytes; `media_type` (e.g. from Content-Type) wins if the body has none."""
        if len(data) > MAX_MANIFEST_BYTES:
            raise InvalidContentError(
                f"manifest is {len(data)} bytes, over the {MAX_MANIFEST_BYTES}-byte limit",
                why="registries refuse manifests larger than 4 MiB",
            )
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidContentError(f"manifest is not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise InvalidContentError("manifest is not a JSON object")
        declared = obj.get("mediaType")
        mt = declared if isinstance(declared, str) and declared else (media_type or "")
        if not mt:
            mt = OCI_INDEX if "manifests" in obj else OCI_MANIFEST
        if mt not in MANIFEST_TYPES:
            raise InvalidContentError(
                f"unsupported manifest media type {mt!r}",
                why="hoist handles OCI image manifests and indexes and Docker schema 2 "
                "manifests and manifest lists",
            )
        return cls(data=data, media_type=mt, digest=Digest.of(data), json=obj)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_MANIFESTS

    @property
    def config(self) -> Descriptor:
        if self.is_index:
            raise InvalidContentError(f"{self.digest} is an index and has no config")
        return Descriptor.from_json(self.json.get("config"))

    @property
    def layers(self) -> list[Descriptor]:
        if self.is_index:
            return []
        raw = self.json.get("layers") or []
        if not isinstance(raw, list):
            raise InvalidContentError(f"manifest {self.digest} has a non-list 'layers'")
        return [Descriptor.from_json(x) for x in raw]

    @property
    def manifests(self) -> list[Descriptor]:
        if not self.is_index:
            return []
        raw = self.json.get("manifests") or []
        if not isinstance(raw, list):
            raise InvalidContentError(f"index {self.digest} has a non-list 'manifests'")
        return [Descriptor.from_json(x) for x in raw]

    @property
    def subject(self) -> Descriptor | None:
        raw = self.json.get("subject")
        return Descriptor.from_json(raw) if raw is not None else None

    @property
    def artifact_type(self) -> str | None:
        at = self.json.get("artifactType")
        if isinstance(at, str):
            return at
        if not self.is_index:
            cfg = self.json.get("config")
            if isinstance(cfg, dict) and cfg.get("mediaType") not in (OCI_CONFIG, DOCKER_CONFIG):
                mt = cfg.get("mediaType")
                return mt if isinstance(mt, str) else None
        return None

    def blobs(self) -> list[Descriptor]:
        """Config then layers: the blobs an image manifest needs (empty for an index)."""
        if self.is_index:
            return []
        return [self.config, *self.layers]

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.data))


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON for content hoist creates (sorted keys, no spaces)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
