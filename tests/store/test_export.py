"""Round trips through the transports: store -> docker archive -> podman load, store -> OCI
layout -> skopeo, and back in again."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from hoist.oci import Manifest
from hoist.reference import Reference
from hoist.store import ImageStore
from hoist.transports.archive import ArchiveDestination, ArchiveSource
from hoist.transports.base import ImageDestination, ImageSource
from hoist.transports.layout import LayoutDestination, LayoutSource
from hoist.transports.store import StoreDestination, StoreSource
from tests.store.conftest import Cli, PodmanImages, check_consistent, podman_at
from tests.support.peers import skopeo

pytestmark = pytest.mark.peer


def copy(src: ImageSource, dst: ImageDestination, tag: str | None) -> Manifest:
    """The smallest possible copy (the real engine is hoist.copy): blobs, children, root."""
    root = src.root()
    todo = [src.manifest(d.digest) for d in root.manifests] + [root]
    for m in todo:
        for desc in m.blobs():
            if not dst.has_blob(desc):
                with src.open_blob(desc) as fh:
                    dst.put_blob(desc, fh)
        dst.put_manifest(m, tag if m is root else None)
    dst.commit()
    dst.close()
    src.close()
    return root


def test_store_to_docker_archive_podman_loads(
    hoist: Cli,
    home: Path,
    tmp_path: Path,
    podman_images: PodmanImages,
    request: pytest.FixtureRequest,
) -> None:
    assert hoist("load", podman_images.docker_archive).code == 0
    out = tmp_path / "exported.tar"
    copy(
        StoreSource(ImageStore(home), "localhost/hello:1"),
        ArchiveDestination(out, Reference.parse("localhost/exported:7")),
        "7",
    )
    pm_root = Path(tempfile.mkdtemp(prefix="hoist-pm-", dir="/tmp"))  # podman: short runroot
    request.addfinalizer(lambda: shutil.rmtree(pm_root, ignore_errors=True))
    pm = podman_at(pm_root)
    r = pm("load", "-i", str(out))
    assert r.returncode == 0, r.stderr
    listed = json.loads(pm("images", "--format", "json").stdout)
    (img,) = listed
    assert img["Id"] == podman_images.image_id.removeprefix("sha256:")
    assert "localhost/exported:7" in img["Names"]
    # and hoist reads its own export back to the same image ID
    assert hoist("load", out).out == "Loaded image: localhost/exported:7\n"


def test_store_to_oci_layout_dir_and_tar_skopeo_reads(
    hoist: Cli, home: Path, tmp_path: Path
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("x")
    assert hoist("pack", ctx, "-t", "example.com/p:1").code == 0
    for target, transport in (
        (tmp_path / "layout", "oci"),
        (tmp_path / "layout.tar", "oci-archive"),
    ):
        root = copy(
            StoreSource(ImageStore(home), "example.com/p:1"), LayoutDestination(target, "v1"), "v1"
        )
        raw = skopeo("inspect", "--raw", f"{transport}:{target}:v1").stdout
        assert Manifest.parse(raw.encode()).digest == root.digest
        # and the layout reads back, same digest
        back = LayoutSource(target, "v1")
        assert back.root().digest == root.digest
        back.close()


def test_archive_and_layout_sources_into_store(
    home: Path, tmp_path: Path, podman_images: PodmanImages
) -> None:
    store = ImageStore(home)
    copy(
        ArchiveSource(podman_images.docker_archive),
        StoreDestination(store, Reference.parse("a:1")),
        "1",
    )
    copy(
        LayoutSource(podman_images.oci_archive),
        StoreDestination(store, Reference.parse("b:1")),
        "1",
    )
    assert sorted(check_consistent(home)) == ["docker.io/library/a:1", "docker.io/library/b:1"]
    ids = {store.image_id(store.resolve(n).descriptor) for n in ("a:1", "b:1")}
    assert ids == {
        podman_images.image_id
        if podman_images.image_id.startswith("sha256:")
        else "sha256:" + podman_images.image_id
    }


def test_archive_source_picks_by_name(podman_images: PodmanImages) -> None:
    with pytest.raises(Exception, match="holds 2 images"):
        ArchiveSource(podman_images.multi_archive)
    src = ArchiveSource(podman_images.multi_archive, "localhost/second:2")
    assert len(src.root().layers) == 1
    src.close()
