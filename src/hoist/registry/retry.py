"""When and how long to wait before trying a request again.

Registries and the proxies in front of them fail transiently: a dropped connection, a 502 from a
load balancer, a 503 while a node restarts, 429 when a rate limit bites. These are retried with
exponential backoff and full jitter (so parallel uploads do not retry in lock-step), honouring
`Retry-After` when the server sends one. Everything else is final and goes to `hoist.diagnose`.
"""

from __future__ import annotations

import email.utils
import os
import random
import time
from dataclasses import dataclass
from typing import Final

import httpx

#: Statuses worth another try: timeouts, rate limits, and server-side trouble.
RETRYABLE_STATUS: Final = frozenset({408, 429, 500, 502, 503, 504})


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff; `HOIST_RETRY_ATTEMPTS`/`HOIST_RETRY_BASE` tune it (CI, tests)."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 20.0
    #: the longest `Retry-After` obeyed; a longer one fails at once with the wait in the message
    max_retry_after: float = 120.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        return cls(
            attempts=max(1, int(_env_float("HOIST_RETRY_ATTEMPTS", cls.attempts))),
            base=max(0.0, _env_float("HOIST_RETRY_BASE", cls.base)),
        )

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for the `attempt`-th retry (1-based)."""
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        """How long to sleep before retry number `attempt`, given the failed response."""
        if response is not None:
            after = parse_retry_after(response.headers.get("retry-after"))
            if after is not None:
                return min(after, self.max_retry_after)
        return self.backoff(attempt)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def is_retryable_exception(exc: BaseException) -> bool:
    """Connection-level failures: refused, reset, timed out, closed mid-response."""
    return isinstance(exc, httpx.TransportError) and not isinstance(
        exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError
    )
