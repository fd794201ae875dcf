"""Fault paths the performance work changed: push reads store files without hashing them, pull
lets the store's ingest do the only hash, and a large upload streams in one big PATCH after the
first chunk. Each test checks what a user sees (exit code, one-screen error, no traceback) and
what is left behind (the registry's tags, the local store's files)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import httpx
import pytest

from hoist.registry.uploads import DEFAULT_CHUNK
from tests.client.conftest import PASSWORD, USER, Env
from tests.client.faultproxy import Seen, fault_proxy
from tests.support.peers import DistributionRegistry, skopeo

pytestmark = pytest.mark.peer

MIB = 1024 * 1024
#: More than two first chunks: the drop lands inside the big second PATCH, not the first.
BIG = 40 * MIB


def _store_manifest(home: Path, name: str) -> dict[str, object]:
    index = json.loads((home / "index.json").read_text())
    for entry in index["manifests"]:
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == name:
            hexd = entry["digest"].split(":")[1]
            doc: dict[str, object] = json.loads((home / "blobs" / "sha256" / hexd).read_bytes())
            return doc
    raise AssertionError(f"{name} not in {home}/index.json")


def _layer_digest(home: Path, name: str) -> str:
    layers = _store_manifest(home, name)["layers"]
    assert isinstance(layers, list) and len(layers) == 1
    return str(layers[0]["digest"])


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` with the sha256 of its bytes (as tests/store/conftest.py)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _one_screen_error(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.count("error: ") == 1, stderr
    assert "  why: " in stderr and "  fix: " in stderr, stderr
    assert len(stderr.splitlines()) <= 25, stderr


# --- 1. a store file damaged on disk, pushed -------------------------------------------------


@pytest.mark.parametrize(
    "size", [300_000, DEFAULT_CHUNK + MIB], ids=["monolithic-put", "chunked-patch"]
)
def test_push_of_damaged_store_blob_names_it_and_leaves_no_tag(
    env: Env, registry: DistributionRegistry, size: int
) -> None:
    name = f"{registry.host}/rot/app:1"
    env.pack(name, size=size)
    env.login(registry.host)
    home = env.tmp / "hoist-home"
    layer = _layer_digest(home, name)
    path = home / "blobs" / "sha256" / layer.split(":")[1]
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):  # same size, 64 bytes flipped
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))

    out = env.hoist("push", name)

    assert out.returncode == 1, out.stdout + out.stderr
    _one_screen_error(out.stderr)
    first = out.stderr.splitlines()[0]
    assert "damaged" in first and layer.split(":")[1][:12] in first, out.stderr
    # why: the local store's file (named), not the registry or the network
    assert f"why: the local store's file {path} no longer matches its digest" in out.stderr
    assert "load or pull it again" in out.stderr  # fix
    assert "digest:" not in out.stdout  # no success line

    # the registry has neither the tag nor the damaged blob under the layer's digest
    inspect = skopeo(
        "inspect",
        "--tls-verify=false",
        "--creds",
        f"{USER}:{PASSWORD}",
        f"docker://{name}",
        check=False,
    )
    assert inspect.returncode != 0
    assert "manifest unknown" in inspect.stderr.lower(), inspect.stderr
    auth = (USER, PASSWORD)
    tags = httpx.get(f"{registry.url}/v2/rot/app/tags/list", auth=auth)
    assert tags.status_code == 404 or not tags.json().get("tags"), tags.text
    blob = httpx.head(f"{registry.url}/v2/rot/app/blobs/{layer}", auth=auth)
    assert blob.status_code == 404


# --- 2. a registry that serves a blob other than the one named -------------------------------


def _grow(body: bytes) -> bytes:
    return body + b"\0" * 4096  # the real blob, then more than its descriptor declares


def _flip(body: bytes) -> bytes:
    mid = len(body) // 2
    return body[:mid] + bytes(b ^ 0xFF for b in body[mid : mid + 64]) + body[mid + 64 :]


@pytest.mark.parametrize(
    ("lie", "says"),
    [
        (_grow, "larger than the"),
        (_flip, "does not match its digest"),
    ],
    ids=["oversized", "other-content"],
)
def test_pull_of_lying_blob_fails_and_leaves_store_unchanged(
    env: Env, open_registry: DistributionRegistry, lie: object, says: str
) -> None:
    pushed = f"{open_registry.host}/liar/app:1"
    # packed and pushed from another store: the store under test holds none of its blobs
    pusher = {"HOIST_HOME": str(env.tmp / "pusher-home")}
    ctx = env.tmp / "liar-ctx"
    ctx.mkdir()
    (ctx / "data.bin").write_bytes(os.urandom(2 * MIB))
    env.hoist("pack", str(ctx), "-t", pushed, check=True, env=pusher)
    layer = _layer_digest(env.tmp / "pusher-home", pushed)
    env.hoist("push", pushed, check=True, env=pusher)

    with fault_proxy(open_registry.host) as proxy:

        def serve_lie(method: str, path: str, n: int) -> tuple[object, ...] | None:
            return ("rewrite", lie) if method == "GET" and path.endswith(layer) else None

        proxy.rules.append(serve_lie)
        name = f"{proxy.host}/liar/app:1"
        # a store that already holds an image, so "unchanged" is not just "empty"
        env.pack("local/keep:1", size=10_000)
        home = env.tmp / "hoist-home"
        before = _snapshot(home)

        # one blob at a time: the layer fails before the config is fetched
        out = env.hoist("pull", name, "--jobs", "1")

        assert out.returncode == 1, out.stdout + out.stderr
        _one_screen_error(out.stderr)
        first = out.stderr.splitlines()[0]
        assert first.startswith(f"error: {name}: blob {layer.split(':')[1][:12]}"), first
        assert says in first and layer in first, first
        assert "  fix: retry" in out.stderr
        assert "Digest:" not in out.stdout  # no success lines
        assert any(s.method == "GET" and s.path.endswith(layer) for s in proxy.log)
        assert _snapshot(home) == before  # no name, no blob, no temp file left behind
        images = env.hoist("images", "--json", check=True).stdout
        assert "liar/app" not in images and "local/keep" in images

        # in parallel (the default) the small config may be stored before the layer fails:
        # complete and verified, but unnamed; the lying blob itself never becomes visible
        out = env.hoist("pull", name)
        assert out.returncode == 1 and says in out.stderr, out.stdout + out.stderr
        _one_screen_error(out.stderr)
        after = _snapshot(home)
        assert after["index.json"] == before["index.json"]  # no new name
        # client/ holds where blobs were seen (for mounts), not store content
        new = {k: v for k, v in after.items() if before.get(k) != v and k.split("/")[0] != "client"}
        config = _store_manifest(env.tmp / "pusher-home", pushed)["config"]
        assert isinstance(config, dict)
        assert set(new) <= {f"blobs/sha256/{str(config['digest']).split(':')[1]}"}, new
        assert all(k.rsplit("/", 1)[1] == v for k, v in new.items())  # complete, verified


# --- 3. the connection drops inside the big second PATCH --------------------------------------


def _patches(log: list[Seen]) -> list[tuple[int, int]]:
    out = []
    for s in log:
        if s.method == "PATCH":
            start, _, end = s.headers["Content-Range"].partition("-")
            out.append((int(start), int(end)))
    return out


def _pull_back(env: Env, name: str, digest: str, layer: str) -> None:
    fresh = env.tmp / "verify-home"
    pulled = env.hoist("pull", name, "--json", env={"HOIST_HOME": str(fresh)})
    assert pulled.returncode == 0, pulled.stderr
    report = json.loads(pulled.stdout)
    assert report["digest"] == digest
    assert [x["digest"] for x in report["layers"]] == [layer]
    blob = fresh / "blobs" / "sha256" / layer.split(":")[1]
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == layer.split(":")[1]


def test_drop_inside_big_patch_resumes_from_server_offset(
    env: Env, open_registry: DistributionRegistry
) -> None:
    """The registry kept half of the big PATCH: the resend starts there, in the same session."""

    def drop_big_patch(method: str, path: str, n: int) -> tuple[object, ...] | None:
        return ("drop-keep-half",) if method == "PATCH" and n == 1 else None

    with fault_proxy(open_registry.host, rules=[drop_big_patch]) as proxy:
        name = f"{proxy.host}/resume/app:1"
        env.pack(name, size=BIG)
        layer = _layer_digest(env.tmp / "hoist-home", name)
        out = env.hoist("push", name, "--json", "--jobs", "1")
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)

        size = int(report["layers"][0]["size"])
        assert size > 2 * DEFAULT_CHUNK
        first, big, resent = _patches(proxy.log)
        assert first == (0, DEFAULT_CHUNK - 1)
        assert big == (DEFAULT_CHUNK, size - 1)  # the rest of the blob in one request
        kept = DEFAULT_CHUNK + (size - DEFAULT_CHUNK) // 2
        assert resent == (kept, size - 1)  # resumed where the server stood, not from 0
        posts = [s for s in proxy.log if s.method == "POST" and "/blobs/uploads/" in s.path]
        assert len(posts) == 2  # one session for the layer, one for the config: no restart
        status = [s for s in proxy.log if s.method == "GET" and "/blobs/uploads/" in s.path]
        assert status, "hoist asks the server for its offset"
        assert int(report["bytes_uploaded"]) == size + _config_size(env, name)

        _pull_back(env, name, report["digest"], layer)


def test_drop_inside_big_patch_against_distribution(
    env: Env, open_registry: DistributionRegistry
) -> None:
    """The link dies mid-body with nothing in between: distribution keeps what it got but
    invalidates the session (its upload state no longer matches), so the blob must start over
    in a new session, and the push still lands intact."""

    cuts: list[str] = []

    def cut_big_patch(method: str, path: str, n: int) -> tuple[object, ...] | None:
        if method == "PATCH" and n == 1 and not cuts:  # once: the restarted session goes through
            cuts.append(path)
            return ("cut",)
        return None

    with fault_proxy(open_registry.host, rules=[cut_big_patch]) as proxy:
        name = f"{proxy.host}/cut/app:1"
        env.pack(name, size=BIG)
        layer = _layer_digest(env.tmp / "hoist-home", name)
        out = env.hoist("push", name, "--json", "--jobs", "1")
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert "Traceback" not in out.stderr

        size = int(report["layers"][0]["size"])
        patches = _patches(proxy.log)
        assert patches[:2] == [(0, DEFAULT_CHUNK - 1), (DEFAULT_CHUNK, size - 1)]
        # the status GET after the cut was refused, so the blob started over in a new session
        assert [s.method for s in proxy.log if "/blobs/uploads/" in s.path][:6] == [
            "POST",
            "PATCH",
            "PATCH",
            "GET",
            "POST",
            "PATCH",
        ]
        assert patches[2:4] == [(0, DEFAULT_CHUNK - 1), (DEFAULT_CHUNK, size - 1)]
        assert int(report["bytes_uploaded"]) == size + _config_size(env, name)

        _pull_back(env, name, report["digest"], layer)
    # what landed, read by another client straight from the registry
    direct = f"{open_registry.host}/cut/app:1"
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{direct}").stdout)
    assert inspected["Digest"] == report["digest"]
    assert inspected["Layers"] == [layer]


def _config_size(env: Env, name: str) -> int:
    config = _store_manifest(env.tmp / "hoist-home", name)["config"]
    assert isinstance(config, dict)
    return int(config["size"])
