"""Fixtures for the registry-client tests: an isolated environment per test, real registries,
and a `hoist` runner that executes the real CLI in a subprocess (exit codes, stdout, stderr)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.peers import DistributionRegistry, distribution_registry

USER, PASSWORD = "alice", "alice-pw"


@dataclass
class Env:
    """Where this test's hoist keeps things, and how to run it."""

    tmp: Path
    vars: dict[str, str]

    def hoist(
        self,
        *args: str,
        input: str | None = None,
        check: bool = False,
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "hoist.cli.main", *args],
            input=input,
            capture_output=True,
            text=True,
            env={**self.vars, **(env or {})},
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"hoist {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def pack(self, name: str, *, size: int = 4096, seed: str = "") -> None:
        """A small one-layer image in the local store under `name` (random content)."""
        ctx = self.tmp / f"ctx-{abs(hash((name, seed, size)))}"
        ctx.mkdir(parents=True, exist_ok=True)
        (ctx / "data.bin").write_bytes(os.urandom(size))
        (ctx / "name.txt").write_text(name + seed)
        self.hoist("pack", str(ctx), "-t", name, check=True)

    def login(self, registry: str, user: str = USER, password: str = PASSWORD) -> None:
        self.hoist("login", "-u", user, "--password-stdin", registry, input=password, check=True)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """HOIST_HOME, DOCKER_CONFIG and hoist's config dir private to this test, fast retries."""
    values = {
        "HOIST_HOME": str(tmp_path / "hoist-home"),
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
        "HOIST_CONFIG_DIR": str(tmp_path / "hoist-config"),
        "HOIST_RETRY_BASE": "0.05",
        "HOIST_PROGRESS": "plain",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    for key in (
        "HOIST_USERNAME",
        "HOIST_PASSWORD",
        "HOIST_REGISTRY",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(key, raising=False)
    base = dict(os.environ)
    base.update(values)
    return Env(tmp_path, base)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[DistributionRegistry]:
    """distribution 2.8 with htpasswd auth (alice / alice-pw)."""
    with distribution_registry(tmp_path / "registry", user=USER, password=PASSWORD) as reg:
        yield reg


@pytest.fixture
def open_registry(tmp_path: Path) -> Iterator[DistributionRegistry]:
    """distribution 2.8 without auth (for proxies that add their own)."""
    with distribution_registry(tmp_path / "open-registry") as reg:
        yield reg
