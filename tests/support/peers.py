"""Start and drive the real peer programs the suite tests against, on 127.0.0.1 only.

Every server is started on a free loopback port in a private temp dir and stopped by process id
when the test ends. Tests that need a peer the machine lacks are skipped with the install line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 15.0
) -> None:
    """Block until something accepts connections on 127.0.0.1:port (or fail with its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def require(program: str, package: str | None = None) -> str:
    """The path of `program`, or skip the test saying how to install it."""
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} not installed (apt-get install -y {package or program})")
    return path


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started by a test: SIGTERM, then SIGKILL after 5 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def htpasswd_line(user: str, password: str) -> str:
    """One bcrypt htpasswd entry (the only kind distribution accepts)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    return f"{user}:{hashed}"


@dataclass
class DistributionRegistry:
    """A running distribution (docker-registry 2.8) instance."""

    host: str  # "127.0.0.1:PORT"
    root: Path
    user: str | None
    password: str | None
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.host}"


@contextlib.contextmanager
def distribution_registry(
    workdir: Path, *, user: str | None = None, password: str | None = None
) -> Iterator[DistributionRegistry]:
    """Run Debian's docker-registry on a free loopback port, optionally with htpasswd auth."""
    binary = require("docker-registry")
    port = free_port()
    root = workdir / "distribution-data"
    root.mkdir(parents=True, exist_ok=True)
    auth = ""
    if user is not None and password is not None:
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text(htpasswd_line(user, password) + "\n")
        auth = f"auth:\n  htpasswd:\n    realm: test-realm\n    path: {htpasswd}\n"
    config = workdir / "distribution.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {root}\n"
        "  delete:\n    enabled: true\n"
        "  cache:\n    blobdescriptor: inmemory\n"
        f"http:\n  addr: 127.0.0.1:{port}\n" + auth
    )
    log = (workdir / "distribution.log").open("wb")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
        yield DistributionRegistry(f"127.0.0.1:{port}", root, user, password, proc)
    finally:
        stop(proc)
        log.close()


def skopeo(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run skopeo with no signature policy file needed (tests only talk to loopback)."""
    binary = require("skopeo")
    env = dict(os.environ)
    return subprocess.run(
        [binary, "--insecure-policy", *args],
        check=check,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def podman_cmd(root: Path) -> list[str]:
    """A podman command line with private storage under `root` (no daemon, vfs, as root)."""
    binary = require("podman")
    return [
        binary,
        "--root",
        str(root / "storage"),
        "--runroot",
        str(root / "run"),
        "--storage-driver",
        "vfs",
    ]
