"""The `hoist serve` process: clean stop on SIGTERM, the banner, and HTTPS."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.server.images import make_layout
from tests.support.hoist_server import hoist_server, start_hoist_server
from tests.support.peers import skopeo


def test_sigterm_stops_cleanly_and_banner_says_how_to_log_in(tmp_path: Path) -> None:
    server = start_hoist_server(tmp_path, auth="htpasswd")
    text = "\n".join(server.banner)
    assert f"listening on http://{server.host}" in text
    assert f"hoist login {server.host} -u USER" in text
    assert httpx.get(f"{server.url}/v2/", auth=server.basic_auth).status_code == 200
    assert server.stop() == 0
    assert server.proc.stdout is not None
    assert "shutting down" in server.proc.stdout.read().decode()
    assert server.password is not None and server.password not in server.read_log()


@pytest.mark.peer
def test_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    with hoist_server(tmp_path / "srv", auth="htpasswd", extra_args=args) as reg:
        assert reg.url.startswith("https://")
        r = httpx.get(
            f"{reg.url}/v2/",
            auth=reg.basic_auth,
            verify=ssl.create_default_context(cafile=str(cert)),
        )
        assert r.status_code == 200
        layout = make_layout(tmp_path / "img", layers=1)
        skopeo("copy", *reg.dest_creds(), layout.ref, f"docker://{reg.host}/tls/app:v1")
        raw = skopeo("inspect", "--raw", *reg.creds(), f"docker://{reg.host}/tls/app:v1").stdout
        assert json.loads(raw)["layers"][0]["digest"] == layout.layer_digests[0]
