"""Where hoist keeps things on disk, resolved from the environment the way users expect.

`HOIST_HOME` moves the local image store (default: `$XDG_DATA_HOME/hoist`, i.e.
`~/.local/share/hoist`); `DOCKER_CONFIG` moves the credentials directory exactly as it does for
the docker CLI (default `~/.docker`), so hoist and docker share one `config.json`.
"""

from __future__ import annotations

import os
from pathlib import Path


def hoist_home() -> Path:
    """The root of hoist's own data: the local image store and client metadata."""
    explicit = os.environ.get("HOIST_HOME")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "hoist"


def hoist_config_dir() -> Path:
    """hoist's own settings (insecure registries, defaults): `$XDG_CONFIG_HOME/hoist`."""
    explicit = os.environ.get("HOIST_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "hoist"


def docker_config_dir() -> Path:
    """The docker CLI's configuration directory, honouring `DOCKER_CONFIG`."""
    explicit = os.environ.get("DOCKER_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return Path.home() / ".docker"
