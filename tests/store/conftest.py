"""Fixtures for the local-store tests: a private HOIST_HOME per test, the CLI in-process, and
real `docker save` / OCI archives made by podman and skopeo from a tiny root filesystem."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hoist.cli.main import main
from tests.support.peers import podman_cmd, require


@dataclass
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOIST_HOME for this test only (the real home is never touched)."""
    path = tmp_path / "hoist-home"
    monkeypatch.setenv("HOIST_HOME", str(path))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return path


@pytest.fixture
def hoist(home: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run `hoist ARGS...` in this process and capture its output."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` with the sha256 of its bytes: "the store exactly as before"."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


_MANIFEST_TYPES = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}


def check_consistent(root: Path) -> list[str]:
    """Every name in the store's index reaches only blobs that exist; returns the names."""
    index = json.loads((root / "index.json").read_text())
    names = []
    for entry in index["manifests"]:
        stack = [entry]
        while stack:
            desc = stack.pop()
            blob = root / "blobs" / "sha256" / desc["digest"].split(":")[1]
            assert blob.is_file(), f"{desc['digest']} missing"
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == desc["digest"].split(":")[1]
            if desc.get("mediaType") in _MANIFEST_TYPES:
                doc = json.loads(blob.read_bytes())
                stack += doc.get("manifests", [])
                stack += [doc["config"], *doc["layers"]] if "config" in doc else []
        ann = entry.get("annotations") or {}
        if "org.opencontainers.image.ref.name" in ann:
            names.append(ann["org.opencontainers.image.ref.name"])
    return names


@dataclass
class PodmanImages:
    """Archives written by podman itself from one tiny image (`localhost/hello:1`)."""

    docker_archive: Path
    oci_archive: Path
    multi_archive: Path
    image_id: str  # podman's image ID: the config digest


@pytest.fixture(scope="session")
def podman_images(tmp_path_factory: pytest.TempPathFactory) -> PodmanImages:
    require("podman")
    base = tmp_path_factory.mktemp("podman")
    rootfs = base / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "motd").write_text("hello from podman\n")
    (rootfs / "bin").mkdir()
    (rootfs / "bin" / "app").write_bytes(b"#!/bin/sh\necho hi\n")
    (rootfs / "app").symlink_to("bin/app")
    layer = base / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(layer), "."], check=True)
    # podman refuses a runroot longer than 50 characters, so keep its state in a short dir
    short = Path(tempfile.mkdtemp(prefix="hoist-pm-", dir="/tmp"))
    podman = podman_cmd(short)

    def pm(*args: str) -> str:
        return subprocess.run(
            [*podman, *args], check=True, capture_output=True, text=True, timeout=120
        ).stdout

    image_id = pm("import", "--quiet", str(layer), "localhost/hello:1").strip()
    (rootfs / "etc" / "motd").write_text("second image\n")
    layer2 = base / "rootfs2.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(layer2), "."], check=True)
    pm("import", "--quiet", str(layer2), "localhost/second:2")
    out = PodmanImages(base / "docker.tar", base / "oci.tar", base / "multi.tar", image_id)
    pm("save", "--format", "docker-archive", "-o", str(out.docker_archive), "localhost/hello:1")
    pm("save", "--format", "oci-archive", "-o", str(out.oci_archive), "localhost/hello:1")
    pm(
        "save",
        "--multi-image-archive",
        "--format",
        "docker-archive",
        "-o",
        str(out.multi_archive),
        "localhost/hello:1",
        "localhost/second:2",
    )
    shutil.rmtree(short, ignore_errors=True)
    return out


def podman_at(root: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    podman = podman_cmd(root)

    def pm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*podman, *args], capture_output=True, text=True, timeout=120)

    return pm
