"""Run the registry: bind, print where it listens and how to log in, stop on SIGTERM/SIGINT.

`--addr 127.0.0.1:0` picks a free port; the first line printed names the real address, which
is how the test helper (`tests/support/hoist_server.py`) finds it without racing for ports.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
from typing import TextIO

from aiohttp import web

from hoist.errors import NetworkError, UsageError
from hoist.server.app import create_app
from hoist.server.config import ServerConfig


def _ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(
            f"cannot load TLS certificate {config.tls_cert} / key {config.tls_key}: {exc}",
            fix="pass a PEM certificate chain and its unencrypted PEM private key",
        ) from None
    return ctx


def banner(config: ServerConfig, host: str, port: int, tls: bool) -> list[str]:
    """What `hoist serve` prints at start: where, what storage, and how to use it."""
    shown_host = f"[{host}]" if ":" in host else host
    where = f"{shown_host}:{port}"
    scheme = "https" if tls else "http"
    storage = "memory (lost at exit)" if config.storage == "memory" else str(config.root)
    lines = [
        f"hoist serve: listening on {scheme}://{where}",
        f"  storage: {storage}",
        f"  auth: {config.auth}" + (" (anonymous pull allowed)" if config.anonymous_pull else ""),
    ]
    if config.auth == "token":
        lines.append(f"  token endpoint: {config.token_realm or f'{scheme}://{where}/token'}")
    if config.auth == "none":
        lines.append(f"  push with: hoist push {where}/NAME:TAG (no login needed)")
    else:
        lines.append(f"  log in with: hoist login {where} -u USER   (users from {config.htpasswd})")
    if not tls:
        lines.append(
            "  plain HTTP: clients need e.g. --dest-tls-verify=false (skopeo) or an "
            "insecure-registries entry (docker)"
        )
    lines.append("  stop with Ctrl-C or SIGTERM")
    return lines


async def serve(config: ServerConfig, out: TextIO = sys.stdout) -> None:
    """Serve until SIGTERM or SIGINT, then finish in-flight requests and close cleanly."""
    ctx = _ssl_context(config)
    app = create_app(config)
    runner = web.AppRunner(
        app,
        access_log=logging.getLogger("aiohttp.access") if config.access_log else None,
        handle_signals=False,
        read_bufsize=1 << 20,
    )
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, ssl_context=ctx, backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise NetworkError(
            f"cannot listen on {config.addr}: {exc.strerror or exc}",
            fix="pick another --addr (port 0 chooses a free one) or stop what uses it",
        ) from None
    addresses = runner.addresses
    port = int(addresses[0][1]) if addresses else config.port
    for line in banner(config, config.host, port, ctx is not None):
        print(line, file=out)
    out.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        print("hoist serve: shutting down", file=out)
        out.flush()
        await runner.cleanup()
