"""push and pull against distribution's registry (htpasswd), checked by digest and by skopeo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.client.conftest import PASSWORD, USER, Env
from tests.support.peers import DistributionRegistry, skopeo

pytestmark = pytest.mark.peer


def _skopeo_digest(reg: DistributionRegistry, name: str) -> str:
    out = skopeo(
        "inspect", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}", f"docker://{name}"
    ).stdout
    return str(json.loads(out)["Digest"])


def test_login_push_repush_mount_pull(env: Env, registry: DistributionRegistry) -> None:
    name = f"{registry.host}/team/app:1.4.0"
    env.pack(name, size=300_000)
    login = env.hoist("login", "-u", USER, "--password-stdin", registry.host, input=PASSWORD)
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "Login Succeeded"
    config = json.loads((env.tmp / "docker-config" / "config.json").read_text())
    assert registry.host in config["auths"]
    assert (env.tmp / "docker-config" / "config.json").stat().st_mode & 0o777 == 0o600

    first = env.hoist("push", name, check=True)
    lines = first.stdout.splitlines()
    assert lines[0] == f"The push refers to repository [{registry.host}/team/app]"
    assert lines[1].endswith(": Pushed")
    assert lines[-1].startswith("1.4.0: digest: sha256:")
    digest = lines[-1].split()[2]
    assert _skopeo_digest(registry, name) == digest

    again = env.hoist("push", name, check=True)
    assert again.stdout.splitlines()[1].endswith(": Layer already exists")
    assert again.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]

    other = f"{registry.host}/team/other:2"
    env.hoist("tag", name, other, check=True)
    mounted = env.hoist("push", other, "--json", check=True)
    report = json.loads(mounted.stdout)
    assert report["digest"] == digest
    assert report["layers"][0]["status"] == "mounted"
    assert report["layers"][0]["mounted_from"] == "team/app"
    assert report["bytes_uploaded"] == 0

    # pull into a fresh store: same digest, image usable by name
    fresh = {"HOIST_HOME": str(env.tmp / "fresh-home")}
    pulled = env.hoist("pull", name, env=fresh, check=True)
    assert f"Digest: {digest}" in pulled.stdout
    assert "Pull complete" in pulled.stdout
    images = env.hoist("images", "--json", env=fresh, check=True).stdout
    assert "team/app" in images
    again_pull = env.hoist("pull", name, env=fresh, check=True)
    assert "Image is up to date" in again_pull.stdout


def test_large_layer_chunked_upload(env: Env, registry: DistributionRegistry) -> None:
    """A blob larger than one chunk goes up in PATCHes and arrives intact."""
    name = f"{registry.host}/big/app:1"
    env.pack(name, size=20 * 1024 * 1024)  # random data: ~20 MiB compressed too
    env.login(registry.host)
    out = env.hoist("push", name, "--json", check=True)
    digest = json.loads(out.stdout)["digest"]
    assert _skopeo_digest(registry, name) == digest
    layout = env.tmp / "layout"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        f"{USER}:{PASSWORD}",
        f"docker://{name}",
        f"oci:{layout}:x",
    )
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest


def test_skopeo_pushes_hoist_pulls_and_back(env: Env, registry: DistributionRegistry) -> None:
    src = f"{registry.host}/from/hoist:1"
    env.pack(src, size=100_000)
    env.login(registry.host)
    env.hoist("push", src, check=True)
    # skopeo copies what hoist pushed to another repo; hoist pulls what skopeo pushed
    dst = f"{registry.host}/from/skopeo:1"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-creds",
        f"{USER}:{PASSWORD}",
        "--dest-creds",
        f"{USER}:{PASSWORD}",
        f"docker://{src}",
        f"docker://{dst}",
    )
    fresh = {"HOIST_HOME": str(env.tmp / "fresh")}
    env.hoist("pull", dst, env=fresh, check=True)
    inspected = json.loads(env.hoist("inspect", dst, check=True).stdout)
    assert inspected["digest"] == _skopeo_digest(registry, dst)
    assert env.hoist("inspect", "--raw", dst, check=True).stdout.encode()


def test_skopeo_oci_layout_pulled_by_hoist(
    env: Env, registry: DistributionRegistry, tmp_path: Path
) -> None:
    """An image skopeo pushed from its own OCI layout (written by hoist copy) pulls back."""
    name = f"{registry.host}/layout/app:1"
    env.pack("local/app:1", size=50_000)
    layout = tmp_path / "lay"
    env.login(registry.host)
    env.hoist("tag", "local/app:1", name, check=True)
    env.hoist("push", name, check=True)
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        f"{USER}:{PASSWORD}",
        f"docker://{name}",
        f"oci:{layout}:v1",
    )
    pushed = f"{registry.host}/layout/skopeo:1"
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"{USER}:{PASSWORD}",
        f"oci:{layout}:v1",
        f"docker://{pushed}",
    )
    out = env.hoist("pull", pushed, env={"HOIST_HOME": str(tmp_path / "h2")}, check=True)
    assert "Digest: sha256:" in out.stdout


def test_all_tags(env: Env, registry: DistributionRegistry) -> None:
    repo = f"{registry.host}/multi/app"
    env.pack(f"{repo}:a", size=1000, seed="a")
    env.pack(f"{repo}:b", size=1000, seed="b")
    env.login(registry.host)
    out = env.hoist("push", "--all-tags", repo, check=True)
    assert "a: digest:" in out.stdout and "b: digest:" in out.stdout
    tags = env.hoist("tags", repo, check=True).stdout.split()
    assert sorted(tags) == ["a", "b"]


def test_wrong_password_is_explained_and_saves_nothing(
    env: Env, registry: DistributionRegistry
) -> None:
    out = env.hoist("login", "-u", USER, "--password-stdin", registry.host, input="nope")
    assert out.returncode == 3
    assert "login to" in out.stderr and "fix:" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (env.tmp / "docker-config" / "config.json").exists()


def test_push_without_login_says_log_in(env: Env, registry: DistributionRegistry) -> None:
    name = f"{registry.host}/team/app:1"
    env.pack(name)
    out = env.hoist("push", name)
    assert out.returncode == 3
    assert f"hoist login {registry.host}" in out.stderr
    assert "no credentials were sent" in out.stderr


def test_stale_password_names_the_source(env: Env, registry: DistributionRegistry) -> None:
    name = f"{registry.host}/team/app:1"
    env.pack(name)
    env.login(registry.host)
    cfg = env.tmp / "docker-config" / "config.json"
    data = json.loads(cfg.read_text())
    import base64

    data["auths"][registry.host]["auth"] = base64.b64encode(b"alice:old").decode()
    cfg.write_text(json.dumps(data))
    out = env.hoist("push", name)
    assert out.returncode == 3
    assert "docker-config/config.json" in out.stderr
    assert "stored just now" in out.stderr or "ago" in out.stderr


def test_official_image_push_refused_before_network(env: Env) -> None:
    env.pack("myapp:1.4.0")
    out = env.hoist("push", "myapp:1.4.0", env={"HTTPS_PROXY": "http://127.0.0.1:9"})
    assert out.returncode == 3
    assert out.stderr.startswith(
        "error: not pushing myapp:1.4.0: it routes to Docker Hub's official images "
        "(docker.io/library/myapp)"
    )
    assert "only Docker can push there" in out.stderr
    assert "nothing was sent" in out.stderr
    assert "hoist tag myapp:TAG REGISTRY/TEAM/myapp:TAG" in out.stderr


def test_unknown_registry_and_refused_port(env: Env) -> None:
    env.pack("127.0.0.1:9/team/app:1")
    out = env.hoist("push", "127.0.0.1:9/team/app:1")
    assert out.returncode == 5
    assert "nothing is listening" in out.stderr
    env.pack("no-such-host.invalid/team/app:1")
    out = env.hoist("push", "no-such-host.invalid/team/app:1")
    assert out.returncode == 5
    assert "resolve" in out.stderr
    assert "Traceback" not in out.stderr


def test_pull_missing_tag(env: Env, registry: DistributionRegistry) -> None:
    env.login(registry.host)
    out = env.hoist("pull", f"{registry.host}/nothing/here:1")
    assert out.returncode == 4
    assert "hoist tags" in out.stderr
    assert (
        not (env.tmp / "hoist-home" / "index.json").exists()
        or "nothing" not in (env.tmp / "hoist-home" / "index.json").read_text()
    )
