"""The registry client: the distribution API over httpx (`client`), uploads, tokens, retries.

httpx's package `__init__` imports its command-line tool (`httpx._main`) whenever click, rich
and pygments happen to be installed, which costs tens of milliseconds on every hoist command
that talks to a registry (measured: ~25 ms of `hoist push`'s import time in a venv where they
are). hoist never uses that tool, so it is marked absent before httpx is first imported; httpx
then falls back to its own stub, exactly as when those packages are not installed.
"""

import sys

if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
