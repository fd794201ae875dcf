"""Turn what a user typed into a copy end: `oci:DIR[:TAG]`, `docker-archive:FILE[:NAME]`,
`docker-daemon:NAME`, `docker://NAME`, or a plain image name (a registry).

This is the only place that knows the transport prefixes (skopeo's spelling, so commands
carry over). File transports are imported lazily and only when used, so `hoist copy` between
registries never imports tar handling, and the other way round.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoist.auth.keychain import Keychain, default_keychain
from hoist.errors import HoistError, UsageError
from hoist.reference import TAG_RE, Reference
from hoist.registry.client import RegistryClient, RetryHook
from hoist.registry.metadata import BlobLocations
from hoist.registry.tls import TransportOptions
from hoist.transports.base import ImageDestination, ImageSource

TRANSPORTS = ("oci:", "docker-archive:", "docker-daemon:", "docker://")


@dataclass
class EndOptions:
    """How to reach one end: its credentials and the transport security settings."""

    keychain: Keychain | None = None
    transport: TransportOptions = field(default_factory=TransportOptions)
    locations: BlobLocations | None = None
    on_retry: RetryHook | None = None

    def client(self, registry: str) -> RegistryClient:
        return RegistryClient(
            registry,
            keychain=self.keychain or default_keychain(),
            options=self.transport,
            on_retry=self.on_retry,
        )


@dataclass(frozen=True)
class Spec:
    """A parsed end: which transport, and its arguments."""

    transport: str  # registry | oci | docker-archive | docker-daemon
    path: Path | None = None
    reference: Reference | None = None
    tag: str | None = None
    text: str = ""


def parse_spec(text: str) -> Spec:
    """Parse one end as typed; errors say which part is wrong."""
    if text.startswith("oci:"):
        rest = text[4:]
        path, tag = rest, None
        head, sep, tail = rest.rpartition(":")
        if sep and head and "/" not in tail and TAG_RE.match(tail):
            path, tag = head, tail
        if not path:
            raise UsageError(f"{text!r} names no directory", fix="use oci:DIR or oci:DIR:TAG")
        return Spec("oci", path=Path(path), tag=tag, text=text)
    if text.startswith("docker-archive:"):
        rest = text[len("docker-archive:") :]
        path, sep, name = rest.partition(":")
        if not path:
            raise UsageError(
                f"{text!r} names no file", fix="use docker-archive:FILE or docker-archive:FILE:NAME"
            )
        ref = Reference.parse(name) if sep and name else None
        return Spec("docker-archive", path=Path(path), reference=ref, text=text)
    if text.startswith("docker-daemon:"):
        ref = Reference.parse(text[len("docker-daemon:") :])
        return Spec("docker-daemon", reference=ref, text=text)
    name = text[len("docker://") :] if text.startswith("docker://") else text
    return Spec("registry", reference=Reference.parse(name), text=text)


def _load(module: str, attr: str, spec: Spec) -> Any:
    try:
        return getattr(importlib.import_module(f"hoist.transports.{module}"), attr)
    except (ImportError, AttributeError):
        raise HoistError(
            f"the {spec.transport}: transport is not available in this build of hoist",
            fix="use a registry name, or another transport (oci:, docker-archive:)",
        ) from None


def open_source(text: str, options: EndOptions | None = None) -> ImageSource:
    """An `ImageSource` for `text`."""
    opts = options or EndOptions()
    spec = parse_spec(text)
    if spec.transport == "registry":
        from hoist.transports.registry import RegistrySource

        assert spec.reference is not None
        return RegistrySource(
            opts.client(spec.reference.registry), spec.reference, locations=opts.locations
        )
    if spec.transport == "oci":
        source: ImageSource = _load("layout", "LayoutSource", spec)(spec.path, spec.tag)
        return source
    if spec.transport == "docker-archive":
        name = str(spec.reference) if spec.reference is not None else None
        archive: ImageSource = _load("archive", "ArchiveSource", spec)(spec.path, name)
        return archive
    daemon: ImageSource = _load("daemon", "DaemonSource", spec)(spec.reference)
    return daemon


def open_destination(
    text: str, options: EndOptions | None = None
) -> tuple[ImageDestination, str | None]:
    """An `ImageDestination` for `text`, and the tag the root manifest goes under."""
    opts = options or EndOptions()
    spec = parse_spec(text)
    if spec.transport == "registry":
        from hoist.transports.registry import RegistryDestination

        ref = spec.reference
        assert ref is not None
        dest = RegistryDestination(opts.client(ref.registry), ref, locations=opts.locations)
        return dest, ref.tag
    if spec.transport == "oci":
        tag = spec.tag or "latest"
        layout: ImageDestination = _load("layout", "LayoutDestination", spec)(spec.path, tag)
        return layout, tag
    if spec.transport == "docker-archive":
        if spec.reference is None:
            archive: ImageDestination = _load("archive", "ArchiveDestination", spec)(
                spec.path, None
            )
            return archive, None
        archive = _load("archive", "ArchiveDestination", spec)(spec.path, spec.reference)
        return archive, spec.reference.tag
    assert spec.reference is not None
    daemon: ImageDestination = _load("daemon", "DaemonDestination", spec)(spec.reference)
    return daemon, spec.reference.tag
