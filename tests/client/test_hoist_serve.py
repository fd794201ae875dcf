"""The client against hoist's own registry (`hoist serve`), with Basic and with token auth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.client.conftest import Env
from tests.support.hoist_server import hoist_server
from tests.support.peers import skopeo

pytestmark = pytest.mark.peer


@pytest.mark.parametrize("auth", ["htpasswd", "token"])
def test_push_pull_against_hoist_serve(env: Env, tmp_path: Path, auth: str) -> None:
    with hoist_server(tmp_path / "srv", auth=auth) as reg:
        assert reg.user is not None and reg.password is not None
        name = f"{reg.host}/team/app:1"
        env.pack(name, size=200_000)
        env.login(reg.host, reg.user, reg.password)
        pushed = json.loads(env.hoist("push", name, "--json", check=True).stdout)
        again = json.loads(env.hoist("push", name, "--json", check=True).stdout)
        assert again["bytes_uploaded"] == 0
        assert {layer["status"] for layer in again["layers"]} == {"exists"}
        out = skopeo("inspect", "--tls-verify=false", *reg.creds(), f"docker://{name}").stdout
        assert json.loads(out)["Digest"] == pushed["digest"]
        pulled = env.hoist(
            "pull", name, "--json", env={"HOIST_HOME": str(tmp_path / "h2")}, check=True
        )
        assert json.loads(pulled.stdout)["digest"] == pushed["digest"]
        assert env.hoist("tags", f"{reg.host}/team/app", check=True).stdout.split() == ["1"]
