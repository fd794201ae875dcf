"""`hoist serve` configuration: a YAML file (see examples/serve.yml, docs/server.md) plus flags.

Flags win over the file, the file over defaults. Everything is validated up front, so a typo
stops the server at start with the key that is wrong, rather than surfacing at the first push.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from hoist.errors import UsageError
from hoist.paths import hoist_home
from hoist.server.auth.access import AccessRule, parse_rules

AUTH_MODES: Final = ("none", "htpasswd", "token")
_DURATION_RE: Final = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass
class ServerConfig:
    """Everything `hoist serve` needs to start; defaults are a loopback dev registry."""

    addr: str = "127.0.0.1:5000"
    storage: str = "filesystem"
    root: Path = field(default_factory=lambda: hoist_home() / "registry")
    fsync: bool = True
    delete_enabled: bool = True
    upload_ttl: float = 24 * 3600.0
    manifest_cache_bytes: int = 64 << 20
    tls_cert: Path | None = None
    tls_key: Path | None = None
    auth: str = "none"
    htpasswd: Path | None = None
    realm: str = "hoist"
    token_realm: str | None = None
    token_service: str = "hoist"
    token_issuer: str = "hoist"
    token_expiration: int = 300
    token_key_file: Path | None = None
    anonymous_pull: bool = False
    access: list[AccessRule] | None = None
    insecure_no_auth: bool = False
    access_log: bool = False

    @property
    def host(self) -> str:
        return split_addr(self.addr)[0]

    @property
    def port(self) -> int:
        return split_addr(self.addr)[1]

    def validate(self) -> None:
        """Refuse combinations that would be unsafe or cannot work, saying how to fix them."""
        split_addr(self.addr)
        if self.auth not in AUTH_MODES:
            raise UsageError(f"unknown auth mode {self.auth!r}", fix="use none, htpasswd or token")
        if self.auth == "htpasswd" and self.htpasswd is None:
            raise UsageError(
                "htpasswd auth needs a password file", fix="pass --htpasswd FILE (bcrypt entries)"
            )
        if self.auth == "none" and not is_loopback(self.host) and not self.insecure_no_auth:
            raise UsageError(
                f"refusing to serve {self.addr} without authentication",
                why="anyone who can reach that address could push, overwrite and delete images",
                fix="add --htpasswd FILE (or auth: in --config), listen on 127.0.0.1, "
                "or pass --insecure-no-auth if this network is trusted",
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise UsageError("TLS needs both --tls-cert and --tls-key")
        if self.storage not in ("filesystem", "memory"):
            raise UsageError(
                f"unknown storage driver {self.storage!r}", fix="use filesystem or memory"
            )


def split_addr(addr: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`, or `:PORT` for all interfaces) -> (host, port)."""
    host, sep, port_text = addr.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise UsageError(
            f"invalid listen address {addr!r}", fix="use HOST:PORT, e.g. 127.0.0.1:5000"
        )
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_duration(value: Any, key: str) -> float:
    """Seconds from `300`, `"90s"`, `"30m"`, `"24h"` or `"7d"`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    m = _DURATION_RE.match(str(value).strip())
    if not m:
        raise UsageError(
            f"{key}: invalid duration {value!r}", fix="use e.g. 300, 90s, 30m, 24h or 7d"
        )
    return float(m.group(1)) * _UNITS[m.group(2)]


def _section(raw: Mapping[str, Any], key: str, where: str | None = None) -> Mapping[str, Any]:
    """The mapping under `key` ({} if absent), its keys checked against `_KNOWN[where]`."""
    where = key if where is None else where
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        raise UsageError(f"{where} must be a mapping in the config file")
    _check_keys(value, where)
    return value


_KNOWN: Final = {
    "": {"addr", "storage", "tls", "auth", "log", "insecure_no_auth"},
    "storage": {"driver", "root", "fsync", "delete", "upload_ttl", "manifest_cache_mb"},
    "tls": {"cert", "key"},
    "auth": {"htpasswd", "token", "anonymous_pull", "access", "realm"},
    "auth.token": {"realm", "service", "issuer", "expiration", "key_file"},
    "log": {"access"},
}


def _check_keys(raw: Mapping[str, Any], where: str) -> None:
    unknown = set(raw) - _KNOWN[where]
    if unknown:
        prefix = f"{where}." if where else ""
        raise UsageError(
            f"unknown config key {prefix}{sorted(unknown)[0]}",
            fix=f"known keys here: {', '.join(sorted(_KNOWN[where]))} (see docs/server.md)",
        )


def load_config(path: Path) -> ServerConfig:
    """Read a YAML config file; relative paths in it are relative to the file."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise UsageError(f"cannot read config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"config {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping):
        raise UsageError(f"config {path} must be a YAML mapping")
    base = path.parent

    def rel(value: Any) -> Path:
        p = Path(str(value)).expanduser()
        return p if p.is_absolute() else base / p

    cfg = ServerConfig()
    _check_keys(raw, "")
    if "addr" in raw:
        cfg.addr = str(raw["addr"])
    cfg.insecure_no_auth = bool(raw.get("insecure_no_auth", False))
    storage = _section(raw, "storage")
    cfg.storage = str(storage.get("driver", cfg.storage))
    if "root" in storage:
        cfg.root = rel(storage["root"])
    cfg.fsync = bool(storage.get("fsync", cfg.fsync))
    cfg.delete_enabled = bool(storage.get("delete", cfg.delete_enabled))
    if "upload_ttl" in storage:
        cfg.upload_ttl = parse_duration(storage["upload_ttl"], "storage.upload_ttl")
    if "manifest_cache_mb" in storage:
        cfg.manifest_cache_bytes = int(storage["manifest_cache_mb"]) << 20
    tls = _section(raw, "tls")
    if tls:
        cfg.tls_cert, cfg.tls_key = rel(tls.get("cert", "")), rel(tls.get("key", ""))
    log = _section(raw, "log")
    cfg.access_log = bool(log.get("access", False))
    auth = _section(raw, "auth")
    cfg.realm = str(auth.get("realm", cfg.realm))
    if "htpasswd" in auth:
        cfg.htpasswd = rel(auth["htpasswd"])
        cfg.auth = "htpasswd"
    cfg.anonymous_pull = bool(auth.get("anonymous_pull", False))
    if "token" in auth:
        token = _section(auth, "token", "auth.token")
        cfg.auth = "token"
        cfg.token_realm = str(token["realm"]) if "realm" in token else None
        cfg.token_service = str(token.get("service", cfg.token_service))
        cfg.token_issuer = str(token.get("issuer", cfg.token_issuer))
        if "expiration" in token:
            cfg.token_expiration = int(parse_duration(token["expiration"], "auth.token.expiration"))
        if "key_file" in token:
            cfg.token_key_file = rel(token["key_file"])
    if "access" in auth:
        if not isinstance(auth["access"], list):
            raise UsageError("auth.access must be a list of rules")
        try:
            cfg.access = parse_rules(auth["access"])
        except ValueError as exc:
            raise UsageError(
                f"config {path}: {exc}", fix="see docs/server.md, 'Access rules'"
            ) from None
    return cfg
