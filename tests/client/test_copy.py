"""hoist copy: registry to registry with different credentials per end, layouts, archives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.client.conftest import PASSWORD, USER, Env
from tests.support.peers import DistributionRegistry, distribution_registry, skopeo

pytestmark = pytest.mark.peer


def test_copy_between_registries_with_different_credentials(
    env: Env, registry: DistributionRegistry, tmp_path: Path
) -> None:
    src = f"{registry.host}/team/app:1"
    env.pack(src, size=200_000)
    env.login(registry.host)
    pushed = env.hoist("push", src, "--json", check=True)
    digest = json.loads(pushed.stdout)["digest"]
    with distribution_registry(tmp_path / "second", user="carol", password="carol-pw") as second:
        dst = f"{second.host}/mirror/app:1"
        # no stored credentials for the second registry: --dest-creds supplies them
        out = env.hoist("copy", src, dst, "--dest-creds", "carol:carol-pw", "--json", check=True)
        report = json.loads(out.stdout)
        assert report["digest"] == digest
        assert {b["status"] for b in report["blobs"]} == {"pushed"}
        inspected = skopeo(
            "inspect", "--tls-verify=false", "--creds", "carol:carol-pw", f"docker://{dst}"
        ).stdout
        assert json.loads(inspected)["Digest"] == digest
        # wrong credentials for the destination: says which end and where they came from
        bad = env.hoist("copy", src, f"{second.host}/mirror/app:2", "--dest-creds", "carol:x")
        assert bad.returncode == 3
        assert "--dest-creds" in bad.stderr


def test_copy_within_registry_mounts(env: Env, registry: DistributionRegistry) -> None:
    src = f"{registry.host}/team/base:1"
    env.pack(src, size=50_000)
    env.login(registry.host)
    env.hoist("push", src, check=True)
    out = env.hoist("copy", src, f"{registry.host}/team/derived:1", check=True)
    assert "Mounted from team/base" in out.stdout


def test_copy_to_layout_and_archive_and_back(
    env: Env, registry: DistributionRegistry, tmp_path: Path
) -> None:
    src = f"{registry.host}/team/app:2"
    env.pack(src, size=80_000)
    env.login(registry.host)
    digest = json.loads(env.hoist("push", src, "--json", check=True).stdout)["digest"]
    layout = tmp_path / "layout"
    env.hoist("copy", src, f"oci:{layout}:v2", check=True)
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    archive = tmp_path / "app.tar"
    env.hoist("copy", f"oci:{layout}:v2", f"docker-archive:{archive}:team/app:2", check=True)
    assert archive.stat().st_size > 80_000
    back = f"{registry.host}/team/back:1"
    out = env.hoist("copy", f"oci:{layout}:v2", back, "--json", check=True)
    assert json.loads(out.stdout)["digest"] == digest
    inspected = json.loads(env.hoist("inspect", f"oci:{layout}:v2", check=True).stdout)
    assert inspected["digest"] == digest and inspected["layers"]
    cfg = json.loads(env.hoist("inspect", "--config", back, check=True).stdout)
    assert cfg["os"] == "linux"


def test_copy_bad_end_is_usage_error(env: Env) -> None:
    out = env.hoist("copy", "oci:", "x")
    assert out.returncode == 2
    out = env.hoist("copy", "a/b:1", "docker-daemon:x:1")
    assert out.returncode in (2, 5)
    assert "Traceback" not in out.stderr
    assert USER and PASSWORD
