"""`hoist images`, `hoist tag` and `hoist rmi`: names on images, as docker users expect."""

from __future__ import annotations

import json
from pathlib import Path

from hoist.store import ImageStore
from tests.store.builders import layer_tar, legacy_archive
from tests.store.conftest import Cli, check_consistent


def _load(hoist: Cli, tmp_path: Path, name: str, content: bytes) -> str:
    archive = legacy_archive(
        tmp_path / f"{abs(hash(name))}.tar", [([name], [layer_tar({"f": content})])]
    )
    r = hoist("load", archive)
    assert r.code == 0, r.err
    return next(
        json.loads(x)["id"] for x in hoist("images", "--json").out.splitlines() if name in x
    )


def test_images_table_and_json(hoist: Cli, home: Path, tmp_path: Path) -> None:
    image_id = _load(hoist, tmp_path, "example.com/team/app:1.4.0", b"x" * 5000)
    r = hoist("images")
    header, row = r.out.splitlines()
    assert header.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    cols = row.split()
    assert cols[:3] == ["example.com/team/app", "1.4.0", image_id.split(":")[1][:12]]
    assert row.endswith("B")
    (obj,) = [json.loads(x) for x in hoist("images", "--json").out.splitlines()]
    assert set(obj) >= {"repository", "tag", "id", "digest", "created", "size"}
    assert obj["created"] == "2024-01-02T03:04:05Z"
    assert obj["size"] > 0
    assert hoist("images", "-q").out.strip() == image_id.split(":")[1][:12]


def test_tag_by_name_and_short_id_copies_nothing(hoist: Cli, home: Path, tmp_path: Path) -> None:
    image_id = _load(hoist, tmp_path, "app:1", b"a")
    blobs_before = sorted((home / "blobs" / "sha256").iterdir())
    r = hoist("tag", "app:1", "registry.example.com/team/app:1")
    assert r.code == 0, r.err
    assert "registry.example.com/team/app:1" in r.out
    assert "warning" not in r.err  # explicit registry: nothing to warn about
    r = hoist("tag", image_id.split(":")[1][:6], "app:copy")
    assert r.code == 0, r.err
    assert "docker.io/library/app:copy" in r.out  # where it routes
    assert "no registry prefix" in r.err and "Docker Hub" in r.err
    assert sorted((home / "blobs" / "sha256").iterdir()) == blobs_before
    assert sorted(check_consistent(home)) == [
        "docker.io/library/app:1",
        "docker.io/library/app:copy",
        "registry.example.com/team/app:1",
    ]
    ids = {json.loads(x)["id"] for x in hoist("images", "--json").out.splitlines()}
    assert ids == {image_id}


def test_tag_errors(hoist: Cli, home: Path, tmp_path: Path) -> None:
    _load(hoist, tmp_path, "app:1", b"a")
    r = hoist("tag", "nothere:1", "x:1")
    assert r.code == 4 and "no such image" in r.err
    r = hoist("tag", "app:1", "Bad Name")
    assert r.code == 1 and "invalid" in r.err.lower()
    r = hoist("tag", "app:1", "x@sha256:" + "0" * 64)
    assert r.code == 1 and "digest" in r.err


def test_ambiguous_short_id(hoist: Cli, home: Path, tmp_path: Path) -> None:
    ids = [_load(hoist, tmp_path, f"app{i}:1", bytes([i]) * 10) for i in range(20)]
    # with 20 IDs two surely share a first hex digit
    first = [i.split(":")[1][0] for i in ids]
    shared = next(c for c in first if first.count(c) > 1)
    r = hoist("tag", shared, "x:1")
    assert r.code == 4 and "ambiguous" in r.err


def test_rmi_untags_then_deletes_unshared_content(hoist: Cli, home: Path, tmp_path: Path) -> None:
    image_id = _load(hoist, tmp_path, "app:1", b"mine")
    _load(hoist, tmp_path, "other:1", b"theirs")
    assert hoist("tag", "app:1", "app:2").code == 0
    blobs = lambda: {p.name for p in (home / "blobs" / "sha256").iterdir()}  # noqa: E731
    before = blobs()
    r = hoist("rmi", "app:1")
    assert (r.code, r.out) == (0, "Untagged: app:1\n")
    assert blobs() == before  # app:2 still uses everything
    r = hoist("rmi", "app:2")
    assert r.code == 0
    assert r.out == f"Untagged: app:2\nDeleted: {image_id}\n"
    assert len(blobs()) == len(before) - 3  # manifest, config, layer of app
    assert check_consistent(home) == ["docker.io/library/other:1"]
    assert image_id.split(":")[1] not in blobs()


def test_rmi_shared_layers_survive(hoist: Cli, home: Path, tmp_path: Path) -> None:
    shared = layer_tar({"shared": b"s" * 1000})
    archive = legacy_archive(
        tmp_path / "two.tar",
        [(["a:1"], [shared]), (["b:1"], [shared, layer_tar({"own": b"b"})])],
    )
    assert hoist("load", archive).code == 0
    assert hoist("rmi", "b:1").code == 0
    assert check_consistent(home) == ["docker.io/library/a:1"]
    store = ImageStore(home)
    m = store.manifest(store.resolve("a:1").descriptor.digest)
    assert store.blobs.has(m.layers[0].digest)


def test_rmi_by_id_needs_force_when_several_names(hoist: Cli, home: Path, tmp_path: Path) -> None:
    image_id = _load(hoist, tmp_path, "app:1", b"a")
    assert hoist("tag", "app:1", "app:2").code == 0
    r = hoist("rmi", image_id.split(":")[1][:12])
    assert r.code == 1 and "must be forced" in r.err
    r = hoist("rmi", "-f", image_id.split(":")[1][:12])
    assert r.code == 0
    assert sorted(r.out.splitlines()) == [
        "Deleted: " + image_id,
        "Untagged: app:1",
        "Untagged: app:2",
    ]
    assert hoist("images", "-q").out == ""


def test_rmi_unknown_name_goes_on_and_fails(hoist: Cli, home: Path, tmp_path: Path) -> None:
    _load(hoist, tmp_path, "app:1", b"a")
    r = hoist("rmi", "nothere:1", "app:1")
    assert r.code == 4
    assert "no such image" in r.err
    assert "Untagged: app:1" in r.out


def test_moving_a_name_leaves_the_old_image_unnamed(hoist: Cli, home: Path, tmp_path: Path) -> None:
    old = _load(hoist, tmp_path, "app:1", b"old")
    new = _load(hoist, tmp_path, "app:1", b"new")
    rows = [json.loads(x) for x in hoist("images", "--json").out.splitlines()]
    assert {(r["tag"], r["id"]) for r in rows} == {("1", new), (None, old)}
    assert "<none>" in hoist("images").out
    r = hoist("rmi", old)
    assert r.out == f"Deleted: {old}\n"


def test_rmi_by_digest_reference_explains_and_changes_nothing(
    hoist: Cli, home: Path, tmp_path: Path
) -> None:
    _load(hoist, tmp_path, "app:1", b"a")
    digest = ImageStore(home).resolve("app:1").descriptor.digest
    index_before = (home / "index.json").read_bytes()
    r = hoist("rmi", f"app@{digest}")
    assert r.code == 1
    assert "matches by digest" in r.err
    assert "hoist rmi NAME:TAG" in r.err
    assert (home / "index.json").read_bytes() == index_before


def test_legacy_archive_becomes_a_pure_oci_image(hoist: Cli, home: Path, tmp_path: Path) -> None:
    """An OCI manifest must not mix in Docker media types: strict registries refuse that."""
    _load(hoist, tmp_path, "app:1", b"content")
    store = ImageStore(home)
    manifest = store.manifest(store.resolve("app:1").descriptor.digest)
    assert manifest.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert manifest.config.media_type == "application/vnd.oci.image.config.v1+json"
    assert [layer.media_type for layer in manifest.layers] == [
        "application/vnd.oci.image.layer.v1.tar+gzip"
    ]
