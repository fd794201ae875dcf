"""`hoist load` of a multi-platform index the archive holds only part of.

Docker 25+ with the containerd image store saves a multi-platform image as its whole index but
only with the platforms it pulled. Absent platforms are dropped (one left: its manifest is the
root; several: a new index of just those) with a note; present content is verified as always,
and any failure leaves the store byte-for-byte as it was.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from hoist.oci import Digest, Manifest, canonical_json
from hoist.store import ImageStore
from hoist.transports.store import StoreSource
from tests.store.builders import Layout, layer_tar, legacy_archive
from tests.store.conftest import Cli, check_consistent, snapshot

NAME = {
    "io.containerd.image.name": "docker.io/library/app:1",
    "org.opencontainers.image.ref.name": "1",
}
PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7"]


def _build(
    root: Path, present: list[str], *, gzip_layers: bool = True, shared: bool = False
) -> tuple[Layout, dict[str, dict[str, Any]], dict[str, Any]]:
    """A Docker-25-style layout: index.json -> a 3-platform index; only `present` kept whole."""
    lay = Layout(root)
    common = [layer_tar({"etc/os-release": b"ID=test\n"})] if shared else []
    children = {
        p: lay.image(
            [*common, layer_tar({"bin/app": f"app for {p}\n".encode() * 500})],
            gzip_layers=gzip_layers,
            arch=p.split("/")[1],
        )
        for p in PLATFORMS
    }
    index = lay.platform_index(
        [(children[p], p) for p in PLATFORMS],
        annotations={"org.opencontainers.image.created": "2024-05-06T07:08:09Z"},
    )
    lay.name_annotated(index, NAME)
    keep = {d for p in present for d in lay.blobs_of(children[p])}
    for p in PLATFORMS:
        if p not in present:
            lay.remove(*(d for d in lay.blobs_of(children[p]) if d not in keep))
    return lay, children, index


def _rows(hoist: Cli) -> list[dict[str, Any]]:
    r = hoist("images", "--json")
    assert r.code == 0, r.err
    return [json.loads(line) for line in r.out.splitlines() if line.strip()]


def _read_back(home: Path, name: str) -> Manifest:
    """What a push reads: the root by name, every manifest under it and every blob, verified."""
    source = StoreSource(ImageStore(home), name)
    root = source.root()
    stack = [root]
    while stack:
        manifest = stack.pop()
        stack += [source.manifest(child.digest) for child in manifest.manifests]
        for blob in manifest.blobs():
            with source.open_blob(blob) as fh:
                data = fh.read()
            assert (len(data), Digest.of(data)) == (blob.size, blob.digest)
    return root


def test_one_platform_present_loads_that_manifest(hoist: Cli, home: Path, tmp_path: Path) -> None:
    lay, children, _index = _build(tmp_path / "layout", ["linux/amd64"])
    archive = lay.tar(tmp_path / "app.tar")
    r = hoist("load", archive)
    assert r.code == 0, r.err
    assert r.out == "Loaded image: app:1\n"
    assert r.err == (
        "note: app:1 is a multi-platform index; the archive holds only linux/amd64 of its 3 "
        "platforms, so that image was loaded (missing: linux/arm64, linux/arm/v7)\n"
    )
    (row,) = _rows(hoist)
    assert row["digest"] == children["linux/amd64"]["digest"]  # the registry's amd64 digest
    assert check_consistent(home) == ["docker.io/library/app:1"]
    root = _read_back(home, "app:1")
    assert root.digest == children["linux/amd64"]["digest"] and not root.is_index


def test_two_platforms_present_make_an_index_of_just_those(
    hoist: Cli, home: Path, tmp_path: Path
) -> None:
    lay, children, index = _build(tmp_path / "layout", ["linux/amd64", "linux/arm/v7"])
    original = lay.read(index)
    r = hoist("load", lay.tar(tmp_path / "app.tar"))
    assert r.code == 0, r.err
    assert r.out == "Loaded image: app:1\n"
    assert r.err == (
        "note: app:1 is a multi-platform index; the archive holds only linux/amd64 and "
        "linux/arm/v7 of its 3 platforms, so an index of just those was loaded "
        "(missing: linux/arm64)\n"
    )
    expected = dict(original, manifests=[original["manifests"][0], original["manifests"][2]])
    (row,) = _rows(hoist)
    assert row["digest"] == Digest.of(canonical_json(expected))
    assert row["platforms"] == ["linux/amd64", "linux/arm/v7"]
    assert check_consistent(home) == ["docker.io/library/app:1"]
    root = _read_back(home, "app:1")
    assert root.is_index and json.loads(root.data) == expected  # same descriptors, annotations
    assert [c.digest for c in root.manifests] == [
        children["linux/amd64"]["digest"],
        children["linux/arm/v7"]["digest"],
    ]


def test_complete_multi_platform_archive_is_kept_whole(
    hoist: Cli, home: Path, tmp_path: Path
) -> None:
    lay, _children, index = _build(tmp_path / "layout", PLATFORMS)
    r = hoist("load", lay.tar(tmp_path / "app.tar"))
    assert (r.code, r.out, r.err) == (0, "Loaded image: app:1\n", "")
    (row,) = _rows(hoist)
    assert row["digest"] == index["digest"]
    assert row["platforms"] == PLATFORMS
    assert check_consistent(home) == ["docker.io/library/app:1"]
    assert _read_back(home, "app:1").digest == index["digest"]


def test_uncompressed_layers_and_a_shared_layer(hoist: Cli, home: Path, tmp_path: Path) -> None:
    """Children rewritten (layers compressed at import) still form a consistent trimmed index;
    a layer the absent platform shares with a present one stays in the archive and is fine."""
    lay, children, _index = _build(
        tmp_path / "layout", ["linux/arm64", "linux/arm/v7"], gzip_layers=False, shared=True
    )
    r = hoist("load", lay.root)
    assert r.code == 0, r.err
    assert "linux/arm64 and linux/arm/v7 of its 3 platforms" in r.err
    assert "(missing: linux/amd64)" in r.err
    root = _read_back(home, "app:1")
    assert [str(c.platform) for c in root.manifests] == ["linux/arm64", "linux/arm/v7"]
    store = ImageStore(home)
    for child in root.manifests:
        assert child.digest != children[str(child.platform)]["digest"]  # layers now gzip
        assert all(x.media_type.endswith("+gzip") for x in store.manifest(child.digest).layers)
    assert check_consistent(home) == ["docker.io/library/app:1"]


def test_child_manifest_present_but_a_layer_absent_counts_as_missing(
    hoist: Cli, home: Path, tmp_path: Path
) -> None:
    lay, children, _index = _build(tmp_path / "layout", PLATFORMS)
    arm = lay.read(children["linux/arm64"])
    lay.remove(arm["layers"][0]["digest"])  # manifest and config stay
    r = hoist("load", lay.tar(tmp_path / "app.tar"))
    assert r.code == 0, r.err
    assert "linux/amd64 and linux/arm/v7 of its 3 platforms" in r.err
    assert "(missing: linux/arm64)" in r.err
    assert _rows(hoist)[0]["platforms"] == ["linux/amd64", "linux/arm/v7"]
    assert check_consistent(home) == ["docker.io/library/app:1"]
    # nothing of the dropped platform was stored
    assert not (home / "blobs" / "sha256" / arm["config"]["digest"].split(":")[1]).exists()


def test_unnamed_partial_index_is_noted_by_digest(hoist: Cli, home: Path, tmp_path: Path) -> None:
    lay = Layout(tmp_path / "layout")
    amd = lay.image([layer_tar({"a": b"amd"})], gzip_layers=True)
    arm = lay.image([layer_tar({"a": b"arm"})], gzip_layers=True, arch="arm64")
    index = lay.platform_index([(amd, "linux/amd64"), (arm, "linux/arm64")])
    lay.name(index, "latest")  # a bare tag is not a name
    lay.remove(*lay.blobs_of(arm))
    r = hoist("load", lay.root)
    assert r.code == 0, r.err
    assert r.err.startswith(f"note: {index['digest']} is a multi-platform index;")
    assert r.out.startswith("Loaded image ID: sha256:")


# --- failures: nothing changes -----------------------------------------------------------


def _something_loaded(hoist: Cli, home: Path, tmp_path: Path) -> dict[str, str]:
    """A store with an image in it, so "unchanged" means something; its snapshot."""
    ok = [(["example.com/other:1"], [layer_tar({"x": b"y"})])]
    assert hoist("load", legacy_archive(tmp_path / "ok.tar", ok)).code == 0
    return snapshot(home)


def _corrupt_present_child(lay: Layout, children: dict[str, dict[str, Any]]) -> None:
    path = lay.root / "blobs/sha256" / children["linux/arm/v7"]["digest"].split(":")[1]
    path.write_bytes(path.read_bytes().replace(b"schemaVersion", b"schemaVersioN"))


def _bad_json_child(lay: Layout, children: dict[str, dict[str, Any]]) -> None:
    """A child whose bytes match its descriptor but are not JSON (the index names them)."""
    bad = lay.blob(b"{not json")
    index_entry = lay.index[0]
    doc = lay.read(index_entry)
    doc["manifests"][2].update(digest=bad["digest"], size=bad["size"])
    lay.remove(index_entry["digest"])
    lay.index.clear()
    lay.name_annotated({"mediaType": doc["mediaType"], **lay.blob(json.dumps(doc).encode())}, NAME)


def _corrupt_layer_of_dropped_child(lay: Layout, children: dict[str, dict[str, Any]]) -> None:
    """arm/v7 is dropped (its config is absent), but the layer it does have is corrupt."""
    doc = lay.read(children["linux/arm/v7"])
    lay.remove(doc["config"]["digest"])
    path = lay.root / "blobs/sha256" / doc["layers"][0]["digest"].split(":")[1]
    path.write_bytes(path.read_bytes()[:-1] + b"!")


def _corrupt_layer_of_kept_child(lay: Layout, children: dict[str, dict[str, Any]]) -> None:
    doc = lay.read(children["linux/amd64"])
    path = lay.root / "blobs/sha256" / doc["layers"][0]["digest"].split(":")[1]
    path.write_bytes(path.read_bytes()[:-1] + b"!")


def _nothing(lay: Layout, children: dict[str, dict[str, Any]]) -> None:
    pass


SOME = ["linux/amd64", "linux/arm/v7"]  # arm64 absent, so the partial path runs
CASES = {
    "present-child-digest-mismatch": (SOME, _corrupt_present_child, 1, "does not match"),
    "present-child-bad-json": (SOME, _bad_json_child, 1, "not valid JSON"),
    "dropped-child-corrupt-layer": (SOME, _corrupt_layer_of_dropped_child, 1, "does not match"),
    "kept-child-corrupt-layer": (SOME, _corrupt_layer_of_kept_child, 1, "not valid gzip"),
    "no-platform-complete": ([], _nothing, 4, "has no file"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_failures_change_nothing(case: str, hoist: Cli, home: Path, tmp_path: Path) -> None:
    before = _something_loaded(hoist, home, tmp_path)
    present, damage, code, expected = CASES[case]
    lay, children, _index = _build(tmp_path / "layout", present)
    damage(lay, children)
    archive = lay.tar(tmp_path / "bad.tar")
    r = hoist("load", archive)
    assert r.code == code, r.err
    assert r.out == ""
    first = r.err.splitlines()[0]
    assert first.startswith("error: ") and expected in first, r.err
    assert str(archive) in first, r.err
    assert "note:" not in r.err and "Traceback" not in r.err
    assert snapshot(home) == before


def test_no_platform_complete_explains(hoist: Cli, home: Path, tmp_path: Path) -> None:
    lay, _children, index = _build(tmp_path / "layout", [])
    r = hoist("load", lay.tar(tmp_path / "app.tar"))
    assert r.code == 4
    what, why, fix = r.err.splitlines()
    assert what.startswith("error: ") and "has no file 'blobs/sha256/" in what
    assert why.startswith("  why: ") and f"multi-platform index {index['digest']}" in why
    assert "none of its 3 platforms (linux/amd64, linux/arm64, linux/arm/v7)" in why
    assert fix.startswith("  fix: ")


# --- nested indexes and attestations -----------------------------------------------------


def test_complete_nested_index_is_kept_whole_inside_a_trimmed_one(
    hoist: Cli, home: Path, tmp_path: Path
) -> None:
    lay = Layout(tmp_path / "layout")
    amd = lay.image([layer_tar({"a": b"amd"})], gzip_layers=True)
    arm = lay.image([layer_tar({"a": b"arm"})], gzip_layers=True, arch="arm64")
    s390 = lay.image([layer_tar({"a": b"s390"})], gzip_layers=True, arch="s390x")
    inner = lay.platform_index([(arm, "linux/arm64")])
    outer = lay.platform_index([(amd, "linux/amd64"), (s390, "linux/s390x")], extra=[inner])
    lay.name_annotated(outer, NAME)
    lay.remove(*lay.blobs_of(s390))
    r = hoist("load", lay.root)
    assert r.code == 0, r.err
    short = inner["digest"].split(":")[1][:12]
    assert f"linux/amd64 and sha256:{short} of its 3 platforms" in r.err
    root = _read_back(home, "app:1")
    assert [c.digest for c in root.manifests] == [amd["digest"], inner["digest"]]
    assert check_consistent(home) == ["docker.io/library/app:1"]


def test_incomplete_nested_index_is_refused(hoist: Cli, home: Path, tmp_path: Path) -> None:
    lay = Layout(tmp_path / "layout")
    amd = lay.image([layer_tar({"a": b"amd"})], gzip_layers=True)
    arm = lay.image([layer_tar({"a": b"arm"})], gzip_layers=True, arch="arm64")
    inner = lay.platform_index([(amd, "linux/amd64"), (arm, "linux/arm64")])
    outer = lay.platform_index([], extra=[inner])
    lay.name_annotated(outer, NAME)
    lay.remove(*lay.blobs_of(arm))
    before = _something_loaded(hoist, home, tmp_path)
    r = hoist("load", lay.root)
    assert r.code == 4
    assert f"which index {inner['digest']} (nested in another index) needs" in r.err
    assert "trims only the top-level index" in r.err
    assert snapshot(home) == before


def test_attestations_follow_their_platform(hoist: Cli, home: Path, tmp_path: Path) -> None:
    lay = Layout(tmp_path / "layout")
    kids = {
        p: lay.image([layer_tar({"a": p.encode()})], gzip_layers=True, arch=p.split("/")[1])
        for p in PLATFORMS
    }
    atts = {p: lay.attestation(kids[p]) for p in PLATFORMS}
    index = lay.platform_index(
        [(kids[p], p) for p in PLATFORMS], extra=[atts[p] for p in PLATFORMS]
    )
    lay.name_annotated(index, NAME)
    for desc in (kids["linux/arm64"], atts["linux/arm64"]):
        lay.remove(*lay.blobs_of(desc))
    r = hoist("load", lay.root)
    assert r.code == 0, r.err
    # attestations are not platforms: 3 platforms, only linux/arm64 missing
    assert "linux/amd64 and linux/arm/v7 of its 3 platforms" in r.err
    assert "(missing: linux/arm64)" in r.err
    root = _read_back(home, "app:1")
    assert [c.digest for c in root.manifests] == [
        kids["linux/amd64"]["digest"],
        kids["linux/arm/v7"]["digest"],
        atts["linux/amd64"]["digest"],
        atts["linux/arm/v7"]["digest"],
    ]
    assert check_consistent(home) == ["docker.io/library/app:1"]


def test_one_platform_with_its_attestation_names_the_manifest(
    hoist: Cli, home: Path, tmp_path: Path
) -> None:
    lay = Layout(tmp_path / "layout")
    amd = lay.image([layer_tar({"a": b"amd"})], gzip_layers=True)
    arm = lay.image([layer_tar({"a": b"arm"})], gzip_layers=True, arch="arm64")
    att = lay.attestation(amd)
    lay.name_annotated(
        lay.platform_index([(amd, "linux/amd64"), (arm, "linux/arm64")], extra=[att]), NAME
    )
    lay.remove(*lay.blobs_of(arm))
    r = hoist("load", lay.root)
    assert r.code == 0, r.err
    assert "only linux/amd64 of its 2 platforms, so that image was loaded" in r.err
    assert _rows(hoist)[0]["digest"] == amd["digest"]
    assert check_consistent(home) == ["docker.io/library/app:1"]


def test_partial_load_is_deterministic(hoist: Cli, home: Path, tmp_path: Path) -> None:
    lay, _children, _index = _build(tmp_path / "layout", ["linux/amd64", "linux/arm64"])
    archive = lay.tar(tmp_path / "app.tar")
    assert hoist("load", archive).code == 0
    before = snapshot(home)
    digest = hashlib.sha256((home / "index.json").read_bytes()).hexdigest()
    assert hoist("load", archive).code == 0
    assert snapshot(home) == before
    assert hashlib.sha256((home / "index.json").read_bytes()).hexdigest() == digest
