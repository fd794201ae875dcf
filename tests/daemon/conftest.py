"""A real Docker-compatible daemon for the `docker-daemon:` tests: podman's API service.

Each xdist worker starts its own `podman system service` on a private unix socket, with private
storage (vfs) in a short /tmp dir (podman refuses runroots over 50 characters), preloaded with
one two-layer image; it is stopped by process id when the worker's tests are done. Tests give
the images they write unique names, so they do not depend on each other's order.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.store.builders import legacy_archive, sha
from tests.support.peers import podman_cmd, require, stop

APP = "localhost/app:1"


def app_layers() -> list[bytes]:
    """Two layers: compressible text (so gzip visibly shrinks it) and a small file."""
    from tests.store.builders import layer_tar

    text = b"".join(b"line %06d: hoist moves images without a daemon\n" % i for i in range(8000))
    return [
        layer_tar({"etc/motd": b"hello from the daemon\n", "usr/share/doc/big.txt": text}),
        layer_tar({"app/run.sh": b"#!/bin/sh\necho hi\n"}),
    ]


@dataclass
class Daemon:
    """A running podman API service and what was loaded into it."""

    socket: Path
    root: Path
    proc: subprocess.Popen[bytes]
    app_id: str  # config digest of APP: the image ID docker and podman show
    app_diff_ids: list[str]

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def podman(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*podman_cmd(self.root), *args], capture_output=True, text=True, timeout=60
        )

    def api(self, path: str) -> Any:
        """GET an Engine API path and decode its JSON, as a docker client would."""
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket))) as http:
            resp = http.get(f"http://docker/v1.41{path}")
            resp.raise_for_status()
            return resp.json()

    def image_ids(self) -> dict[str, str]:
        """RepoTag -> Id for every image the daemon lists (`GET /images/json`)."""
        return {tag: img["Id"] for img in self.api("/images/json") for tag in img["RepoTags"] or []}


def wait_for_socket(path: Path, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"podman system service exited with {proc.returncode}")
        if path.exists():
            try:
                with httpx.Client(transport=httpx.HTTPTransport(uds=str(path))) as http:
                    if http.get("http://docker/_ping", timeout=2).status_code == 200:
                        return
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    raise RuntimeError(f"podman did not answer on {path} within {timeout}s")


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    require("podman")
    root = Path(tempfile.mkdtemp(prefix="hd-", dir="/tmp"))
    layers = app_layers()
    archive = legacy_archive(root / "app.tar", [([APP], layers)])
    manifest = json.loads(
        subprocess.run(
            ["tar", "-xOf", str(archive), "manifest.json"], capture_output=True, check=True
        ).stdout
    )
    app_id = "sha256:" + manifest[0]["Config"].removesuffix(".json")
    loaded = subprocess.run(
        [*podman_cmd(root), "load", "-q", "-i", str(archive)], capture_output=True, text=True
    )
    if loaded.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"podman cannot load images here: {loaded.stderr.strip()}")
    sock = root / "api.sock"
    log = (root / "service.log").open("wb")
    proc = subprocess.Popen(
        [*podman_cmd(root), "system", "service", "--time=0", f"unix://{sock}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_socket(sock, proc)
        yield Daemon(sock, root, proc, app_id, [sha(layer) for layer in layers])
    finally:
        stop(proc)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Run:
    """The CLI in a subprocess, with a private store and the test daemon in DOCKER_HOST."""

    env: dict[str, str]

    def __call__(
        self, *args: str, check: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "hoist.cli.main", *map(str, args)],
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"hoist {' '.join(map(str, args))} exited {proc.returncode}\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        return proc


@pytest.fixture
def hoist(daemon: Daemon, tmp_path: Path) -> Run:
    env = dict(os.environ)
    for key in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "HTTP_PROXY", "http_proxy"):
        env.pop(key, None)
    env.update(
        HOIST_HOME=str(tmp_path / "hoist-home"),
        DOCKER_CONFIG=str(tmp_path / "docker-config"),
        HOIST_CONFIG_DIR=str(tmp_path / "hoist-config"),
        HOIST_PROGRESS="plain",
        DOCKER_HOST=daemon.host,
        TMPDIR=str(tmp_path),
    )
    return Run(env)
