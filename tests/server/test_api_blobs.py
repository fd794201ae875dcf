"""The distribution API's blob and upload endpoints, edge cases included, over real HTTP."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from hoist.server.maintenance import check_storage
from hoist.server.storage import FilesystemDriver
from hoist.server.store import RegistryStore
from tests.server.conftest import error_code, push_blob, sha, snapshot
from tests.support.hoist_server import HoistServer


def test_base_endpoint_answers_with_api_version(client: httpx.Client) -> None:
    r = client.get("/v2/")
    assert r.status_code == 200
    assert r.json() == {}
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_monolithic_upload_then_get_head_and_ranges(client: httpx.Client) -> None:
    data = os.urandom(10_000)
    digest = sha(data)
    r = client.post("/v2/blobs/mono/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/blobs/mono/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest

    head = client.head(f"/v2/blobs/mono/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["Content-Length"] == "10000"
    assert head.headers["Docker-Content-Digest"] == digest
    got = client.get(f"/v2/blobs/mono/blobs/{digest}")
    assert got.content == data

    part = client.get(f"/v2/blobs/mono/blobs/{digest}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == data[100:200]
    assert part.headers["Content-Range"] == "bytes 100-199/10000"
    suffix = client.get(f"/v2/blobs/mono/blobs/{digest}", headers={"Range": "bytes=-10"})
    assert suffix.status_code == 206 and suffix.content == data[-10:]
    open_end = client.get(f"/v2/blobs/mono/blobs/{digest}", headers={"Range": "bytes=9990-"})
    assert open_end.status_code == 206 and open_end.content == data[9990:]


@pytest.mark.parametrize(
    "header", ["bytes=10000-", "bytes=50-10", "bytes=0-1,5-9", "bytes=-0", "bits=0-1", "bytes=-"]
)
def test_unsatisfiable_or_invalid_ranges_are_416(client: httpx.Client, header: str) -> None:
    digest = push_blob(client, "blobs/ranges", b"r" * 10_000)
    r = client.get(f"/v2/blobs/ranges/blobs/{digest}", headers={"Range": header})
    assert r.status_code == 416
    assert error_code(r) == "RANGE_INVALID"
    assert r.headers["Content-Range"] == "bytes */10000"


def test_post_then_put_upload(client: httpx.Client) -> None:
    data = b"post-then-put" * 1000
    r = client.post("/v2/blobs/pp/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["Location"]
    assert r.headers["Docker-Upload-UUID"] in location
    assert r.headers["Range"] == "0-0"
    done = client.put(location, params={"digest": sha(data)}, content=data)
    assert done.status_code == 201
    assert client.get(f"/v2/blobs/pp/blobs/{sha(data)}").content == data


def test_chunked_upload_status_and_out_of_order_chunk(client: httpx.Client) -> None:
    data = os.urandom(3000)
    location = client.post("/v2/blobs/chunked/blobs/uploads/").headers["Location"]
    first = client.patch(
        location,
        content=data[:1000],
        headers={"Content-Range": "0-999", "Content-Type": "application/octet-stream"},
    )
    assert first.status_code == 202
    assert first.headers["Range"] == "0-999"
    status = client.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-999"
    assert status.headers["Location"] == location
    skipped = client.patch(location, content=data[2000:], headers={"Content-Range": "2000-2999"})
    assert skipped.status_code == 416
    assert client.get(location).headers["Range"] == "0-999"
    second = client.patch(location, content=data[1000:2000], headers={"Content-Range": "1000-1999"})
    assert second.status_code == 202
    final = client.put(
        location,
        params={"digest": sha(data)},
        content=data[2000:],
        headers={"Content-Range": "2000-2999"},
    )
    assert final.status_code == 201
    assert client.get(f"/v2/blobs/chunked/blobs/{sha(data)}").content == data


def test_streamed_patch_without_content_range(client: httpx.Client) -> None:
    data = os.urandom(3 << 20)

    def body() -> object:
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    location = client.post("/v2/blobs/streamed/blobs/uploads/").headers["Location"]
    r = client.patch(location, content=body())  # chunked transfer encoding, no length
    assert r.status_code == 202
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    assert client.put(location, params={"digest": sha(data)}).status_code == 201
    assert client.get(f"/v2/blobs/streamed/blobs/{sha(data)}").content == data


def test_chunk_shorter_than_its_content_range_is_rolled_back(client: httpx.Client) -> None:
    location = client.post("/v2/blobs/short/blobs/uploads/").headers["Location"]
    client.patch(location, content=b"a" * 10, headers={"Content-Range": "0-9"})

    def body() -> object:
        yield b"b" * 5

    r = client.patch(location, content=body(), headers={"Content-Range": "10-19"})
    assert r.status_code == 400
    assert error_code(r) == "SIZE_INVALID"
    assert client.get(location).headers["Range"] == "0-9"


def test_content_length_disagreeing_with_content_range(client: httpx.Client) -> None:
    location = client.post("/v2/blobs/cl/blobs/uploads/").headers["Location"]
    r = client.patch(location, content=b"x" * 20, headers={"Content-Range": "0-9"})
    assert r.status_code == 400
    assert error_code(r) == "SIZE_INVALID"
    assert client.get(location).headers["Range"] == "0-0"


def test_digest_mismatch_stores_nothing(client: httpx.Client, registry: HoistServer) -> None:
    before = snapshot(registry.root)
    data = b"some content"
    wrong = sha(b"other content")
    r = client.post("/v2/blobs/bad/blobs/uploads/", params={"digest": wrong}, content=data)
    assert r.status_code == 400
    assert error_code(r) == "DIGEST_INVALID"
    assert client.head(f"/v2/blobs/bad/blobs/{wrong}").status_code == 404
    assert client.head(f"/v2/blobs/bad/blobs/{sha(data)}").status_code == 404
    assert snapshot(registry.root) == before


@pytest.mark.parametrize("digest", ["sha256:abc", "md5:0123", "sha256:" + "G" * 64, "nodigest"])
def test_malformed_digests(client: httpx.Client, digest: str) -> None:
    r = client.post("/v2/blobs/x/blobs/uploads/", params={"digest": digest}, content=b"x")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    r = client.get(f"/v2/blobs/x/blobs/{digest}")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"


def test_unknown_and_cancelled_uploads(client: httpx.Client) -> None:
    r = client.get("/v2/blobs/u/blobs/uploads/" + "0" * 32)
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    r = client.patch("/v2/blobs/u/blobs/uploads/not-a-uuid", content=b"x")
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    location = client.post("/v2/blobs/u/blobs/uploads/").headers["Location"]
    assert client.delete(location).status_code == 204
    r = client.put(location, params={"digest": sha(b"")}, content=b"")
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_upload_id_is_bound_to_its_repository(client: httpx.Client) -> None:
    location = client.post("/v2/blobs/owner/blobs/uploads/").headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    r = client.get(f"/v2/blobs/intruder/blobs/uploads/{upload_id}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_blobs_are_visible_only_where_pushed_or_mounted(client: httpx.Client) -> None:
    data = b"private layer" * 50
    digest = push_blob(client, "tenant-a/app", data)
    r = client.get(f"/v2/tenant-b/app/blobs/{digest}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"
    # A mount from a repository that lacks the blob falls back to a normal upload session.
    fallback = client.post(
        "/v2/tenant-b/app/blobs/uploads/", params={"mount": digest, "from": "tenant-c/none"}
    )
    assert fallback.status_code == 202
    assert "/blobs/uploads/" in fallback.headers["Location"]
    mounted = client.post(
        "/v2/tenant-b/app/blobs/uploads/", params={"mount": digest, "from": "tenant-a/app"}
    )
    assert mounted.status_code == 201
    assert mounted.headers["Location"] == f"/v2/tenant-b/app/blobs/{digest}"
    assert client.get(f"/v2/tenant-b/app/blobs/{digest}").content == data


def test_delete_blob_unlinks_it_from_that_repository_only(client: httpx.Client) -> None:
    digest = push_blob(client, "del/one", b"shared blob")
    push_blob(client, "del/two", b"shared blob")
    assert client.delete(f"/v2/del/one/blobs/{digest}").status_code == 202
    assert client.head(f"/v2/del/one/blobs/{digest}").status_code == 404
    assert client.head(f"/v2/del/two/blobs/{digest}").status_code == 200
    r = client.delete(f"/v2/del/one/blobs/{digest}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"


@pytest.mark.parametrize("name", ["Upper/case", "a%2Fb", "-lead", "a//b", "trailing-", "x" * 256])
def test_invalid_repository_names(client: httpx.Client, registry: HoistServer, name: str) -> None:
    before = snapshot(registry.root)
    r = client.post(f"/v2/{name}/blobs/uploads/", params={"digest": sha(b"n")}, content=b"n")
    assert r.status_code in (400, 404)
    if r.status_code == 400:
        assert error_code(r) == "NAME_INVALID"
    assert snapshot(registry.root) == before


def test_dotdot_name_is_rejected_not_normalized(registry: HoistServer) -> None:
    # httpx would normalize "..", so send the raw path with http.client.
    conn = http.client.HTTPConnection(registry.host, timeout=10)
    conn.request("GET", "/v2/a/../b/tags/list")
    r = conn.getresponse()
    body = json.loads(r.read())
    conn.close()
    assert r.status == 400
    assert body["errors"][0]["code"] == "NAME_INVALID"


def test_unsupported_method_is_spec_error(client: httpx.Client) -> None:
    r = client.request("POST", "/v2/blobs/x/tags/list")
    assert r.status_code == 405 and error_code(r) == "UNSUPPORTED"


def _send_truncated(registry: HoistServer, request_head: str, body: bytes) -> None:
    """Send a request whose body stops short of its Content-Length, then hang up."""
    host, port = registry.host.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request_head.encode() + body)
        time.sleep(0.3)


def test_client_hanging_up_mid_chunk_leaves_session_unchanged(
    client: httpx.Client, registry: HoistServer
) -> None:
    location = client.post("/v2/blobs/hangup/blobs/uploads/").headers["Location"]
    client.patch(location, content=b"k" * 100, headers={"Content-Range": "0-99"})
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: {registry.host}\r\n"
        "Content-Length: 100000\r\nContent-Range: 100-100099\r\n\r\n"
    )
    _send_truncated(registry, head, b"x" * 40_000)
    for _ in range(50):
        status = client.get(location)
        if status.headers["Range"] == "0-99":
            break
        time.sleep(0.1)
    assert status.headers["Range"] == "0-99"
    data = b"k" * 100 + b"y" * 10
    r = client.put(location, params={"digest": sha(data)}, content=b"y" * 10)
    assert r.status_code == 201


def test_truncated_monolithic_upload_stores_nothing(
    client: httpx.Client, registry: HoistServer
) -> None:
    data = os.urandom(50_000)
    head = (
        f"POST /v2/blobs/trunc/blobs/uploads/?digest={sha(data)} HTTP/1.1\r\n"
        f"Host: {registry.host}\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    _send_truncated(registry, head, data[:20_000])
    time.sleep(0.2)
    assert client.head(f"/v2/blobs/trunc/blobs/{sha(data)}").status_code == 404
    digest_hex = sha(data).split(":")[1]
    assert not (registry.root / "blobs/sha256" / digest_hex[:2] / digest_hex).exists()


def test_abandoned_uploads_hold_no_file_descriptors(
    client: httpx.Client, registry: HoistServer
) -> None:
    fd_dir = Path(f"/proc/{registry.proc.pid}/fd")
    if not fd_dir.exists():
        pytest.skip("needs /proc")
    before = len(list(fd_dir.iterdir()))
    for _ in range(40):
        location = client.post("/v2/blobs/abandoned/blobs/uploads/").headers["Location"]
        client.patch(location, content=b"z" * 10)
    assert len(list(fd_dir.iterdir())) < before + 10


def test_concurrent_pushes_of_one_blob_into_many_repositories(
    client: httpx.Client, registry: HoistServer
) -> None:
    data = os.urandom(2 << 20)
    digest = sha(data)

    def push(i: int) -> int:
        with httpx.Client(base_url=registry.url, timeout=30) as c:
            location = c.post(f"/v2/race/r{i}/blobs/uploads/").headers["Location"]
            c.patch(location, content=data[: 1 << 20])
            return c.put(location, params={"digest": digest}, content=data[1 << 20 :]).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(push, range(8))) == [201] * 8
    for i in range(8):
        assert client.get(f"/v2/race/r{i}/blobs/{digest}").content == data
    store = RegistryStore(FilesystemDriver(registry.root))
    assert check_storage(store) == []
    assert list((registry.root / "blobs/sha256" / digest[7:9]).iterdir()) == [
        registry.root / "blobs/sha256" / digest[7:9] / digest[7:]
    ]


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_large_upload_and_download_are_streamed_not_held(
    client: httpx.Client, registry: HoistServer
) -> None:
    if not Path(f"/proc/{registry.proc.pid}/status").exists():
        pytest.skip("needs /proc")
    block = os.urandom(1 << 20)
    count = 128
    hasher = hashlib.sha256()
    for _ in range(count):
        hasher.update(block)
    digest = "sha256:" + hasher.hexdigest()

    def body() -> Iterator[bytes]:
        for _ in range(count):
            yield block

    before = _peak_rss_kib(registry.proc.pid)
    location = client.post("/v2/blobs/huge/blobs/uploads/").headers["Location"]
    assert client.patch(location, content=body()).status_code == 202
    assert client.put(location, params={"digest": digest}).status_code == 201
    received = 0
    with client.stream("GET", f"/v2/blobs/huge/blobs/{digest}") as r:
        for chunk in r.iter_bytes():
            received += len(chunk)
    assert received == count << 20
    grown_mib = (_peak_rss_kib(registry.proc.pid) - before) / 1024
    assert grown_mib < 48, f"server peak memory grew by {grown_mib:.0f} MiB for a 128 MiB blob"
