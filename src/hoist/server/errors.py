"""The distribution API's error model: a spec code, its HTTP status, a message and a detail.

Every failure a client can cause leaves the server as `{"errors": [{"code", "message",
"detail"}]}` with the status the spec (or, where the spec is silent, distribution 2.8) uses, so
clients such as skopeo, docker and hoist's own client can tell "unknown blob" from "denied".
Handlers raise `APIError`; one middleware renders it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True)
class ErrorCode:
    """One row of the spec's error table."""

    code: str
    status: int
    message: str


def _codes(*rows: tuple[str, int, str]) -> dict[str, ErrorCode]:
    return {code: ErrorCode(code, status, message) for code, status, message in rows}


#: The OCI distribution-spec error codes plus the ones distribution adds (RANGE_INVALID,
#: TAG_INVALID, PAGINATION_NUMBER_INVALID, UNKNOWN), with distribution's statuses.
CODES: Final = _codes(
    ("BLOB_UNKNOWN", 404, "blob unknown to registry"),
    ("BLOB_UPLOAD_INVALID", 400, "blob upload invalid"),
    ("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"),
    ("DIGEST_INVALID", 400, "provided digest did not match uploaded content"),
    ("MANIFEST_BLOB_UNKNOWN", 400, "manifest references a blob unknown to the repository"),
    ("MANIFEST_INVALID", 400, "manifest invalid"),
    ("MANIFEST_UNKNOWN", 404, "manifest unknown"),
    ("MANIFEST_UNVERIFIED", 400, "manifest failed signature verification"),
    ("NAME_INVALID", 400, "invalid repository name"),
    ("NAME_UNKNOWN", 404, "repository name not known to registry"),
    ("SIZE_INVALID", 400, "provided length did not match content length"),
    ("TAG_INVALID", 400, "manifest tag did not match URI"),
    ("UNAUTHORIZED", 401, "authentication required"),
    ("DENIED", 403, "requested access to the resource is denied"),
    ("UNSUPPORTED", 405, "the operation is unsupported"),
    ("TOOMANYREQUESTS", 429, "too many requests"),
    ("RANGE_INVALID", 416, "invalid content range"),
    ("PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested"),
    ("UNKNOWN", 500, "unknown error"),
)


class APIError(Exception):
    """An error response of the distribution API.

    `status` overrides the code's usual status where the spec asks for another one (a manifest
    over 4 MiB is MANIFEST_INVALID with 413). `headers` carries e.g. `WWW-Authenticate`.
    `more` adds further (code, message, detail) entries: the spec wants one error per missing
    blob of a manifest.
    """

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        detail: Any = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        more: list[tuple[str, str, Any]] | None = None,
    ) -> None:
        spec = CODES[code]
        self.code = code
        self.message = message or spec.message
        self.detail = detail
        self.status = status or spec.status
        self.headers = dict(headers or {})
        self.more = list(more or [])
        super().__init__(f"{code}: {self.message}")

    def body(self) -> bytes:
        """The JSON body every spec client parses."""
        entries = []
        for code, message, detail in [(self.code, self.message, self.detail), *self.more]:
            entry: dict[str, Any] = {"code": code, "message": message}
            if detail is not None:
                entry["detail"] = detail
            entries.append(entry)
        return json.dumps({"errors": entries}).encode()
