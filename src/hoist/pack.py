"""`hoist pack`: a one-layer image from a directory, for users with no daemon and no Dockerfile.

Reproducible by construction, so the same directory always gives the same digest (and an
unchanged image is never re-uploaded): entries are written in sorted order with uid/gid 0, no
user or group names, and one fixed mtime (`SOURCE_DATE_EPOCH`, else 0); the gzip stream is
deterministic (`hoist.store.compress`) and the config's `created` is that same instant.
Symlinks are stored as symlinks, hard links as hard links to the first path seen; device
files, FIFOs and sockets cannot be part of an image and are skipped with a warning.

With `--base NAME`, the base image's layers and config are reused and the new layer goes on top;
settings given on the command line override the base's (an entrypoint resets the base's cmd,
as a Dockerfile's ENTRYPOINT does).
"""

from __future__ import annotations

import copy
import json
import os
import platform as host_platform
import stat
import sys
import tarfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from hoist.errors import InvalidContentError, NotFoundError, StoreError, UsageError
from hoist.oci import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Descriptor,
    Digest,
    Manifest,
    Platform,
    canonical_json,
)
from hoist.reference import Reference
from hoist.store import ImageStore
from hoist.store.compress import cpu_count, gzip_stream

_HOST_ARCH: Final = {
    "x86_64": ("amd64", None),
    "amd64": ("amd64", None),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
}


def host_default_platform() -> Platform:
    """linux/<this machine's architecture> (amd64 when it is not one images use)."""
    arch, variant = _HOST_ARCH.get(host_platform.machine().lower(), ("amd64", None))
    return Platform("linux", arch, variant)


def source_date_epoch() -> int:
    """`SOURCE_DATE_EPOCH` (reproducible-builds.org), else 0."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return 0
    if not raw.isdigit():
        raise UsageError(
            f"SOURCE_DATE_EPOCH={raw!r} is not a number of seconds",
            fix="export SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)",
        )
    return int(raw)


def parse_command(text: str, flag: str) -> list[str]:
    """A JSON array (exec form) or a shell string (run by /bin/sh -c), as in a Dockerfile."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise UsageError(
                f"{flag} {text!r} is not a JSON array of strings",
                fix=f'{flag} \'["/app/server", "--port", "8080"]\' or {flag} "server --port 8080"',
            )
        return value
    return ["/bin/sh", "-c", text]


def parse_key_values(items: list[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item!r} is not KEY=VALUE", fix=f"{flag} KEY=VALUE")
        out.append((key, value))
    return out


@dataclass
class PackOptions:
    """Everything `hoist pack` takes from its command line."""

    context: Path
    names: list[Reference] = field(default_factory=list)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[tuple[str, str]] = field(default_factory=list)
    workdir: str | None = None
    platform: Platform | None = None
    labels: list[tuple[str, str]] = field(default_factory=list)
    base: str | None = None


@dataclass
class PackResult:
    descriptor: Descriptor
    image_id: Digest
    files: int
    layer: Descriptor
    skipped: list[str] = field(default_factory=list)


def _walk(root: Path) -> Iterator[Path]:
    """Every path under `root`, depth-first in sorted (byte) order, not following links."""
    with os.scandir(root) as it:
        entries = sorted(it, key=lambda e: os.fsencode(e.name))
    for entry in entries:
        path = Path(entry.path)
        yield path
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(path)


def write_layer_tar(
    context: Path, out: Any, mtime: int, warn: Callable[[str], None]
) -> tuple[int, list[str]]:
    """Write the reproducible tar of `context` to `out`; returns (entries, skipped paths)."""
    count = 0
    skipped: list[str] = []
    first_path: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path in _walk(context):
            rel = path.relative_to(context).as_posix()
            st = path.lstat()
            info = tarfile.TarInfo(rel)
            info.mtime = mtime
            info.mode = stat.S_IMODE(st.st_mode)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = str(path.readlink())
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in first_path:
                    info.type = tarfile.LNKTYPE
                    info.linkname = first_path[key]
                    tar.addfile(info)
                else:
                    first_path[key] = rel
                    info.size = st.st_size
                    with path.open("rb") as fh:
                        tar.addfile(info, fh)
            else:
                kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket or device file"
                warn(f"warning: skipping {rel}: it is {kind}, which an image layer cannot hold")
                skipped.append(rel)
                continue
            count += 1
    return count, skipped


def _created(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _base_image(
    store: ImageStore, text: str, want: Platform | None
) -> tuple[Manifest, dict[str, Any]]:
    entry = store.resolve(text)
    m = store.manifest(entry.descriptor.digest)
    if m.is_index:
        target = want or host_default_platform()
        chosen = None
        for child in m.manifests:
            p = child.platform
            if (
                p
                and p.os == target.os
                and p.architecture == target.architecture
                and (target.variant is None or p.variant in (None, target.variant))
            ):
                chosen = child
                break
        if chosen is None:
            raise NotFoundError(
                f"base image {text} has no {target} variant",
                fix="pick another --platform, or a base image built for it",
            )
        m = store.manifest(chosen.digest)
    return m, store.config_json(m)


def pack(
    opts: PackOptions, store: ImageStore | None = None, warn: Callable[[str], None] | None = None
) -> PackResult:
    """Build the image, store it, and give it `opts.names`."""
    store = store or ImageStore()
    warn = warn or (lambda line: print(line, file=sys.stderr))
    if not opts.context.is_dir():
        raise NotFoundError(
            f"{opts.context} is not a directory",
            fix="hoist pack DIR -t NAME, where DIR holds the files of the image",
        )
    epoch = source_date_epoch()
    created = _created(epoch)
    base_manifest: Manifest | None = None
    config: dict[str, Any]
    if opts.base:
        base_manifest, base_config = _base_image(store, opts.base, opts.platform)
        config = copy.deepcopy(base_config)
        base_platform = Platform(
            str(config.get("os", "")), str(config.get("architecture", "")), config.get("variant")
        )
        if opts.platform is not None and (opts.platform.os, opts.platform.architecture) != (
            base_platform.os,
            base_platform.architecture,
        ):
            raise UsageError(
                f"--platform {opts.platform} does not match the base image ({base_platform})",
                fix="drop --platform, or use a base image for that platform",
            )
    else:
        plat = opts.platform or host_default_platform()
        config = {"architecture": plat.architecture, "os": plat.os}
        if plat.variant:
            config["variant"] = plat.variant
    docker_family = base_manifest is not None and base_manifest.media_type == DOCKER_MANIFEST
    layer_type = DOCKER_LAYER_GZIP if docker_family else OCI_LAYER_GZIP

    with store.writing():
        scratch = store.blobs.scratch
        scratch.mkdir(parents=True, exist_ok=True)
        tar_path = scratch / f"pack-{os.getpid()}-{id(opts)}.tar"
        try:
            with tar_path.open("w+b") as tar_fh:
                count, skipped = write_layer_tar(opts.context, tar_fh, epoch, warn)
                tar_fh.seek(0)
                with store.blobs.create() as pending, ThreadPoolExecutor(cpu_count()) as pool:
                    result = gzip_stream(tar_fh, pending.fh, pool)
                    layer_digest = Digest(result.compressed_digest)
                    if not store.blobs.has(layer_digest):
                        pending.commit(layer_digest)
        except OSError as exc:
            raise StoreError(f"cannot pack {opts.context}: {exc}") from None
        finally:
            tar_path.unlink(missing_ok=True)
        layer = Descriptor(layer_type, layer_digest, result.compressed_size)
        diff_id = Digest(result.diff_id)
        store.record_diff_id(diff_id, layer)

        cfg = dict(config.get("config") or {})
        if opts.entrypoint is not None:
            cfg["Entrypoint"] = opts.entrypoint
            if opts.cmd is None:
                cfg.pop("Cmd", None)
        if opts.cmd is not None:
            cfg["Cmd"] = opts.cmd
        if opts.env:
            env = [e for e in cfg.get("Env") or [] if isinstance(e, str)]
            for key, value in opts.env:
                env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
            cfg["Env"] = env
        if opts.workdir:
            cfg["WorkingDir"] = opts.workdir
        if opts.labels:
            labels = dict(cfg.get("Labels") or {})
            labels.update(opts.labels)
            cfg["Labels"] = labels
        config["config"] = cfg
        config["created"] = created
        rootfs = dict(config.get("rootfs") or {"type": "layers"})
        rootfs["type"] = "layers"
        rootfs["diff_ids"] = [*list(rootfs.get("diff_ids") or []), str(diff_id)]
        config["rootfs"] = rootfs
        history = list(config.get("history") or [])
        history.append({"created": created, "created_by": "hoist pack", "comment": "hoist pack"})
        config["history"] = history
        config_bytes = canonical_json(config)
        config_digest = store.blobs.put_bytes(config_bytes)

        base_layers = [d.to_json() for d in base_manifest.layers] if base_manifest else []
        manifest_obj = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST if docker_family else OCI_MANIFEST,
            "config": {
                "mediaType": DOCKER_CONFIG if docker_family else OCI_CONFIG,
                "digest": str(config_digest),
                "size": len(config_bytes),
            },
            "layers": [*base_layers, layer.to_json()],
        }
        body = canonical_json(manifest_obj)
        store.blobs.put_bytes(body)
        root = Descriptor(str(manifest_obj["mediaType"]), Digest.of(body), len(body))
        store.set_names([(n, root) for n in opts.names] or [(None, root)])
    return PackResult(root, config_digest, count, layer, skipped)


def options_from_args(
    context: str,
    tags: list[str],
    entrypoint: str | None,
    cmd: str | None,
    env: list[str],
    workdir: str | None,
    platform: str | None,
    labels: list[str],
    base: str | None,
) -> PackOptions:
    """Validate command-line values into `PackOptions` (names parsed before any work)."""
    if workdir is not None and not workdir.startswith("/"):
        raise UsageError(f"--workdir {workdir!r} must be an absolute path", fix="--workdir /app")
    try:
        plat = Platform.parse(platform) if platform else None
    except InvalidContentError as exc:
        raise UsageError(exc.what, why=exc.why, fix=exc.fix) from None
    names = []
    for t in tags:
        ref = Reference.parse(t)
        if ref.digest is not None:
            raise UsageError(f"-t {t}: a name to give an image cannot contain a digest")
        names.append(ref)
    return PackOptions(
        context=Path(context),
        names=names,
        entrypoint=parse_command(entrypoint, "--entrypoint") if entrypoint is not None else None,
        cmd=parse_command(cmd, "--cmd") if cmd is not None else None,
        env=parse_key_values(env, "--env"),
        workdir=workdir,
        platform=plat,
        labels=parse_key_values(labels, "--label"),
        base=base,
    )


__all__ = ["PackOptions", "PackResult", "options_from_args", "pack"]
