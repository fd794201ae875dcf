"""TLS: an untrusted certificate is explained; --ca-cert (or certs.d) makes it work."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.client.conftest import Env
from tests.support.peers import free_port, require, stop, wait_for_port

pytestmark = pytest.mark.peer


def test_self_signed_registry(env: Env, tmp_path: Path) -> None:
    binary = require("docker-registry")
    openssl = require("openssl")
    port = free_port()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    cfg = tmp_path / "tls.yml"
    cfg.write_text(
        "version: 0.1\nlog:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {cert}\n    key: {key}\n"
    )
    proc = subprocess.Popen(
        [binary, "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, proc)
        # loopback may fall back to plain HTTP, but not past a certificate it cannot trust
        name = f"127.0.0.1:{port}/tls/app:1"
        env.pack(name)
        untrusted = env.hoist("push", name)
        assert untrusted.returncode == 5
        assert "certificate" in untrusted.stderr and "--ca-cert" in untrusted.stderr
        ok = env.hoist("push", name, "--ca-cert", str(cert))
        assert ok.returncode == 0, ok.stderr
        insecure = env.hoist("push", name, "--insecure")
        assert insecure.returncode == 0, insecure.stderr
    finally:
        stop(proc)
