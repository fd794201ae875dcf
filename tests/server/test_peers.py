"""Real clients against `hoist serve`: skopeo (copy in and out, inspect, list-tags, delete)
without auth, with htpasswd and with token auth; the docker CLI's login and manifest inspect."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.server.images import make_layout
from tests.support.hoist_server import HoistServer, hoist_server
from tests.support.peers import skopeo

pytestmark = pytest.mark.peer


def _round_trip(reg: HoistServer, tmp_path: Path, repo: str) -> None:
    layout = make_layout(tmp_path / "src", layers=3, layer_size=200_000)
    skopeo("copy", *reg.dest_creds(), layout.ref, f"docker://{reg.host}/{repo}:v1")
    raw = skopeo("inspect", "--raw", *reg.creds(), f"docker://{reg.host}/{repo}:v1").stdout
    assert json.loads(raw)["layers"][0]["digest"] == layout.layer_digests[0]
    info = json.loads(skopeo("inspect", *reg.creds(), f"docker://{reg.host}/{repo}:v1").stdout)
    assert info["Digest"] == layout.manifest_digest
    out = tmp_path / "out"
    skopeo("copy", *reg.src_creds(), f"docker://{reg.host}/{repo}:v1", f"oci:{out}:back")
    for digest in layout.layer_digests:
        hexd = digest.split(":")[1]
        assert (out / "blobs/sha256" / hexd).read_bytes() == (
            layout.path / "blobs/sha256" / hexd
        ).read_bytes()
    skopeo("copy", *reg.dest_creds(), layout.ref, f"docker://{reg.host}/{repo}:v2")
    tags = json.loads(skopeo("list-tags", *reg.creds(), f"docker://{reg.host}/{repo}").stdout)
    assert tags["Tags"] == ["v1", "v2"]
    skopeo("delete", *reg.creds(), f"docker://{reg.host}/{repo}:v1")
    gone = skopeo("inspect", *reg.creds(), f"docker://{reg.host}/{repo}:v2", check=False)
    assert gone.returncode != 0  # v1 and v2 are the same manifest: deleting it drops both


def test_skopeo_without_auth(tmp_path: Path) -> None:
    with hoist_server(tmp_path / "srv") as reg:
        _round_trip(reg, tmp_path, "team/app")


def test_skopeo_with_htpasswd(tmp_path: Path) -> None:
    with hoist_server(tmp_path / "srv", auth="htpasswd") as reg:
        _round_trip(reg, tmp_path, "team/app")
        layout = make_layout(tmp_path / "other", layers=1)
        denied = skopeo(
            "copy",
            "--dest-tls-verify=false",
            f"--dest-creds={reg.user}:wrong-password",
            layout.ref,
            f"docker://{reg.host}/team/app:bad",
            check=False,
        )
        assert denied.returncode != 0
        assert "401" in denied.stderr or "unauthorized" in denied.stderr.lower()


def test_skopeo_with_token_auth(tmp_path: Path) -> None:
    with hoist_server(tmp_path / "srv", auth="token") as reg:
        _round_trip(reg, tmp_path, "team/app")


def test_skopeo_cross_repository_copy_mounts(tmp_path: Path) -> None:
    with hoist_server(tmp_path / "srv", auth="htpasswd", extra_args=["--access-log"]) as reg:
        layout = make_layout(tmp_path / "src", layers=2, layer_size=50_000)
        skopeo("copy", *reg.dest_creds(), layout.ref, f"docker://{reg.host}/a/app:v1")
        copied = skopeo(
            "copy",
            *reg.src_creds(),
            *reg.dest_creds(),
            f"docker://{reg.host}/a/app:v1",
            f"docker://{reg.host}/b/app:v1",
        )
        assert copied.returncode == 0
        mounts = [
            line
            for line in reg.read_log().splitlines()
            if "POST /v2/b/app/blobs/uploads/?" in line and "mount=" in line
        ]
        assert len(mounts) == 2 and all('" 201 ' in line for line in mounts), reg.read_log()
        assert "alice-secret" not in reg.read_log()  # credentials never logged
        info = skopeo("inspect", *reg.creds(), f"docker://{reg.host}/b/app:v1").stdout
        assert json.loads(info)["Digest"] == layout.manifest_digest


def _docker(
    config_dir: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker")
    if binary is None:
        pytest.skip("docker CLI not installed")
    env = dict(os.environ, DOCKER_CONFIG=str(config_dir))
    env.pop("DOCKER_HOST", None)
    return subprocess.run(
        [binary, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.parametrize("auth", ["htpasswd", "token"])
def test_docker_login_and_manifest_inspect(tmp_path: Path, auth: str) -> None:
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    with hoist_server(tmp_path / "srv", auth=auth) as reg:
        layout = make_layout(tmp_path / "src", layers=1)
        skopeo("copy", *reg.dest_creds(), layout.ref, f"docker://{reg.host}/team/app:v1")
        bad = _docker(config_dir, "login", reg.host, "-u", "alice", "--password-stdin", stdin="no")
        assert bad.returncode != 0
        login = _docker(
            config_dir, "login", reg.host, "-u", "alice", "--password-stdin", stdin=reg.password
        )
        assert login.returncode == 0, login.stderr
        assert "Login Succeeded" in login.stdout
        assert reg.host in json.loads((config_dir / "config.json").read_text())["auths"]
        inspect = _docker(
            config_dir, "manifest", "inspect", "--insecure", f"{reg.host}/team/app:v1"
        )
        assert inspect.returncode == 0, inspect.stderr
        assert json.loads(inspect.stdout)["layers"][0]["digest"] == layout.layer_digests[0]
