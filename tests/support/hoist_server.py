"""Run `hoist serve` as a real subprocess for tests: loopback only, free port, private storage.

Usage (any test module may import this)::

    from tests.support.hoist_server import hoist_server

    def test_push(tmp_path):
        with hoist_server(tmp_path) as reg:                      # no auth
            skopeo("copy", "--dest-tls-verify=false", src, f"docker://{reg.host}/app:1")
        with hoist_server(tmp_path / "b", auth="htpasswd") as reg:  # Basic, user alice
            skopeo("copy", *reg.dest_creds(), src, f"docker://{reg.host}/app:1")
        with hoist_server(tmp_path / "c", auth="token", anonymous_pull=True) as reg:
            httpx.get(f"{reg.url}/token", auth=reg.basic_auth)   # docker token flow

The server is started with `--addr 127.0.0.1:0`: the kernel picks the port and the server
prints it on its first line, so there is no race between finding a free port and binding it.
`reg.host` is `127.0.0.1:PORT`; `reg.user`/`reg.password` are the first user's credentials
(None without auth); `reg.users` has every user. The server's stderr goes to
`WORKDIR/hoist-serve.log`, which is attached to the failure message if it does not start.
The server is stopped with SIGTERM (SIGKILL after 5 s) when the block exits; `reg.kill()`
sends SIGKILL at once, for crash tests, and `start_hoist_server` starts one without a `with`.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.peers import htpasswd_line, stop

DEFAULT_USERS: Mapping[str, str] = {"alice": "alice-secret-pw"}
_LISTEN_RE = re.compile(r"listening on (https?)://(\S+)")


@dataclass
class HoistServer:
    """A running `hoist serve`."""

    host: str
    scheme: str
    root: Path
    auth: str
    users: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path
    banner: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def user(self) -> str | None:
        return next(iter(self.users), None)

    @property
    def password(self) -> str | None:
        return self.users[self.user] if self.user else None

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """For httpx: `auth=reg.basic_auth`."""
        return (self.user, self.password) if self.user and self.password else None

    def _skopeo_flags(self, prefix: str) -> list[str]:
        """`--{prefix}tls-verify=false` (loopback HTTP) and `--{prefix}creds` if any."""
        args = [f"--{prefix}tls-verify=false"]
        if self.user:
            args.append(f"--{prefix}creds={self.user}:{self.password}")
        return args

    def dest_creds(self) -> list[str]:
        """skopeo flags to push here."""
        return self._skopeo_flags("dest-")

    def src_creds(self) -> list[str]:
        """skopeo flags to pull from here."""
        return self._skopeo_flags("src-")

    def creds(self) -> list[str]:
        """skopeo flags for inspect / list-tags / delete."""
        return self._skopeo_flags("")

    def kill(self) -> None:
        """SIGKILL, no cleanup: what a crash looks like to storage."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        stop(self.proc)
        return int(self.proc.returncode)

    def read_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _write_config(
    workdir: Path,
    auth: str,
    users: Mapping[str, str],
    anonymous_pull: bool,
    access: Sequence[Mapping[str, Any]] | None,
    config: Mapping[str, Any] | None,
) -> Path:
    doc: dict[str, Any] = dict(config or {})
    auth_section: dict[str, Any] = dict(doc.get("auth") or {})
    if auth in ("htpasswd", "token"):
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text("".join(htpasswd_line(u, p) + "\n" for u, p in users.items()))
        auth_section["htpasswd"] = str(htpasswd)
    if auth == "token":
        auth_section.setdefault("token", {})
    if anonymous_pull:
        auth_section["anonymous_pull"] = True
    if access is not None:
        auth_section["access"] = [dict(rule) for rule in access]
    if auth_section:
        doc["auth"] = auth_section
    path = workdir / "hoist-serve.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def start_hoist_server(
    workdir: Path,
    *,
    auth: str = "none",
    users: Mapping[str, str] | None = None,
    anonymous_pull: bool = False,
    access: Sequence[Mapping[str, Any]] | None = None,
    config: Mapping[str, Any] | None = None,
    root: Path | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 20.0,
) -> HoistServer:
    """Start `hoist serve` and return once it listens (the caller must stop it).

    `auth` is none, htpasswd or token; `users` maps user -> password (default one user,
    alice); `access` is the config's `auth.access` rule list; `config` is any further YAML
    config as a dict (merged under the generated auth section); `root` defaults to
    `WORKDIR/registry` and may be reused across restarts.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    chosen_users = dict(DEFAULT_USERS if users is None else users) if auth != "none" else {}
    cfg = _write_config(workdir, auth, chosen_users, anonymous_pull, access, config)
    root = root or workdir / "registry"
    log = workdir / "hoist-serve.log"
    cmd = [
        sys.executable,
        "-m",
        "hoist.cli.main",
        "serve",
        "--config",
        str(cfg),
        "--addr",
        "127.0.0.1:0",
        "--root",
        str(root),
        *extra_args,
    ]
    if auth != "none":
        cmd += ["--auth", auth]
    full_env = dict(os.environ)
    full_env.update(env or {})
    with log.open("ab") as log_fh:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=log_fh, env=full_env, cwd=workdir
        )
    assert proc.stdout is not None
    banner: list[str] = []
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buffer = b""
    try:
        while time.monotonic() < deadline:
            if not sel.select(timeout=0.2):
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
            text = buffer.decode(errors="replace")
            m = _LISTEN_RE.search(text)
            if m and "stop with" in text:
                banner = text.splitlines()
                return HoistServer(
                    m.group(2), m.group(1), root, auth, chosen_users, proc, log, banner
                )
    finally:
        sel.close()
    stop(proc)
    raise RuntimeError(
        f"hoist serve did not start (exit {proc.returncode}):\n{buffer.decode(errors='replace')}"
        f"\n--- log ---\n{log.read_text(errors='replace')}"
    )


@contextlib.contextmanager
def hoist_server(workdir: Path, **kwargs: Any) -> Iterator[HoistServer]:
    """`start_hoist_server(...)` as a context manager that always stops the server."""
    server = start_hoist_server(workdir, **kwargs)
    try:
        yield server
    finally:
        stop(server.proc)
        if server.proc.stdout is not None:
            server.proc.stdout.close()
