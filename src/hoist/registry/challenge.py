"""`WWW-Authenticate` challenges (RFC 7235) as registries send them: Basic and Bearer.

A registry answers an unauthenticated request with 401 and, for token auth,
`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"`.
Pure parsing, no I/O: a header may carry several challenges, values may be quoted with escapes,
and scheme names are case-insensitive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SCHEME_RE = re.compile(rf"\s*({_TOKEN})(?=\s|,|$)")
_PARAM_RE = re.compile(rf'\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))\s*')


@dataclass(frozen=True)
class Challenge:
    """One challenge: the scheme (lower case) and its parameters (keys lower case)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> list[str]:
        """Scopes the server asked for (space-separated per the token spec)."""
        return self.params.get("scope", "").split()


def parse_challenges(headers: Iterable[str]) -> list[Challenge]:
    """Every challenge in one or more `WWW-Authenticate` header values; junk is skipped."""
    out: list[Challenge] = []
    for header in headers:
        out.extend(_parse_one(header))
    return out


def _parse_one(text: str) -> list[Challenge]:
    out: list[Challenge] = []
    pos = 0
    current: Challenge | None = None
    while pos < len(text):
        if text[pos] in ", \t":
            pos += 1
            continue
        param = _PARAM_RE.match(text, pos)
        if param and current is not None:
            quoted = param.group(2)
            value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else param.group(3)
            current.params[param.group(1).lower()] = value
            pos = param.end()
            continue
        scheme = _SCHEME_RE.match(text, pos)
        if scheme:
            current = Challenge(scheme.group(1).lower(), {})
            out.append(current)
            pos = scheme.end()
            continue
        # unparseable: skip to the next comma so one bad param does not lose the rest
        nxt = text.find(",", pos)
        pos = len(text) if nxt < 0 else nxt + 1
    return out


def pick(challenges: list[Challenge]) -> Challenge | None:
    """The challenge hoist answers: Bearer when offered (it scopes access), else Basic."""
    for scheme in ("bearer", "basic"):
        for c in challenges:
            if c.scheme == scheme:
                return c
    return None


def repository_scope(repository: str, actions: Iterable[str]) -> str:
    """`repository:NAME:pull,push` — actions in a stable order so cache keys match."""
    order = {"pull": 0, "push": 1, "delete": 2, "*": 3}
    acts = sorted(set(actions), key=lambda a: (order.get(a, 9), a))
    return f"repository:{repository}:{','.join(acts)}"
