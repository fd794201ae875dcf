"""Parsing of the small things a request carries: digests, tags, ranges, page sizes.

Each parser turns bad input into the spec's error before any storage is touched.
"""

from __future__ import annotations

import re
from typing import Final

from hoist.errors import InvalidContentError
from hoist.oci import Digest
from hoist.reference import MAX_REPOSITORY_LENGTH, REPOSITORY_PATH_RE, TAG_RE
from hoist.server.errors import APIError

_CONTENT_RANGE_RE: Final = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")
_RANGE_RE: Final = re.compile(r"^bytes=(\d*)-(\d*)$")
MAX_PAGE: Final = 10_000


def repository(name: str) -> str:
    """A repository name from the URL path, validated against the distribution grammar."""
    if len(name) > MAX_REPOSITORY_LENGTH or not REPOSITORY_PATH_RE.match(name):
        raise APIError(
            "NAME_INVALID",
            detail={"name": name[:300]},
            message="invalid repository name: lowercase letters, digits and . _ - "
            "separators, path components joined by /, at most 255 characters",
        )
    return name


def digest(text: str) -> Digest:
    try:
        return Digest(text)
    except InvalidContentError as exc:
        raise APIError("DIGEST_INVALID", exc.what, detail={"digest": text[:200]}) from None


def is_digest_ref(ref: str) -> bool:
    return ":" in ref


def tag(text: str) -> str:
    if not TAG_RE.match(text):
        raise APIError(
            "TAG_INVALID",
            "invalid tag: up to 128 of letters, digits, _ . - and not starting with . or -",
            detail={"tag": text[:200]},
        )
    return text


def page_size(value: str | None, default: int | None) -> int | None:
    """The `n` query parameter: a non-negative integer (capped), or the default."""
    if value is None or value == "":
        return default
    if not value.isdigit():
        raise APIError("PAGINATION_NUMBER_INVALID", detail={"n": value[:50]})
    return min(int(value), MAX_PAGE)


def content_range(header: str) -> tuple[int, int]:
    """An upload chunk's `Content-Range: START-END` (inclusive); RANGE_INVALID if malformed."""
    m = _CONTENT_RANGE_RE.match(header.strip())
    if not m:
        raise APIError("RANGE_INVALID", f"malformed Content-Range {header[:100]!r}")
    start, end = int(m.group(1)), int(m.group(2))
    if end < start:
        raise APIError("RANGE_INVALID", f"Content-Range {header[:100]!r} ends before it starts")
    return start, end


def byte_range(header: str, size: int) -> tuple[int, int]:
    """A blob GET's single `Range: bytes=...` as (start, end) inclusive, within `size`.

    Multiple, inverted, malformed or unsatisfiable ranges are RANGE_INVALID (416) with
    `Content-Range: bytes */SIZE`, as RFC 9110 asks.
    """
    unsatisfiable = APIError(
        "RANGE_INVALID",
        f"range {header[:100]!r} cannot be satisfied for a {size}-byte blob",
        headers={"Content-Range": f"bytes */{size}"},
    )
    m = _RANGE_RE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        raise unsatisfiable
    first, last = m.group(1), m.group(2)
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise unsatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start > end or start >= size:
        raise unsatisfiable
    return start, min(end, size - 1)
