"""`docker-daemon:` against a real Docker Engine API (podman's): export, load, push, import,
and the errors a user meets when the daemon is not there or lacks the image."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from hoist.errors import AuthError, NetworkError
from hoist.transports.daemon import connect_error, daemon_address
from tests.daemon.conftest import APP, Daemon, Run
from tests.store.builders import Layout, layer_tar
from tests.support.peers import (
    distribution_registry,
    free_port,
    podman_cmd,
    skopeo,
    stop,
    wait_for_port,
)

pytestmark = pytest.mark.peer


def is_gzip(media_type: str) -> bool:
    """OCI's `...tar+gzip` or Docker's `...tar.gzip` (both mean the same bytes)."""
    return media_type.endswith(("+gzip", ".gzip"))


def leftovers(tmp: Path) -> list[str]:
    """Spool directories the transport failed to clean up (TMPDIR is the test's tmp_path)."""
    return [p.name for p in tmp.iterdir() if p.name.startswith("hoist-daemon-")]


def test_copy_from_daemon_to_oci_layout(hoist: Run, daemon: Daemon, tmp_path: Path) -> None:
    out = tmp_path / "layout"
    result = hoist("copy", f"docker-daemon:{APP}", f"oci:{out}:v1", check=True)
    assert f"Copying docker-daemon:{APP} to oci:{out}" in result.stdout
    raw = json.loads(skopeo("inspect", "--raw", f"oci:{out}:v1").stdout)
    # same image: the config (and so the image ID) is the daemon's, byte for byte
    assert raw["config"]["digest"] == daemon.app_id
    assert [is_gzip(layer["mediaType"]) for layer in raw["layers"]] == [True, True]
    config = json.loads(skopeo("inspect", "--config", f"oci:{out}:v1").stdout)
    assert config["rootfs"]["diff_ids"] == daemon.app_diff_ids
    assert leftovers(tmp_path) == []


def test_load_from_daemon_into_store(hoist: Run, daemon: Daemon, tmp_path: Path) -> None:
    loaded = hoist("load", f"docker-daemon:{APP}", check=True)
    assert loaded.stdout.strip() == f"Loaded image: {APP}"
    listed = hoist("images", check=True).stdout
    assert daemon.app_id.removeprefix("sha256:")[:12] in listed
    lines = hoist("images", "--json", check=True).stdout.splitlines()
    images = [json.loads(line) for line in lines]
    (mine,) = [img for img in images if img["name"] == APP]
    assert mine["id"] == daemon.app_id
    # `load` then `push` and a direct `copy` name the same manifest: one import path
    out = tmp_path / "layout"
    hoist("copy", f"docker-daemon:{APP}", f"oci:{out}:v1", check=True)
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == mine["digest"]
    assert leftovers(tmp_path) == []


def test_copy_from_daemon_to_registry_pushes_gzip_layers(
    hoist: Run, daemon: Daemon, tmp_path: Path
) -> None:
    with distribution_registry(tmp_path / "registry") as reg:
        dest = f"{reg.host}/team/app:1"
        first = hoist("copy", f"docker-daemon:{APP}", dest, "--json", check=True)
        report = json.loads(first.stdout)
        raw = json.loads(
            skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{dest}").stdout
        )
        assert raw["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert raw["config"]["digest"] == daemon.app_id
        assert [is_gzip(layer["mediaType"]) for layer in raw["layers"]] == [True, True]
        # the registry holds real gzip that decompresses to the daemon's layers
        with httpx.Client(base_url=reg.url) as http:
            for layer, diff_id in zip(raw["layers"], daemon.app_diff_ids, strict=True):
                blob = http.get(f"/v2/team/app/blobs/{layer['digest']}").content
                assert blob[:2] == b"\x1f\x8b"
                plain = gzip.decompress(blob)
                assert "sha256:" + hashlib.sha256(plain).hexdigest() == diff_id
        assert raw["layers"][0]["size"] < 100_000  # ~400 kB of text, compressed
        # compression is deterministic: copying the unchanged image again uploads no layer
        again = json.loads(hoist("copy", f"docker-daemon:{APP}", dest, "--json", check=True).stdout)
        assert again["digest"] == report["digest"]
        assert {b["status"] for b in again["blobs"]} == {"exists"}


def test_copy_into_daemon_keeps_image_id(hoist: Run, daemon: Daemon, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "src")
    layers = [layer_tar({"hello.txt": b"from an OCI layout\n"}), layer_tar({"x": b"2"})]
    desc = layout.image(layers, gzip_layers=True)
    layout.name(desc, "v3")
    config_digest = json.loads(
        (tmp_path / "src" / "blobs" / "sha256" / desc["digest"].split(":")[1]).read_text()
    )["config"]["digest"]
    name = f"localhost/fromoci-{os.getpid()}:3"
    result = hoist("copy", f"oci:{tmp_path / 'src'}:v3", f"docker-daemon:{name}", check=True)
    assert f"to docker-daemon:{name}" in result.stdout
    assert daemon.image_ids()[name] == config_digest
    listed = daemon.podman("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
    assert f"{name} {config_digest.removeprefix('sha256:')[:12]}" in listed
    assert leftovers(tmp_path) == []
    # and it reads back out under the same name
    back = tmp_path / "back"
    hoist("copy", f"docker-daemon:{name}", f"oci:{back}:v3", check=True)
    raw = json.loads(skopeo("inspect", "--raw", f"oci:{back}:v3").stdout)
    assert raw["config"]["digest"] == config_digest


def test_round_trip_registry_to_daemon(hoist: Run, daemon: Daemon, tmp_path: Path) -> None:
    """A pulled image goes into the daemon (gzip layers unpacked for `docker load`) under a
    short name, and comes back out by that same short name."""
    with distribution_registry(tmp_path / "registry") as reg:
        hoist("copy", f"docker-daemon:{APP}", f"{reg.host}/team/app:rt", check=True)
        name = f"roundtrip-{os.getpid()}:2"
        hoist("copy", f"{reg.host}/team/app:rt", f"docker-daemon:{name}", check=True)
    assert daemon.app_id in [
        image_id for tag, image_id in daemon.image_ids().items() if tag.endswith(f"/{name}")
    ]
    out = tmp_path / "back"
    hoist("copy", f"docker-daemon:{name}", f"oci:{out}:v2", check=True)
    raw = json.loads(skopeo("inspect", "--raw", f"oci:{out}:v2").stdout)
    assert raw["config"]["digest"] == daemon.app_id


def test_unknown_image_is_not_found(hoist: Run, tmp_path: Path) -> None:
    result = hoist("copy", "docker-daemon:localhost/nope:1", f"oci:{tmp_path / 'x'}")
    assert result.returncode == 4, result.stderr
    assert "has no image 'localhost/nope:1'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()
    loaded = hoist("load", "docker-daemon:localhost/nope:1")
    assert loaded.returncode == 4
    assert "podman images" in loaded.stderr
    assert leftovers(tmp_path) == []


def test_missing_socket_says_how_to_start_the_daemon(hoist: Run, tmp_path: Path) -> None:
    sock = tmp_path / "no-such.sock"
    env = {"DOCKER_HOST": f"unix://{sock}"}
    for args in (
        ("copy", f"docker-daemon:{APP}", f"oci:{tmp_path / 'x'}"),
        ("load", f"docker-daemon:{APP}"),
    ):
        result = hoist(*args, env=env)
        assert result.returncode == 5, result.stderr
        assert f"no Docker daemon at unix://{sock}" in result.stderr
        assert "is the daemon running?" in result.stderr
        assert "DOCKER_HOST" in result.stderr
        assert "Traceback" not in result.stderr


def test_destination_daemon_checked_before_copying(hoist: Run, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "src")
    layout.name(layout.image([layer_tar({"a": b"1"})], gzip_layers=True), "v1")
    env = {"DOCKER_HOST": f"unix://{tmp_path / 'gone.sock'}"}
    result = hoist("copy", f"oci:{tmp_path / 'src'}:v1", "docker-daemon:localhost/x:1", env=env)
    assert result.returncode == 5, result.stderr
    assert "no Docker daemon" in result.stderr
    assert "Pushed" not in result.stdout
    assert leftovers(tmp_path) == []


def test_stale_socket_nobody_listening(hoist: Run, tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))  # the file stays, nothing listens: what a crashed daemon leaves
    result = hoist("load", f"docker-daemon:{APP}", env={"DOCKER_HOST": f"unix://{path}"})
    assert result.returncode == 5, result.stderr
    assert "cannot connect to the Docker daemon" in result.stderr
    assert "is the daemon running?" in result.stderr


def test_unsupported_daemon_addresses(hoist: Run, tmp_path: Path) -> None:
    ssh = hoist("load", f"docker-daemon:{APP}", env={"DOCKER_HOST": "ssh://me@box"})
    assert ssh.returncode == 2
    assert "ssh:// daemon addresses are not supported" in ssh.stderr
    tls = hoist(
        "load",
        f"docker-daemon:{APP}",
        env={"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_TLS_VERIFY": "1"},
    )
    assert tls.returncode == 2
    assert "over TLS" in tls.stderr


def test_loopback_tcp_daemon(hoist: Run, daemon: Daemon, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*podman_cmd(daemon.root), "system", "service", "--time=0", f"tcp://127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        out = tmp_path / "layout"
        hoist(
            "copy",
            f"docker-daemon:{APP}",
            f"oci:{out}:v1",
            check=True,
            env={"DOCKER_HOST": f"tcp://127.0.0.1:{port}"},
        )
        raw = json.loads(skopeo("inspect", "--raw", f"oci:{out}:v1").stdout)
        assert raw["config"]["digest"] == daemon.app_id
    finally:
        stop(proc)


def test_permission_denied_explains_the_docker_group(tmp_path: Path) -> None:
    """Root (which runs this suite) is never refused, so check the translation itself."""
    address = daemon_address(f"unix://{tmp_path / 'docker.sock'}")
    try:
        raise httpx.ConnectError("[Errno 13] Permission denied") from PermissionError(
            13, "Permission denied"
        )
    except httpx.ConnectError as exc:
        error = connect_error(address, exc)
    assert isinstance(error, AuthError)
    assert "permission denied" in error.what
    assert error.fix is not None and "usermod -aG docker" in error.fix
    missing = connect_error(address, httpx.ConnectError("no such file"))
    assert isinstance(missing, NetworkError)
    assert missing.fix is not None and "DOCKER_HOST" in missing.fix
