"""Errors as objects: *what* happened, *why* (given the user's state), and the *fix*.

Every failure a user can cause is raised as a `HoistError` (or a subclass). The CLI renders it
on one screen and exits with the code from `ExitCode`; nothing a user can cause prints a
traceback. Library callers get the same structured fields to render as they like.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Documented process exit codes (see docs/cli.md)."""

    OK = 0
    FAILURE = 1  # the operation failed (bad input, invalid name, registry said no, ...)
    USAGE = 2  # the command line itself is wrong
    AUTH = 3  # authentication or authorization failed
    NOT_FOUND = 4  # a name, tag, manifest or blob does not exist
    NETWORK = 5  # the registry could not be reached, TLS failed, or the connection broke
    INTERRUPTED = 130  # Ctrl-C


class HoistError(Exception):
    """A failure with an explanation a user can act on.

    `what` is one line naming the problem (and the file or name involved); `why` says what it
    means given the user's situation; `fix` is the exact command or change that fixes it.
    """

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(
        self,
        what: str,
        *,
        why: str | None = None,
        fix: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.why = why
        self.fix = fix
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, used by `--json` output."""
        out: dict[str, Any] = {"error": self.what, "code": type(self).__name__}
        if self.why:
            out["why"] = self.why
        if self.fix:
            out["fix"] = self.fix
        if self.details:
            out["details"] = self.details
        return out

    def render(self) -> str:
        """The one-screen text form the CLI prints to stderr."""
        lines = [f"error: {self.what}"]
        if self.why:
            lines.append(f"  why: {self.why}")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


class UsageError(HoistError):
    """The command line is wrong (unknown flag, missing argument, conflicting options)."""

    exit_code = ExitCode.USAGE


class InvalidReferenceError(HoistError):
    """An image name breaks the reference grammar."""


class InvalidContentError(HoistError):
    """Content is malformed: a corrupt archive, invalid JSON, an unsafe path, a bad manifest."""


class DigestMismatchError(InvalidContentError):
    """Content does not hash to the digest that names it."""


class NotFoundError(HoistError):
    """A name, tag, manifest or blob does not exist where it was looked for."""

    exit_code = ExitCode.NOT_FOUND


class AuthError(HoistError):
    """Credentials are missing, wrong, expired, or lack the permission needed."""

    exit_code = ExitCode.AUTH


class NetworkError(HoistError):
    """The registry could not be reached, TLS verification failed, or a connection broke."""

    exit_code = ExitCode.NETWORK


class RegistryError(HoistError):
    """A registry answered with an error that is not about auth or a missing name."""


class StoreError(HoistError):
    """The local image store cannot do what was asked (locked, corrupt, out of space)."""
