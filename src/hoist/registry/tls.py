"""Transport security: which scheme to use for a registry and which certificates to trust.

Rules, as docker applies them: HTTPS with verification by default; extra CAs (and a client
certificate) from `/etc/docker/certs.d/HOST[:PORT]/` and `--ca-cert`; plain HTTP only for
registries on this machine (localhost, 127.0.0.0/8, ::1) or ones the user listed as insecure in
hoist's config (`insecure-registries` in `config.toml` under `hoist.paths.hoist_config_dir()`)
or with `--insecure`. Insecure registries are tried over HTTPS without verification first, then
HTTP, so a registry with a self-signed certificate still works.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Final

from hoist.errors import InvalidContentError
from hoist.paths import hoist_config_dir
from hoist.reference import is_loopback_registry

DOCKER_CERTS_DIR: Final = Path("/etc/docker/certs.d")


def hoist_config_file() -> Path:
    return hoist_config_dir() / "config.toml"


@lru_cache(maxsize=4)
def _configured_insecure(path: Path, mtime: float) -> frozenset[str]:
    import tomllib  # only when the file exists

    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidContentError(
            f"cannot read hoist's config file {path}: {exc}",
            fix=f"fix or remove {path}",
        ) from None
    value = data.get("insecure-registries", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidContentError(
            f"{path}: insecure-registries must be a list of host[:port] strings",
            fix='for example: insecure-registries = ["registry.internal:5000"]',
        )
    return frozenset(v.lower() for v in value)


def configured_insecure_registries() -> frozenset[str]:
    """Hosts listed under `insecure-registries` in hoist's config.toml (empty if no file)."""
    path = hoist_config_file()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return frozenset()
    return _configured_insecure(path, mtime)


@dataclass(frozen=True)
class Endpoint:
    """One way to reach a registry: base URL, and whether (and how) to verify TLS."""

    base_url: str
    verified: bool
    options: TransportOptions
    host: str

    @property
    def secure(self) -> bool:
        return self.base_url.startswith("https://") and self.verified

    def verify(self) -> ssl.SSLContext | bool:
        """Built only when this endpoint is tried: loading CA bundles costs tens of ms."""
        if not self.base_url.startswith("https://") or not self.verified:
            return False
        return self.options.ssl_context(self.host)


@dataclass(frozen=True)
class TransportOptions:
    """User choices about transport security, shared by every registry a command talks to."""

    insecure: bool = False
    ca_certs: tuple[Path, ...] = ()
    certs_dir: Path = DOCKER_CERTS_DIR
    extra_insecure: frozenset[str] = field(default_factory=frozenset)

    def is_insecure(self, host: str) -> bool:
        h = host.lower()
        return self.insecure or h in self.extra_insecure or h in configured_insecure_registries()

    def endpoints(self, host: str) -> list[Endpoint]:
        """Candidates in order: verified HTTPS, then (only where allowed) the weaker ones.

        On loopback plain HTTP is tried first (local registries nearly always speak it, and it
        saves building a TLS context on every command); a TLS server answers that with 400 and
        HTTPS is tried next, still verified.
        """
        https, http = f"https://{host}", f"http://{host}"
        if self.is_insecure(host):
            return [Endpoint(https, False, self, host), Endpoint(http, False, self, host)]
        if is_loopback_registry(host):
            return [Endpoint(http, False, self, host), Endpoint(https, True, self, host)]
        return [Endpoint(https, True, self, host)]

    def ssl_context(self, host: str) -> ssl.SSLContext:
        """System + certifi roots, plus certs.d/HOST CAs and client cert, plus --ca-cert."""
        ctx = ssl.create_default_context()
        try:
            import certifi

            ctx.load_verify_locations(certifi.where())
        except (ImportError, OSError):
            pass
        for env in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
            value = os.environ.get(env)
            if value and Path(value).is_file():
                ctx.load_verify_locations(value)
        host_dir = self.certs_dir / host
        cas: list[Path] = list(self.ca_certs)
        if host_dir.is_dir():
            cas += sorted(host_dir.glob("*.crt"))
            for cert in sorted(host_dir.glob("*.cert")):
                key = cert.with_suffix(".key")
                if key.is_file():
                    ctx.load_cert_chain(cert, key)
        for ca in cas:
            try:
                ctx.load_verify_locations(ca)
            except (OSError, ssl.SSLError) as exc:
                raise InvalidContentError(
                    f"cannot load CA certificate {ca}: {exc}",
                    why="it must be a PEM file with one or more certificates",
                ) from None
        return ctx
