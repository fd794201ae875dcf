"""htpasswd files with bcrypt entries (the only kind distribution accepts), checked fast.

bcrypt is deliberately slow (tens of milliseconds), and Basic auth sends the password on every
request, so a successful check is remembered for a minute as an HMAC of the password under a
per-process random key: the password itself is never stored, and a changed file is re-read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from pathlib import Path
from typing import Final

import bcrypt

_REMEMBER_SECONDS: Final = 60.0


class Htpasswd:
    """The users of one htpasswd file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._users: dict[str, bytes] = {}
        self._mtime = -1.0
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()
        self._reload()

    def _reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            raise ValueError(f"htpasswd file {self.path} does not exist") from None
        if mtime == self._mtime:
            return
        users: dict[str, bytes] = {}
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                raise ValueError(f"{self.path}:{number}: not a 'user:bcrypt-hash' entry")
            users[user] = hashed.encode()
        with self._lock:
            self._users = users
            self._verified.clear()
            self._mtime = mtime

    def __contains__(self, user: str) -> bool:
        return user in self._users

    def verify(self, user: str, password: str) -> bool:
        """True if the password is right (blocking: bcrypt; call from a thread)."""
        try:
            self._reload()
        except (OSError, ValueError):
            return False
        hashed = self._users.get(user)
        if hashed is None:
            return False
        mac = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        remembered = self._verified.get(user)
        if (
            remembered
            and remembered[1] > time.monotonic()
            and hmac.compare_digest(remembered[0], mac)
        ):
            return True
        try:
            ok = bool(bcrypt.checkpw(password.encode(), hashed))
        except ValueError:
            return False
        if ok:
            with self._lock:
                self._verified[user] = (mac, time.monotonic() + _REMEMBER_SECONDS)
        return ok

    def remembered(self, user: str, password: str) -> bool:
        """True if this exact password was verified recently (non-blocking fast path)."""
        try:
            self._reload()  # a stat; an edited file forgets what was remembered
        except (OSError, ValueError):
            return False
        remembered = self._verified.get(user)
        if not remembered or remembered[1] <= time.monotonic():
            return False
        mac = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        return hmac.compare_digest(remembered[0], mac)
