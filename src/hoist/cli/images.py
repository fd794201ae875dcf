"""`hoist images [--json]`: the local store, as `docker images` shows it."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from hoist.store import ImageStore, StoredImage


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per name, one per line"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="only image IDs (short), like docker -q"
    )
    parser.add_argument(
        "--digests", action="store_true", help="add a DIGEST column (the manifest digest)"
    )
    parser.add_argument("--no-trunc", action="store_true", help="show full image IDs")


def human_size(size: float) -> str:
    """docker's size format: decimal units, 3 significant digits (`7.05MB`)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.3g}{units[i]}"


def human_age(created: str | None, now: datetime | None = None) -> str:
    """docker's "N units ago" for an RFC 3339 timestamp (`N/A` when unknown)."""
    when = _parse_time(created)
    if when is None:
        return "N/A"
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    return f"{_duration(seconds)} ago"


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    t = text.strip().replace("Z", "+00:00")
    if "." in t:  # Python wants at most 6 fractional digits
        head, _, tail = t.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        rest = tail[len(digits) :]
        t = f"{head}.{digits[:6]}{rest}"
    try:
        parsed = datetime.fromisoformat(t)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _duration(seconds: float) -> str:
    """go-units HumanDuration, which docker uses for CREATED."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def rows(image: StoredImage) -> list[dict[str, Any]]:
    """One JSON-ready row per name (one `<none>` row for an unnamed image)."""
    base: dict[str, Any] = {
        "id": str(image.id),
        "digest": str(image.descriptor.digest),
        "created": image.created,
        "size": image.size,
    }
    if image.platforms:
        base["platforms"] = list(image.platforms)
    if not image.names:
        return [{"repository": None, "tag": None, "name": None, **base}]
    return [
        {
            "repository": n.familiar_name,
            "tag": n.tag,
            "name": str(n),
            **base,
        }
        for n in image.names
    ]


def run(args: argparse.Namespace) -> int:
    images = ImageStore().images()
    if args.json:
        for image in images:
            for row in rows(image):
                print(json.dumps(row))
        return 0
    if args.quiet:
        seen: set[str] = set()
        for image in images:
            shown = str(image.id) if args.no_trunc else image.id.short
            if shown not in seen:
                seen.add(shown)
                print(shown)
        return 0
    header = ["REPOSITORY", "TAG"] + (["DIGEST"] if args.digests else [])
    header += ["IMAGE ID", "CREATED", "SIZE"]
    table = [header]
    for image in images:
        for row in rows(image):
            line = [row["repository"] or "<none>", row["tag"] or "<none>"]
            if args.digests:
                line.append(row["digest"])
            line += [
                str(image.id) if args.no_trunc else image.id.short,
                human_age(image.created),
                human_size(image.size),
            ]
            table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0
