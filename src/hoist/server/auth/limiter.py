"""Slow down password guessing: too many failed logins from one address get 429.

bcrypt makes each guess cost the attacker little and the server a lot; the remembered-password
cache does not help against wrong ones. So after `max_failures` failed logins from one client
address within `window` seconds, further attempts from it are refused with TOOMANYREQUESTS and
`Retry-After` until the window has passed, without running bcrypt at all.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from hoist.server.errors import APIError

_MAX_CLIENTS = 10_000


class LoginLimiter:
    def __init__(
        self,
        max_failures: int = 10,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        cutoff = self._clock() - self.window
        while failures and failures[0] < cutoff:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures

    def check(self, client: str) -> None:
        """Raise TOOMANYREQUESTS if `client` failed too often recently."""
        failures = self._recent(client)
        if failures is not None and len(failures) >= self.max_failures:
            wait = int(failures[0] + self.window - self._clock()) + 1
            raise APIError(
                "TOOMANYREQUESTS",
                f"too many failed logins from {client}; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )

    def failed(self, client: str) -> None:
        if len(self._failures) >= _MAX_CLIENTS and client not in self._failures:
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(client, deque()).append(self._clock())
