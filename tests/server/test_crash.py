"""kill -9 the server in the middle of uploads: nothing partial becomes visible, storage stays
consistent, and a restarted server resumes the upload (or cleans it when it is stale)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hoist.oci import Digest
from hoist.server.maintenance import check_storage
from hoist.server.storage import FilesystemDriver
from hoist.server.store import RegistryStore
from tests.server.images import make_layout
from tests.support.hoist_server import hoist_server, start_hoist_server
from tests.support.peers import skopeo, stop

CHUNK = 64 * 1024


def _interrupted_upload(base_url: str, location: str, data: bytes, sent: threading.Event) -> None:
    """PATCH `data` slowly; after half of it, signal and stall until the server dies."""

    def body() -> Iterator[bytes]:
        half = len(data) // 2
        for i in range(0, len(data), CHUNK):
            if i >= half and not sent.is_set():
                sent.set()
                time.sleep(30)
            yield data[i : i + CHUNK]

    with contextlib.suppress(httpx.HTTPError):
        httpx.patch(base_url + location, content=body(), timeout=60)


def test_kill_during_streamed_upload_then_resume(tmp_path: Path) -> None:
    data = os.urandom(4 << 20)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    root = tmp_path / "registry"
    server = start_hoist_server(tmp_path / "one", root=root)
    try:
        location = httpx.post(f"{server.url}/v2/crash/app/blobs/uploads/").headers["Location"]
        sent = threading.Event()
        uploader = threading.Thread(
            target=_interrupted_upload, args=(server.url, location, data, sent), daemon=True
        )
        uploader.start()
        assert sent.wait(20)
        time.sleep(0.5)  # let the server write what it received
        server.kill()
    finally:
        stop(server.proc)
    upload_id = location.rsplit("/", 1)[1]
    staged = root / "uploads" / upload_id / "data"
    assert 0 < staged.stat().st_size < len(data)
    store = RegistryStore(FilesystemDriver(root))
    assert store.blob_size(Digest(digest)) is None  # nothing partial is visible
    assert check_storage(store) == []

    with hoist_server(tmp_path / "two", root=root) as again:
        status = httpx.get(again.url + location)
        assert status.status_code == 204
        have = int(status.headers["Range"].split("-")[1]) + 1
        assert have == staged.stat().st_size
        rest = httpx.patch(
            again.url + location,
            content=data[have:],
            headers={"Content-Range": f"{have}-{len(data) - 1}"},
        )
        assert rest.status_code == 202
        done = httpx.put(again.url + location, params={"digest": digest})
        assert done.status_code == 201, done.text
        assert httpx.get(f"{again.url}/v2/crash/app/blobs/{digest}").content == data
    assert check_storage(store) == []


def test_restart_cleans_stale_uploads(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    with hoist_server(tmp_path / "one", root=root) as server:
        location = httpx.post(f"{server.url}/v2/stale/app/blobs/uploads/").headers["Location"]
        httpx.patch(server.url + location, content=b"partial", headers={"Content-Range": "0-6"})
        server.kill()
    time.sleep(0.05)
    with hoist_server(tmp_path / "two", root=root, config={"storage": {"upload_ttl": "0s"}}) as s2:
        r = httpx.get(s2.url + location)
        assert r.status_code == 404
        assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
        assert list((root / "uploads").iterdir()) == []


@pytest.mark.peer
def test_kill_during_concurrent_pushes_leaves_consistent_storage(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    layouts = [
        make_layout(tmp_path / f"img{i}", layers=3, layer_size=3 << 20, seed=f"k{i}")
        for i in range(3)
    ]
    server = start_hoist_server(tmp_path / "one", root=root)
    pushes = [
        subprocess.Popen(
            [
                "skopeo",
                "--insecure-policy",
                "copy",
                "--dest-tls-verify=false",
                layout.ref,
                f"docker://{server.host}/crash/img{i}:v1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i, layout in enumerate(layouts)
    ]
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any((root / "blobs").glob("sha256/*/*/data")):
            time.sleep(0.01)
        server.kill()
    finally:
        stop(server.proc)
        for p in pushes:
            p.wait(60)
    store = RegistryStore(FilesystemDriver(root))
    assert check_storage(store) == []  # every visible blob hashes to its name
    with hoist_server(tmp_path / "two", root=root) as again:
        for i, layout in enumerate(layouts):
            skopeo(
                "copy",
                "--dest-tls-verify=false",
                layout.ref,
                f"docker://{again.host}/crash/img{i}:v1",
            )
    assert check_storage(store) == []
    assert len(store.repositories()) == 3
