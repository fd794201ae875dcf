"""Image references: parse, normalize and validate names exactly as the docker CLI does.

The registry prefix in a name decides where a push goes, so this module is the first line of
defence against the article's classic mistake (`myapp:1.4.0` silently means
`docker.io/library/myapp:1.4.0`). The grammar and normalization follow today's
distribution/reference (the library behind docker and containerd):

* the first component (before the first `/`) is a registry only if it contains `.` or `:`, is
  `localhost`, or has an uppercase letter; otherwise the name lives on Docker Hub;
* `index.docker.io` normalizes to `docker.io`; single-component Docker Hub names get `library/`;
* the default tag is `latest`, unless a digest pins the reference;
* repository paths are lowercase, at most 255 characters; tags are at most 128 characters.

A `Reference` is immutable and its `str()` round-trips: `Reference.parse(str(r)) == r`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from typing import Final

from hoist.errors import InvalidContentError, InvalidReferenceError
from hoist.oci import Digest

DEFAULT_REGISTRY: Final = "docker.io"
LEGACY_DEFAULT_REGISTRY: Final = "index.docker.io"
DOCKER_HUB_API_HOST: Final = "registry-1.docker.io"
OFFICIAL_PREFIX: Final = "library/"
DEFAULT_TAG: Final = "latest"
MAX_REPOSITORY_LENGTH: Final = 255
MAX_TAG_LENGTH: Final = 128

# --- the grammar (distribution/reference regexp.go, with ASCII-only \w) ------------------

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME}"

#: A whole reference: name, optional tag, optional digest.
REFERENCE_RE: Final = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?\Z")
#: A name split into optional domain and repository path.
NAME_RE: Final = re.compile(rf"^(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})\Z")
#: A repository path as it appears in the distribution API (`/v2/<name>/...`).
REPOSITORY_PATH_RE: Final = re.compile(rf"^{_REMOTE_NAME}\Z")
#: A tag.
TAG_RE: Final = re.compile(rf"^{_TAG}\Z")
#: A registry host with optional port.
REGISTRY_RE: Final = re.compile(rf"^{_DOMAIN_AND_PORT}\Z")
_PATH_COMPONENT_RE = re.compile(rf"^{_PATH_COMPONENT}\Z")
_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}\Z")


@dataclass(frozen=True)
class Reference:
    """A normalized image reference: where it lives (`registry`), what (`repository`), which
    version (`tag` and/or `digest`)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    # --- construction ----------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, *, default_tag: bool = True) -> Reference:
        """Parse a name as typed by a user (`myapp:1.4.0`, `reg.io:5000/team/app@sha256:...`).

        Raises `InvalidReferenceError` naming the part and the rule that was broken.
        With `default_tag` (the default), a name with neither tag nor digest gets `latest`.
        """
        if not isinstance(text, str):  # defensive: library callers
            raise InvalidReferenceError(f"invalid reference {text!r}: not a string")
        if _IDENTIFIER_RE.match(text):
            raise InvalidReferenceError(
                f"invalid reference {text!r}: a 64-character hex string is an image ID, not a name",
                why="repository names cannot be 64 hex digits, so they never look like IDs",
                fix="use a name such as myapp:1.4.0, or pass the ID where an ID is accepted",
            )
        registry, remainder = _split_registry(text)
        remote = remainder.split(":", 1)[0]
        if remote.lower() != remote:
            raise InvalidReferenceError(
                f"invalid reference {text!r}: repository name {remote.split('@')[0]!r} "
                "must be lowercase",
                why="registries only accept lowercase repository paths; only the registry "
                "host and the tag may contain uppercase letters",
                fix=f"use {text.replace(remote, remote.lower())!r}",
            )
        full = f"{registry}/{remainder}"
        m = REFERENCE_RE.match(full)
        if m is None:
            raise InvalidReferenceError(
                f"invalid reference {text!r}: {_explain(text, registry, remainder)}",
                why="image names are [REGISTRY[:PORT]/]PATH[:TAG][@DIGEST]; "
                "see 'hoist where --help'",
            )
        name, tag, digest_text = m.group(1), m.group(2), m.group(3)
        nm = NAME_RE.match(name)
        assert nm is not None  # REFERENCE_RE matched the same grammar
        if nm.group(1) != registry:
            # The regex only matched by reading the registry as a path component (docker then
            # yields an empty domain); that is never what the user meant.
            raise InvalidReferenceError(
                f"invalid reference {text!r}: registry {registry!r} is not a valid host[:port]",
                why="host names are letters, digits and '-' separated by '.', with an optional "
                ":PORT; IPv6 addresses go in [brackets]",
            )
        repository = nm.group(2)
        if len(repository) > MAX_REPOSITORY_LENGTH:
            raise InvalidReferenceError(
                f"invalid reference {text!r}: repository name is {len(repository)} characters",
                why=f"a repository path may be at most {MAX_REPOSITORY_LENGTH} characters",
            )
        digest: Digest | None = None
        if digest_text is not None:
            try:
                digest = Digest(digest_text)
            except InvalidContentError as exc:
                raise InvalidReferenceError(
                    f"invalid reference {text!r}: {exc.what}", why=exc.why
                ) from None
        if tag is None and digest is None and default_tag:
            tag = DEFAULT_TAG
        return cls(registry=registry, repository=repository, tag=tag, digest=digest)

    # --- views -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        """`registry/repository`, no tag or digest: docker's "repository" in `push` output."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        """The name as docker shows it: `myapp` for `docker.io/library/myapp`."""
        if self.registry != DEFAULT_REGISTRY:
            return self.name
        path = self.repository
        if path.startswith(OFFICIAL_PREFIX) and "/" not in path[len(OFFICIAL_PREFIX) :]:
            return path[len(OFFICIAL_PREFIX) :]
        return path

    @property
    def familiar(self) -> str:
        """The short display form, e.g. `myapp:1.4.0` or `alice/app@sha256:...`."""
        return self.familiar_name + self._suffix()

    @property
    def identifier(self) -> str:
        """What goes in `/v2/<name>/manifests/<identifier>`: the digest if pinned, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or DEFAULT_TAG

    @property
    def api_host(self) -> str:
        """The host to contact: Docker Hub's API is `registry-1.docker.io`, not `docker.io`."""
        return DOCKER_HUB_API_HOST if self.registry == DEFAULT_REGISTRY else self.registry

    @property
    def is_docker_hub(self) -> bool:
        return self.registry == DEFAULT_REGISTRY

    @property
    def is_official_image(self) -> bool:
        """True for `docker.io/library/*`: Docker's official images, which only Docker pushes."""
        return self.is_docker_hub and self.repository.startswith(OFFICIAL_PREFIX)

    def with_tag(self, tag: str) -> Reference:
        """The same repository under `tag` (any digest dropped)."""
        if not TAG_RE.match(tag):
            raise InvalidReferenceError(f"invalid tag {tag!r}", why=_TAG_RULE)
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> Reference:
        """The same repository pinned to `digest`, keeping the tag (docker's `name:tag@digest`)."""
        return replace(self, digest=Digest(digest))

    def without_version(self) -> Reference:
        """Only the repository (no tag, no digest)."""
        return replace(self, tag=None, digest=None)

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag is not None else ""
        return out + (f"@{self.digest}" if self.digest is not None else "")

    def __str__(self) -> str:
        return self.name + self._suffix()


_TAG_RULE = (
    "a tag is 1 to 128 characters of letters, digits, '_', '.' and '-', "
    "and does not start with '.' or '-'"
)


def parse_repository(text: str) -> Reference:
    """Parse a repository name without defaulting the tag (for `hoist tags REPO`)."""
    return Reference.parse(text, default_tag=False)


def _split_registry(name: str) -> tuple[str, str]:
    """Split off the registry the way docker does (distribution/reference splitDockerDomain)."""
    first, sep, rest = name.partition("/")
    if not sep:
        return DEFAULT_REGISTRY, OFFICIAL_PREFIX + name
    if first == "localhost":
        registry, remainder = first, rest
    elif first == LEGACY_DEFAULT_REGISTRY:
        registry, remainder = DEFAULT_REGISTRY, rest
    elif "." in first or ":" in first or first.lower() != first:
        registry, remainder = first, rest
    else:
        registry, remainder = DEFAULT_REGISTRY, name
    if registry == DEFAULT_REGISTRY and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return registry, remainder


def has_explicit_registry(text: str) -> bool:
    """True if the user typed a registry prefix (so the name does not silently mean Docker Hub)."""
    first, sep, _ = text.partition("/")
    return bool(sep) and (
        first == "localhost" or "." in first or ":" in first or first.lower() != first
    )


def _explain(text: str, registry: str, remainder: str) -> str:
    """Say precisely which part of a name breaks which rule (for the error message)."""
    if not text:
        return "the name is empty"
    if text != text.strip() or any(c.isspace() for c in text):
        return "names cannot contain whitespace"
    if not REGISTRY_RE.match(registry):
        host, colon, port = (
            registry.rpartition(":") if "]" not in registry.rsplit(":", 1)[-1] else ("", "", "")
        )
        if colon and host and not port.isdigit() and REGISTRY_RE.match(host):
            return f"registry {registry!r} has a port {port!r} that is not a number"
        return f"registry {registry!r} is not a valid host[:port] (IPv6 needs [brackets])"
    rest, _, digest = remainder.partition("@")
    if "@" in text and not digest:
        return "nothing follows '@' (expected a digest such as sha256:...)"
    if digest and "@" in digest:
        return "more than one '@'"
    path, colon, tag = rest.rpartition(":") if ":" in rest.rsplit("/", 1)[-1] else (rest, "", "")
    if colon:
        if not tag:
            return "nothing follows ':' (expected a tag)"
        if len(tag) > MAX_TAG_LENGTH:
            return f"tag is {len(tag)} characters; {_TAG_RULE}"
        if not TAG_RE.match(tag):
            return f"tag {tag!r} is invalid: {_TAG_RULE}"
    if not path:
        return "the repository path is empty"
    for component in path.split("/"):
        if ":" in component:
            return (
                f"{component!r} has a ':' in the repository path: ':' may appear once, before "
                "the tag (or in the registry's port, which needs a '/' after it)"
            )
        if not component:
            return "the repository path has an empty component (a leading, trailing or double '/')"
        if not _PATH_COMPONENT_RE.match(component):
            return (
                f"path component {component!r} is invalid: components are lowercase letters and "
                "digits, separated by one '.', one or two '_', or any number of '-', and must "
                "start and end with a letter or digit"
            )
    if digest and not re.fullmatch(_DIGEST, digest):
        return (
            f"digest {digest!r} is invalid: a digest is ALGORITHM:HEX (sha256: and 64 hex digits)"
        )
    return "it does not match the reference grammar"


def registry_host(registry: str) -> str:
    """The host part of `registry` (without port or IPv6 brackets)."""
    if registry.startswith("["):
        return registry[1 : registry.index("]")]
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


def is_loopback_registry(registry: str) -> bool:
    """True for registries on this machine: `localhost`, 127.0.0.0/8, `[::1]` (any port).

    Plain HTTP is allowed to these without the user listing them as insecure.
    """
    host = registry_host(registry).lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
