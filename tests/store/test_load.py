"""`hoist load`: real podman and skopeo output, handmade multi-platform layouts, determinism."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from hoist.oci import Digest
from hoist.store import ImageStore
from tests.store.builders import Layout, layer_tar, legacy_archive, sha
from tests.store.conftest import Cli, PodmanImages, check_consistent, snapshot
from tests.support.peers import skopeo

pytestmark = pytest.mark.peer


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_load_podman_docker_archive(hoist: Cli, home: Path, podman_images: PodmanImages) -> None:
    r = hoist("load", podman_images.docker_archive)
    assert r.code == 0, r.err
    assert r.out == "Loaded image: localhost/hello:1\n"
    rows = _json_lines(hoist("images", "--json").out)
    assert [(x["repository"], x["tag"]) for x in rows] == [("localhost/hello", "1")]
    # image ID is the config digest, exactly what podman calls it
    assert rows[0]["id"] == f"sha256:{podman_images.image_id.removeprefix('sha256:')}"
    # the uncompressed docker-save layer was stored gzip-compressed, diffID mapping kept
    store = ImageStore(home)
    manifest = store.manifest(store.resolve("localhost/hello:1").descriptor.digest)
    (layer,) = manifest.layers
    assert layer.media_type.endswith("gzip")
    with store.blobs.open(layer.digest) as fh:
        plain = gzip.decompress(fh.read())
    diff_id = Digest(sha(plain))
    assert store.config_json(manifest)["rootfs"]["diff_ids"] == [diff_id]
    assert store.compressed_for(diff_id) == layer
    assert check_consistent(home) == ["localhost/hello:1"]


def test_store_is_an_oci_layout_skopeo_reads(
    hoist: Cli, home: Path, podman_images: PodmanImages
) -> None:
    assert hoist("load", podman_images.docker_archive).code == 0
    raw = skopeo("inspect", "--raw", f"oci:{home}:localhost/hello:1").stdout
    assert json.loads(raw)["layers"][0]["mediaType"].endswith("gzip")
    cfg = json.loads(skopeo("inspect", "--config", f"oci:{home}:localhost/hello:1").stdout)
    assert cfg["rootfs"]["type"] == "layers"


def test_load_podman_oci_archive(hoist: Cli, home: Path, podman_images: PodmanImages) -> None:
    r = hoist("load", podman_images.oci_archive)
    assert r.code == 0, r.err
    assert r.out == "Loaded image: localhost/hello:1\n"
    (row,) = _json_lines(hoist("images", "--json").out)
    assert row["id"] == f"sha256:{podman_images.image_id.removeprefix('sha256:')}"


def test_load_several_images_from_one_tar(
    hoist: Cli, home: Path, podman_images: PodmanImages
) -> None:
    r = hoist("load", podman_images.multi_archive)
    assert r.code == 0, r.err
    assert sorted(r.out.splitlines()) == [
        "Loaded image: localhost/hello:1",
        "Loaded image: localhost/second:2",
    ]
    assert sorted(check_consistent(home)) == ["localhost/hello:1", "localhost/second:2"]


def test_load_skopeo_oci_layout(
    hoist: Cli, home: Path, tmp_path: Path, podman_images: PodmanImages
) -> None:
    named = tmp_path / "named"
    skopeo(
        "copy",
        f"docker-archive:{podman_images.docker_archive}",
        f"oci:{named}:docker.io/team/app:2",
    )
    r = hoist("load", named)
    assert r.code == 0, r.err
    assert r.out == "Loaded image: team/app:2\n"
    # a bare tag in ref.name is not a name (docker shows the ID)
    bare = tmp_path / "bare"
    skopeo("copy", f"docker-archive:{podman_images.docker_archive}", f"oci:{bare}:latest")
    r = hoist("load", bare)
    assert r.code == 0, r.err
    assert r.out.startswith("Loaded image ID: sha256:")


def test_load_gzip_compressed_tarball(
    hoist: Cli, tmp_path: Path, podman_images: PodmanImages
) -> None:
    gz = tmp_path / "image.tar.gz"
    with podman_images.docker_archive.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    r = hoist("load", gz)
    assert (r.code, r.out) == (0, "Loaded image: localhost/hello:1\n")


def test_multiplatform_index_kept_whole(hoist: Cli, home: Path, tmp_path: Path) -> None:
    lay = Layout(tmp_path / "multi")
    amd = lay.image([layer_tar({"a": b"amd64 " * 1000})], arch="amd64")
    arm = lay.image([layer_tar({"a": b"arm64 " * 1000})], arch="arm64")
    lay.name(lay.multi([(amd, "amd64"), (arm, "arm64")]), "example.com/multi:1")
    r = hoist("load", lay.root)
    assert (r.code, r.out) == (0, "Loaded image: example.com/multi:1\n"), r.err
    store = ImageStore(home)
    entry = store.resolve("example.com/multi:1")
    index = store.manifest(entry.descriptor.digest)
    assert index.is_index
    assert [str(d.platform) for d in index.manifests] == ["linux/amd64", "linux/arm64"]
    for child in index.manifests:
        (layer,) = store.manifest(child.digest).layers
        assert layer.media_type.endswith("tar+gzip")  # compressed once, at import
    (row,) = _json_lines(hoist("images", "--json").out)
    assert row["id"] == str(index.digest)  # an index's ID is its own digest
    assert row["platforms"] == ["linux/amd64", "linux/arm64"]


def test_already_compressed_layout_keeps_its_digest(hoist: Cli, home: Path, tmp_path: Path) -> None:
    lay = Layout(tmp_path / "gz")
    desc = lay.image([layer_tar({"x": b"y"})], gzip_layers=True)
    lay.name(desc, "example.com/gz:1")
    assert hoist("load", lay.root).code == 0
    assert ImageStore(home).resolve("example.com/gz:1").descriptor.digest == desc["digest"]


def test_load_is_deterministic_and_reuses_compressed_layers(
    hoist: Cli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = legacy_archive(
        tmp_path / "a.tar", [(["example.com/det:1"], [layer_tar({"f": bytes(range(256)) * 9000})])]
    )
    assert hoist("load", archive).code == 0
    first = ImageStore(home).resolve("example.com/det:1").descriptor.digest
    before = snapshot(home)
    assert hoist("load", archive).code == 0  # loading again changes nothing
    assert snapshot(home) == before
    other = tmp_path / "other-home"
    monkeypatch.setenv("HOIST_HOME", str(other))
    assert hoist("load", archive).code == 0
    assert ImageStore(other).resolve("example.com/det:1").descriptor.digest == first
