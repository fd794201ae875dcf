"""Credentials exactly as docker keeps them: config.json both ways with the real docker CLI,
credential helpers on PATH through credHelpers/credsStore, identity tokens, env variables."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hoist.auth.config_file import DOCKER_HUB_KEY, DockerConfig
from hoist.auth.keychain import DockerConfigKeychain, EnvKeychain, store_credentials
from tests.client.conftest import PASSWORD, USER, Env
from tests.support.peers import DistributionRegistry

HELPER = """#!/bin/sh
# a docker credential helper keeping secrets in $STORE (one JSON file), like pass/osxkeychain
action="$1"
input="$(cat)"
case "$action" in
  get)
    python3 - "$STORE" "$input" <<'PY'
import json, sys
store = json.load(open(sys.argv[1])) if __import__("os").path.exists(sys.argv[1]) else {}
entry = store.get(sys.argv[2])
if not entry:
    print("credentials not found in native keychain"); sys.exit(1)
print(json.dumps({"ServerURL": sys.argv[2], "Username": entry[0], "Secret": entry[1]}))
PY
    ;;
  store)
    python3 - "$STORE" "$input" <<'PY'
import json, os, sys
store = json.load(open(sys.argv[1])) if os.path.exists(sys.argv[1]) else {}
obj = json.loads(sys.argv[2])
store[obj["ServerURL"]] = [obj["Username"], obj["Secret"]]
json.dump(store, open(sys.argv[1], "w"))
PY
    ;;
  erase)
    python3 - "$STORE" "$input" <<'PY'
import json, os, sys
store = json.load(open(sys.argv[1])) if os.path.exists(sys.argv[1]) else {}
if store.pop(sys.argv[2], None) is None:
    print("credentials not found in native keychain"); sys.exit(1)
json.dump(store, open(sys.argv[1], "w"))
PY
    ;;
  list) echo '{}' ;;
esac
"""


@pytest.fixture
def helper(env: Env, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = env.tmp / "bin"
    bindir.mkdir()
    script = bindir / "docker-credential-fake"
    script.write_text(HELPER)
    script.chmod(0o755)
    store = env.tmp / "fake-store.json"
    path = f"{bindir}:{os.environ['PATH']}"
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("STORE", str(store))
    env.vars["PATH"] = path
    env.vars["STORE"] = str(store)
    return store


def _config(env: Env) -> dict[str, object]:
    return dict(json.loads((env.tmp / "docker-config" / "config.json").read_text()))


def test_write_preserves_other_keys_and_mode(env: Env) -> None:
    cfg = env.tmp / "docker-config" / "config.json"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        json.dumps(
            {"auths": {"other.io": {"auth": "eDp5"}}, "psFormat": "x", "proxies": {"default": {}}}
        )
    )
    store_credentials("docker.io", "bob", "pw")
    data = _config(env)
    assert data["psFormat"] == "x" and "proxies" in data
    auths = data["auths"]
    assert isinstance(auths, dict)
    assert auths["other.io"] == {"auth": "eDp5"}
    assert auths[DOCKER_HUB_KEY]["auth"] == base64.b64encode(b"bob:pw").decode()
    assert cfg.stat().st_mode & 0o777 == 0o600
    cred = DockerConfigKeychain().resolve("docker.io")
    assert cred is not None and cred.username == "bob" and cred.password == "pw"
    assert cred.source.endswith("config.json") and cred.stored_at is not None


def test_reads_docker_style_keys(env: Env) -> None:
    cfg = env.tmp / "docker-config" / "config.json"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        json.dumps(
            {
                "auths": {
                    "https://registry.example.com/v1/": {"auth": base64.b64encode(b"u:p").decode()},
                    "index.docker.io": {"auth": base64.b64encode(b"h:q").decode()},
                    "tok.example.com": {
                        "auth": base64.b64encode(b"x:").decode(),
                        "identitytoken": "IDT",
                    },
                }
            }
        )
    )
    kc = DockerConfigKeychain()
    a = kc.resolve("registry.example.com")
    assert a is not None and (a.username, a.password) == ("u", "p")
    hub = kc.resolve("docker.io")
    assert hub is not None and hub.username == "h"
    tok = kc.resolve("tok.example.com")
    assert tok is not None and tok.identity_token == "IDT" and tok.password is None
    assert kc.resolve("nothing.example.com") is None


def test_corrupt_config_is_explained(env: Env) -> None:
    cfg = env.tmp / "docker-config" / "config.json"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("{not json")
    out = env.hoist("push", "127.0.0.1:9/a/b:1")
    assert "Traceback" not in out.stderr


def test_env_keychain(monkeypatch: pytest.MonkeyPatch, env: Env) -> None:
    monkeypatch.setenv("HOIST_USERNAME", "ci")
    monkeypatch.setenv("HOIST_PASSWORD", "secret")
    monkeypatch.setenv("HOIST_REGISTRY", "reg.example.com")
    assert EnvKeychain().resolve("other.example.com") is None
    cred = EnvKeychain().resolve("reg.example.com")
    assert cred is not None and cred.password == "secret"
    assert "HOIST_USERNAME" in cred.source


@pytest.mark.peer
def test_cred_helper_login_push_logout(
    env: Env, registry: DistributionRegistry, helper: Path
) -> None:
    cfg = env.tmp / "docker-config" / "config.json"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(json.dumps({"credHelpers": {registry.host: "fake"}, "credsStore": "missing"}))
    env.login(registry.host)
    stored = json.loads(helper.read_text())
    assert stored[registry.host] == [USER, PASSWORD]
    assert registry.host not in (_config(env).get("auths") or {})  # no plaintext copy
    name = f"{registry.host}/helper/app:1"
    env.pack(name)
    env.hoist("push", name, check=True)
    out = env.hoist("logout", registry.host, check=True)
    assert "docker-credential-fake" in out.stdout
    assert registry.host not in json.loads(helper.read_text())
    denied = env.hoist("push", name)
    assert denied.returncode == 3


@pytest.mark.peer
def test_missing_helper_is_explained(env: Env, registry: DistributionRegistry) -> None:
    cfg = env.tmp / "docker-config" / "config.json"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(json.dumps({"credsStore": "nonexistent-xyz"}))
    env.pack(f"{registry.host}/a/b:1")
    out = env.hoist("push", f"{registry.host}/a/b:1")
    assert out.returncode == 3
    assert "docker-credential-nonexistent-xyz is not installed" in out.stderr


@pytest.mark.peer
def test_docker_cli_and_hoist_share_config(env: Env, registry: DistributionRegistry) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker CLI not installed")
    denv = {**env.vars}
    # docker login writes, hoist reads and pushes
    subprocess.run(
        [docker, "login", registry.host, "-u", USER, "--password-stdin"],
        input=PASSWORD,
        text=True,
        env=denv,
        check=True,
        capture_output=True,
    )
    name = f"{registry.host}/docker/app:1"
    env.pack(name)
    pushed = env.hoist("push", name, check=True)
    digest = pushed.stdout.splitlines()[-1].split()[2]
    # hoist login writes (after removing docker's entry), docker reads it
    env.hoist("logout", registry.host, check=True)
    assert DockerConfig.load().find_auth(registry.host) is None
    env.login(registry.host)
    manifest = subprocess.run(
        [docker, "manifest", "inspect", "--insecure", name],
        env=denv,
        text=True,
        capture_output=True,
    )
    assert manifest.returncode == 0, manifest.stderr
    assert json.loads(manifest.stdout)["layers"]
    out = subprocess.run(
        [docker, "logout", registry.host], env=denv, text=True, capture_output=True
    )
    assert out.returncode == 0
    assert DockerConfig.load().find_auth(registry.host) is None
    assert digest.startswith("sha256:")


def test_credential_helper_entry_point(env: Env) -> None:
    from hoist.cli import credential_helper

    store_credentials("reg.example.com", "amy", "pw1")
    import io
    import sys

    old_in, old_out = sys.stdin, sys.stdout
    try:
        sys.stdin, sys.stdout = io.StringIO("reg.example.com"), io.StringIO()
        assert credential_helper.main(["get"]) == 0
        got = json.loads(sys.stdout.getvalue())
        sys.stdin, sys.stdout = io.StringIO("unknown.example.com"), io.StringIO()
        assert credential_helper.main(["get"]) == 1
        assert "credentials not found" in sys.stdout.getvalue()
    finally:
        sys.stdin, sys.stdout = old_in, old_out
    assert got == {"ServerURL": "reg.example.com", "Username": "amy", "Secret": "pw1"}
