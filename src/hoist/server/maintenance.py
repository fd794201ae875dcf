"""Garbage collection and consistency checks of registry storage (`hoist registry gc|check`).

GC is mark and sweep, like distribution's, without its race: it holds the storage lock
exclusively while it works, and every push step that creates a reference (blob commit, mount,
manifest put) holds it shared, so a sweep never runs between "this blob exists" and "now a
manifest points at it". On top of that, nothing younger than the grace period is removed (zot
and Harbor do the same): content uploaded for a push whose manifest has not arrived yet stays.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from hoist.errors import InvalidContentError
from hoist.oci import Digest, Manifest
from hoist.server.storage import PathNotFoundError
from hoist.server.store import (
    RegistryStore,
    blob_path,
    hash_file,
    layer_link,
    revision_link,
    tag_link,
    tags_dir,
)
from hoist.server.uploads import UploadManager


@dataclass
class GcReport:
    """What a collection removed (or, with dry_run, would remove)."""

    blobs: list[Digest] = field(default_factory=list)
    freed_bytes: int = 0
    layer_links: list[tuple[str, Digest]] = field(default_factory=list)
    manifests: list[tuple[str, Digest]] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)


def _references(manifest: Manifest) -> set[Digest]:
    out: set[Digest] = set()
    with contextlib.suppress(InvalidContentError):
        out.update(d.digest for d in manifest.blobs())
        out.update(d.digest for d in manifest.manifests)
    return out


def _parse(store: RegistryStore, name: str, digest: Digest) -> Manifest | None:
    item = store.get_manifest(name, digest)
    if item is None:
        return None
    try:
        return Manifest.parse(item.data, item.media_type)
    except InvalidContentError:
        return None


def _older(store: RegistryStore, path: str, cutoff: float) -> bool:
    try:
        return store.driver.stat(path).mtime < cutoff
    except PathNotFoundError:
        return False


def collect_garbage(
    store: RegistryStore,
    *,
    grace: float = 3600.0,
    upload_ttl: float = 24 * 3600.0,
    delete_untagged: bool = False,
    dry_run: bool = False,
) -> GcReport:
    """Remove unreferenced content older than `grace` seconds; see the module docstring.

    A blob stays while any repository links it or any manifest references it. Per repository,
    a layer link stays while a manifest of that repository references it or it is young.
    With `delete_untagged`, manifests that no tag, index or live subject reaches are removed.
    """
    report = GcReport()
    cutoff = time.time() - grace
    driver = store.driver
    with driver.lock(exclusive=True):
        live: set[Digest] = set()
        for name in store.repositories():
            revisions = store.manifest_revisions(name)
            parsed = {d: _parse(store, name, d) for d in revisions}
            keep = set(revisions)
            if delete_untagged:
                keep = _reachable(store, name, parsed)
                for digest in sorted(set(revisions) - keep):
                    if _older(store, revision_link(name, digest), cutoff):
                        report.manifests.append((name, digest))
                        if not dry_run:
                            store.delete_manifest(name, digest)
                    else:
                        keep.add(digest)
            referenced: set[Digest] = set(keep)
            for digest in keep:
                manifest = parsed.get(digest)
                if manifest is not None:
                    referenced |= _references(manifest)
            for digest in store.layer_links(name):
                link = layer_link(name, digest)
                if not driver.exists(link):
                    _remove_leftover(store, link.rsplit("/", 1)[0], cutoff, dry_run)
                    continue
                if digest in referenced or not _older(store, link, cutoff):
                    live.add(digest)
                    continue
                report.layer_links.append((name, digest))
                if not dry_run:
                    store.unlink_blob(name, digest)
            live |= referenced
        for digest in store.all_blobs():
            size = store.blob_size(digest)
            if size is None:
                _remove_leftover(store, blob_path(digest).rsplit("/", 1)[0], cutoff, dry_run)
                continue
            if digest in live or not _older(store, blob_path(digest), cutoff):
                continue
            report.blobs.append(digest)
            report.freed_bytes += size
            if not dry_run:
                with contextlib.suppress(PathNotFoundError):
                    driver.delete(blob_path(digest).rsplit("/", 1)[0])
        if not dry_run:
            report.uploads = UploadManager(store).purge_stale(upload_ttl)
    return report


def _remove_leftover(store: RegistryStore, directory: str, cutoff: float, dry_run: bool) -> None:
    """Remove a directory a crash left without its file (a cut-short commit or link write)."""
    if dry_run or not _older(store, directory, cutoff):
        return
    with contextlib.suppress(PathNotFoundError):
        store.driver.delete(directory)


def _reachable(
    store: RegistryStore, name: str, parsed: dict[Digest, Manifest | None]
) -> set[Digest]:
    """Manifests reachable from tags, through index children and referrers of kept ones."""
    keep: set[Digest] = set()
    todo = list(store.tag_digests(name).values())
    subjects: dict[Digest, list[Digest]] = {}
    for digest, manifest in parsed.items():
        if manifest is None:
            continue
        with contextlib.suppress(InvalidContentError):
            subject = manifest.subject
            if subject is not None:
                subjects.setdefault(subject.digest, []).append(digest)
    while todo:
        digest = todo.pop()
        if digest in keep:
            continue
        keep.add(digest)
        manifest = parsed.get(digest)
        if manifest is not None and manifest.is_index:
            todo.extend(d.digest for d in manifest.manifests)
        todo.extend(subjects.get(digest, []))
    return keep


def check_storage(store: RegistryStore) -> list[str]:
    """Every problem found: blobs whose bytes do not match their digest, links to missing
    blobs, manifests that do not parse or reference what their repository lacks, dangling
    tags. Reads every blob once (streaming).

    Directories a crash left without their file (a blob move or link write cut short) are not
    problems: nothing in them was ever visible, and gc removes them after the grace period.
    """
    problems: list[str] = []
    driver = store.driver
    for digest in store.all_blobs():
        hasher = digest.hasher()
        try:
            hash_file(driver, blob_path(digest), hasher)
        except PathNotFoundError:
            continue  # leftover of a commit cut short: invisible, and gc removes it
        actual = f"{digest.algorithm}:{hasher.hexdigest()}"
        if actual != digest:
            problems.append(f"blob {digest}: content hashes to {actual}")
    for name in store.repositories():
        for digest in store.layer_links(name):
            try:
                target = driver.get_content(layer_link(name, digest)).decode().strip()
            except PathNotFoundError:
                continue  # a link write cut short: the blob is simply not linked
            except UnicodeDecodeError:
                target = ""
            if target != digest:
                problems.append(f"{name}: layer link {digest} is corrupt ({target[:80]!r})")
            if store.blob_size(digest) is None:
                problems.append(f"{name}: layer link {digest} points to a missing blob")
        for digest in store.manifest_revisions(name):
            if not driver.exists(revision_link(name, digest)):
                continue  # a link write cut short: the manifest was never visible
            item = store.get_manifest(name, digest)
            if item is None:
                problems.append(f"{name}: manifest {digest} is linked but its content is missing")
                continue
            try:
                manifest = Manifest.parse(item.data, item.media_type)
            except InvalidContentError as exc:
                problems.append(f"{name}: manifest {digest} is invalid: {exc.what}")
                continue
            for missing in store.missing_references(name, manifest):
                problems.append(f"{name}: manifest {digest} references missing {missing.digest}")
        for tag in driver.list(tags_dir(name)):
            if not driver.exists(tag_link(name, tag)):
                continue  # a tag write cut short: the tag never existed
            tagged = store.resolve_tag(name, tag)
            if tagged is None:
                problems.append(f"{name}: tag {tag} has no valid link ({tag_link(name, tag)})")
            elif store.get_manifest(name, tagged) is None:
                problems.append(f"{name}: tag {tag} points to missing manifest {tagged}")
    return problems
