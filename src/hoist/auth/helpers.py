"""The docker credential-helper protocol: `docker-credential-NAME get|store|erase|list`.

A helper is a program on PATH. `get` reads a server URL on stdin and prints
`{"ServerURL","Username","Secret"}`; `store` reads that JSON; `erase` reads the URL; `list`
prints `{URL: username}`. A `Username` of `<token>` means `Secret` is an identity (refresh)
token, and the text "credentials not found in native keychain" means "nothing stored", not an
error. This is how docker talks to osxkeychain, pass, secretservice, ecr-login and gcloud.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass

from hoist.errors import AuthError

#: The marker username for identity tokens, shared by docker and every helper.
TOKEN_USERNAME = "<token>"
_NOT_FOUND = "credentials not found in native keychain"
_TIMEOUT = 60.0


@dataclass(frozen=True)
class HelperCredential:
    server_url: str
    username: str
    secret: str

    @property
    def is_identity_token(self) -> bool:
        return self.username == TOKEN_USERNAME


class CredentialHelper:
    """One `docker-credential-NAME` program."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.program = f"docker-credential-{name}"

    def _run(self, action: str, stdin: str) -> str:
        import subprocess  # only when a helper is configured

        path = shutil.which(self.program)
        if path is None:
            raise AuthError(
                f"credential helper {self.program} is not installed",
                why=f"docker's config.json says credentials are kept by '{self.name}' "
                "(credsStore or credHelpers), and no program of that name is on PATH",
                fix=f"install {self.program}, or remove '{self.name}' from credsStore/credHelpers "
                "in your docker config.json",
            )
        try:
            proc = subprocess.run(
                [path, action],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise AuthError(
                f"credential helper {self.program} did not answer '{action}' within "
                f"{int(_TIMEOUT)} s",
                fix=f"run '{self.program} {action}' by hand to see what it waits for",
            ) from None
        except OSError as exc:
            raise AuthError(f"cannot run credential helper {self.program}: {exc}") from None
        if proc.returncode != 0:
            message = (proc.stdout.strip() or proc.stderr.strip())[:500]
            if _NOT_FOUND in message:
                raise _NotFoundError
            raise AuthError(
                f"credential helper {self.program} failed on '{action}': {message or 'no output'}",
                fix=f"run 'echo SERVER | {self.program} {action}' to reproduce it",
            )
        return proc.stdout

    def get(self, server_url: str) -> HelperCredential | None:
        """The credentials for `server_url`, or None if the helper has none."""
        try:
            out = self._run("get", server_url)
        except _NotFoundError:
            return None
        try:
            obj = json.loads(out)
        except ValueError:
            if _NOT_FOUND in out:
                return None
            raise AuthError(
                f"credential helper {self.program} printed something that is not JSON",
                fix=f"run 'echo {server_url} | {self.program} get' to see its output",
            ) from None
        if not isinstance(obj, dict) or not obj.get("Secret"):
            return None
        return HelperCredential(
            server_url=str(obj.get("ServerURL") or server_url),
            username=str(obj.get("Username") or ""),
            secret=str(obj["Secret"]),
        )

    def store(self, server_url: str, username: str, secret: str) -> None:
        payload = {"ServerURL": server_url, "Username": username, "Secret": secret}
        self._run("store", json.dumps(payload))

    def erase(self, server_url: str) -> bool:
        """Erase; True if something was erased, False if there was nothing."""
        try:
            self._run("erase", server_url)
        except _NotFoundError:
            return False
        return True

    def list(self) -> dict[str, str]:
        try:
            out = self._run("list", "")
        except _NotFoundError:
            return {}
        try:
            obj = json.loads(out or "{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in obj.items()} if isinstance(obj, dict) else {}


class _NotFoundError(Exception):
    """The helper said 'credentials not found in native keychain'."""
