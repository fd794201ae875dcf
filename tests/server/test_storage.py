"""Storage drivers (one conformance suite for both), the store's visibility rules, gc and check."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hoist.oci import Digest, Manifest
from hoist.server import ServerConfig, create_app
from hoist.server.maintenance import check_storage, collect_garbage
from hoist.server.storage import FilesystemDriver, MemoryDriver, PathNotFoundError, StorageDriver
from hoist.server.store import RegistryStore, blob_path, layer_link
from tests.server.conftest import image_manifest


@pytest.fixture(params=["filesystem", "memory"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageDriver]:
    if request.param == "memory":
        yield MemoryDriver()
    else:
        yield FilesystemDriver(tmp_path / "root")


def test_driver_content_round_trip(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFoundError):
        driver.get_content("a/b")
    driver.put_content("a/b/c", b"one")
    driver.put_content("a/b/c", b"two")
    assert driver.get_content("a/b/c") == b"two"
    assert driver.stat("a/b/c").size == 3
    assert driver.stat("a/b").is_dir
    assert driver.list("a") == ["b"]
    assert driver.list("missing") == []
    with driver.reader("a/b/c", 1) as fh:
        assert fh.read() == b"wo"


def test_driver_resumable_writer_truncate_move_delete(driver: StorageDriver) -> None:
    w = driver.writer("up/data")
    w.write(b"hello ")
    w.close()
    w = driver.writer("up/data", append=True)
    assert w.size == 6
    w.write(b"world!!")
    w.truncate(11)
    w.commit()
    w.close()
    assert driver.get_content("up/data") == b"hello world"
    driver.move("up/data", "final/x")
    assert not driver.exists("up/data")
    assert driver.get_content("final/x") == b"hello world"
    driver.delete("final")
    assert not driver.exists("final/x")
    with pytest.raises(PathNotFoundError):
        driver.delete("final")


@pytest.mark.parametrize("bad", ["../x", "/abs", "a/../b", "", "a//b", "a/./b"])
def test_driver_refuses_traversal(driver: StorageDriver, bad: str) -> None:
    with pytest.raises(ValueError):
        driver.put_content(bad, b"x")


def _blob(store: RegistryStore, repo: str, data: bytes) -> Digest:
    digest = Digest.of(data)
    store.driver.put_content(blob_path(digest), data)
    store.link_blob(repo, digest)
    return digest


def test_blob_links_scope_visibility(driver: StorageDriver) -> None:
    store = RegistryStore(driver)
    digest = _blob(store, "a/app", b"content")
    assert store.repo_blob_size("a/app", digest) == 7
    assert store.repo_blob_size("b/app", digest) is None
    assert store.mount_blob("a/app", "b/app", digest)
    assert store.repo_blob_size("b/app", digest) == 7
    assert not store.mount_blob("c/app", "d/app", digest)
    assert store.repositories() == ["a/app", "b/app"]


def _image(store: RegistryStore, repo: str, tag: str | None, seed: bytes) -> Manifest:
    config = b'{"os":"linux","s":"' + seed + b'"}'
    layer = seed * 100
    _blob(store, repo, config)
    _blob(store, repo, layer)
    manifest = Manifest.parse(image_manifest(config, [layer]))
    assert store.put_manifest(repo, manifest, tag) == []
    return manifest


def _age(root: Path, seconds: float) -> None:
    past = time.time() - seconds
    for p in root.rglob("*"):
        os.utime(p, (past, past), follow_symlinks=False)


def test_gc_keeps_referenced_and_young_content(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = RegistryStore(FilesystemDriver(root))
    kept = _image(store, "gc/app", "v1", b"keep")
    dropped = _image(store, "gc/app", "v2", b"drop")
    orphan = _blob(store, "gc/app", b"uploaded but never referenced")
    store.delete_manifest("gc/app", dropped.digest)
    report = collect_garbage(store, grace=3600)
    assert report.blobs == [] and report.layer_links == []  # all young: grace protects them
    _age(root, 7200)
    young = _blob(store, "gc/other", b"pushed a moment ago")
    report = collect_garbage(store, grace=3600)
    removed = set(report.blobs)
    assert orphan in removed
    assert {b.digest for b in dropped.blobs()} <= removed
    assert dropped.digest in removed  # the deleted manifest's own bytes
    assert young not in removed
    assert not ({b.digest for b in kept.blobs()} | {kept.digest}) & removed
    assert check_storage(store) == []
    assert store.get_manifest("gc/app", kept.digest) is not None


def test_gc_delete_untagged_keeps_index_children_and_referrers(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = RegistryStore(FilesystemDriver(root))
    child = _image(store, "u/app", None, b"child")
    index = Manifest.parse(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [child.descriptor().to_json()],
            }
        ).encode()
    )
    assert store.put_manifest("u/app", index, "multi") == []
    untagged = _image(store, "u/app", None, b"lonely")
    _age(root, 7200)
    report = collect_garbage(store, grace=3600, delete_untagged=True)
    assert report.manifests == [("u/app", untagged.digest)]
    assert store.get_manifest("u/app", child.digest) is not None
    assert check_storage(store) == []


def test_check_reports_corruption_and_dangling_links(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = RegistryStore(FilesystemDriver(root))
    manifest = _image(store, "chk/app", "v1", b"data")
    layer = manifest.layers[0].digest
    (root / blob_path(layer)).write_bytes(b"bit rot")
    store.driver.put_content(layer_link("chk/app", Digest.of(b"never stored")), b"x")
    problems = check_storage(store)
    assert any("hashes to" in p for p in problems)
    assert any("missing blob" in p for p in problems)
    out = subprocess.run(
        [sys.executable, "-m", "hoist.cli.main", "registry", "check", "--root", str(root)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert "problem:" in out.stdout


def test_registry_gc_cli(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = RegistryStore(FilesystemDriver(root))
    orphan = _blob(store, "cli/app", b"orphan")
    store.unlink_blob("cli/app", orphan)
    _age(root, 7200)
    cmd = [sys.executable, "-m", "hoist.cli.main", "registry", "gc", "--root", str(root)]
    dry = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, check=True)
    assert f"would remove blob {orphan}" in dry.stdout
    assert store.blob_size(orphan) is not None
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert store.blob_size(orphan) is None
    bad = subprocess.run(
        [*cmd[:-2], "--root", str(tmp_path / "nothing")], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "not a hoist registry" in bad.stderr


def test_in_process_app_on_memory_storage() -> None:
    """The app factory with the memory driver, through aiohttp's test client."""

    async def scenario() -> None:
        app = create_app(ServerConfig(storage="memory"))
        async with TestClient(TestServer(app)) as client:
            data = b"in memory" * 1000
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            r = await client.post(f"/v2/mem/app/blobs/uploads/?digest={digest}", data=data)
            assert r.status == 201
            r = await client.get(f"/v2/mem/app/blobs/{digest}", headers={"Range": "bytes=0-8"})
            assert r.status == 206
            assert await r.read() == b"in memory"
            r = await client.head(f"/v2/mem/app/blobs/{digest}")
            assert r.headers["Content-Length"] == str(len(data))

    asyncio.run(scenario())


def test_crash_leftovers_are_not_problems_and_gc_removes_them(tmp_path: Path) -> None:
    """A kill between mkdir and rename leaves directories without their file: invisible."""
    root = tmp_path / "root"
    store = RegistryStore(FilesystemDriver(root))
    _image(store, "left/app", "v1", b"fine")
    ghost = Digest.of(b"never committed")
    (root / blob_path(ghost)).parent.mkdir(parents=True)
    (root / layer_link("left/app", ghost)).parent.mkdir(parents=True)
    (root / "repositories/left/app/_manifests/tags/half/current").mkdir(parents=True)
    assert store.repo_blob_size("left/app", ghost) is None
    assert store.tags("left/app") == ["v1"]
    assert check_storage(store) == []
    collect_garbage(store, grace=-1)
    assert not (root / blob_path(ghost)).parent.exists()
    assert not (root / layer_link("left/app", ghost)).parent.exists()
    assert check_storage(store) == []


def test_gc_waits_for_pushes_holding_the_storage_lock(tmp_path: Path) -> None:
    """A push step in progress (shared lock) holds gc off until it is done."""
    store = RegistryStore(FilesystemDriver(tmp_path / "root"))
    _blob(store, "lock/app", b"x")
    finished = threading.Event()

    def gc() -> None:
        collect_garbage(RegistryStore(FilesystemDriver(tmp_path / "root")), grace=0)
        finished.set()

    with store.driver.lock(exclusive=False):
        worker = threading.Thread(target=gc)
        worker.start()
        assert not finished.wait(0.5)
    assert finished.wait(10)
    worker.join()


def test_manifest_put_reports_missing_blobs_and_stores_nothing(driver: StorageDriver) -> None:
    store = RegistryStore(driver)
    manifest = Manifest.parse(image_manifest(b"{}", [b"absent"]))
    missing = store.put_manifest("miss/app", manifest, "v1")
    assert {d.digest for d in missing} == {Digest.of(b"{}"), Digest.of(b"absent")}
    assert store.resolve_tag("miss/app", "v1") is None
    assert store.get_manifest("miss/app", manifest.digest) is None
