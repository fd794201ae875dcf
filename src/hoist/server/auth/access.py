"""Who may do what: access rules per user and repository pattern, and token scopes.

Rules come from the `auth.access` list of the config. Each names users (`alice`, `*` for any
authenticated user, `anonymous` for callers without credentials), repository patterns (shell
globs where `*` stops at `/` and `**` crosses it; `${user}` is the caller's name) and actions
(`pull`, `push`, `delete`, `*`). The rights of a caller on a repository are the union of the
matching rules. `push` implies `pull`, because every push client checks what already exists.

With no rules configured, every authenticated user may do everything and anonymous callers
may pull only if `anonymous_pull` is on: the behaviour of distribution with htpasswd.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

ANONYMOUS: Final = "anonymous"
ACTIONS: Final = frozenset({"pull", "push", "delete"})


@dataclass(frozen=True)
class Scope:
    """A docker token scope: `repository:team/app:pull,push` or `registry:catalog:*`."""

    type: str
    name: str
    actions: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Scope | None:
        """Parse one scope string; None if it is malformed (the token spec says: ignore it)."""
        kind, _, rest = text.partition(":")
        name, _, actions = rest.rpartition(":")
        if not kind or not name or not actions:
            return None
        return cls(kind, name, frozenset(a for a in actions.split(",") if a))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    def to_claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


@dataclass(frozen=True)
class AccessRule:
    users: tuple[str, ...]
    repositories: tuple[str, ...]
    actions: frozenset[str]

    def applies_to(self, user: str) -> bool:
        if user == ANONYMOUS:
            return ANONYMOUS in self.users
        return "*" in self.users or user in self.users

    def matches(self, user: str, repository: str) -> bool:
        return any(_glob(p.replace("${user}", user)).match(repository) for p in self.repositories)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{what} must be a string or a list of strings")


def parse_rules(raw: Sequence[Mapping[str, Any]]) -> list[AccessRule]:
    """Rules from the config's `auth.access` list (ValueError says what is wrong)."""
    rules = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise ValueError(f"auth.access[{i}] must be a mapping")
        users = _strings(item.get("users", item.get("user", [])), f"auth.access[{i}].users")
        repos = _strings(
            item.get("repositories", item.get("repository", [])),
            f"auth.access[{i}].repositories",
        )
        actions = set(_strings(item.get("actions", []), f"auth.access[{i}].actions"))
        if "*" in actions:
            actions = set(ACTIONS)
        unknown = actions - ACTIONS
        if unknown:
            raise ValueError(f"auth.access[{i}]: unknown actions {sorted(unknown)}")
        if not users or not repos:
            raise ValueError(f"auth.access[{i}] needs users and repositories")
        rules.append(AccessRule(users, repos, frozenset(actions)))
    return rules


class AccessPolicy:
    """Decides the actions a user may take on a repository."""

    def __init__(self, rules: Iterable[AccessRule] | None, *, anonymous_pull: bool) -> None:
        self.rules = list(rules) if rules else None
        self.anonymous_pull = anonymous_pull

    def allowed(self, user: str, repository: str) -> frozenset[str]:
        granted: set[str] = set()
        if user == ANONYMOUS and self.anonymous_pull:
            granted.add("pull")
        if self.rules is None:
            if user != ANONYMOUS:
                granted |= ACTIONS
        else:
            for rule in self.rules:
                if rule.applies_to(user) and rule.matches(user, repository):
                    granted |= rule.actions
        if "push" in granted:
            granted.add("pull")
        return frozenset(granted)

    def may_list_catalog(self, user: str) -> bool:
        """Anyone who may pull something may call the catalog; it is filtered per caller."""
        return user != ANONYMOUS or self.anonymous_pull or self.rules is not None

    def grant(self, user: str, requested: Iterable[Scope]) -> list[Scope]:
        """The part of each requested scope this user holds (docker token spec semantics)."""
        out: list[Scope] = []
        for scope in requested:
            if scope.type == "repository":
                held = self.allowed(user, scope.name) & scope.actions
            elif scope.type == "registry" and scope.name == "catalog":
                held = scope.actions & {"*"} if self.may_list_catalog(user) else frozenset()
            else:
                held = frozenset()
            out.append(Scope(scope.type, scope.name, frozenset(held)))
        return out
