"""`hoist pack`: reproducible one-layer images with the settings a user gives."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from hoist.oci import Digest
from hoist.store import ImageStore
from tests.store.conftest import Cli


def _context(root: Path) -> Path:
    (root / "app" / "static").mkdir(parents=True)
    (root / "app" / "server").write_bytes(b"#!/bin/sh\necho serving\n")
    (root / "app" / "server").chmod(0o755)
    (root / "app" / "static" / "index.html").write_text("<h1>hi</h1>\n")
    (root / "current").symlink_to("app/server")
    os.link(root / "app" / "server", root / "app" / "server-hardlink")
    return root


def _manifest_and_config(home: Path, name: str) -> tuple[dict[str, object], dict[str, object]]:
    store = ImageStore(home)
    m = store.manifest(store.resolve(name).descriptor.digest)
    return dict(m.json), store.config_json(m)


def _layer_members(home: Path, name: str) -> list[tarfile.TarInfo]:
    store = ImageStore(home)
    m = store.manifest(store.resolve(name).descriptor.digest)
    with store.blobs.open(m.layers[-1].digest) as fh:
        data = gzip.decompress(fh.read())
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return tf.getmembers()


def test_same_input_same_digest(
    hoist: Cli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _context(tmp_path / "ctx")
    assert hoist("pack", ctx, "-t", "example.com/app:1").code == 0
    first = ImageStore(home).resolve("example.com/app:1").descriptor.digest
    # touch everything: mtimes, atimes and the order files were created must not matter
    for p in ctx.rglob("*"):
        os.utime(p, (1_000_000, 2_000_000), follow_symlinks=False)
    other = tmp_path / "home2"
    monkeypatch.setenv("HOIST_HOME", str(other))
    assert hoist("pack", ctx, "-t", "example.com/app:1").code == 0
    assert ImageStore(other).resolve("example.com/app:1").descriptor.digest == first
    # SOURCE_DATE_EPOCH is the one thing that is allowed to change it
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert hoist("pack", ctx, "-t", "example.com/app:2").code == 0
    assert ImageStore(other).resolve("example.com/app:2").descriptor.digest != first
    _, cfg = _manifest_and_config(other, "example.com/app:2")
    assert cfg["created"] == "2023-11-14T22:13:20Z"


def test_layer_is_normalized(hoist: Cli, home: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path / "ctx")
    assert hoist("pack", ctx, "-t", "app:1").code == 0
    members = _layer_members(home, "app:1")
    names = [m.name for m in members]
    assert names == sorted(names, key=lambda n: n.split("/"))  # depth-first, sorted
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 0)}
    by_name = {m.name: m for m in members}
    assert by_name["current"].issym() and by_name["current"].linkname == "app/server"
    assert by_name["app/server-hardlink"].islnk()
    assert by_name["app/server-hardlink"].linkname == "app/server"
    assert by_name["app/server"].mode == 0o755


def test_settings_land_in_the_config(hoist: Cli, home: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path / "ctx")
    r = hoist(
        "pack",
        ctx,
        "-t",
        "example.com/team/web:1",
        "-t",
        "web:latest",
        "--entrypoint",
        '["/app/server", "--port", "8080"]',
        "--cmd",
        "echo hi",
        "--env",
        "A=1",
        "--env",
        "B=two=2",
        "--workdir",
        "/app",
        "--platform",
        "linux/arm64/v8",
        "--label",
        "org.opencontainers.image.source=https://example.com/web",
    )
    assert r.code == 0, r.err
    assert "Tagged: example.com/team/web:1" in r.out and "Tagged: web:latest" in r.out
    manifest, cfg = _manifest_and_config(home, "web")
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert (cfg["os"], cfg["architecture"], cfg["variant"]) == ("linux", "arm64", "v8")
    assert cfg["created"] == "1970-01-01T00:00:00Z"
    c = cfg["config"]
    assert isinstance(c, dict)
    assert c["Entrypoint"] == ["/app/server", "--port", "8080"]
    assert c["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert c["Env"] == ["A=1", "B=two=2"]
    assert c["WorkingDir"] == "/app"
    assert c["Labels"] == {"org.opencontainers.image.source": "https://example.com/web"}


def test_base_image_layers_and_config_are_reused(hoist: Cli, home: Path, tmp_path: Path) -> None:
    base_ctx = tmp_path / "base"
    (base_ctx / "etc").mkdir(parents=True)
    (base_ctx / "etc" / "os-release").write_text("ID=tiny\n")
    assert (
        hoist("pack", base_ctx, "-t", "base:1", "--env", "PATH=/bin", "--cmd", '["sh"]').code == 0
    )
    ctx = _context(tmp_path / "ctx")
    assert (
        hoist(
            "pack", ctx, "-t", "app:1", "--base", "base:1", "--entrypoint", '["/app/server"]'
        ).code
        == 0
    )
    base_m, base_cfg = _manifest_and_config(home, "base:1")
    app_m, app_cfg = _manifest_and_config(home, "app:1")
    assert app_m["layers"][:1] == base_m["layers"]  # type: ignore[index]
    assert len(app_m["layers"]) == 2  # type: ignore[arg-type]
    assert app_cfg["rootfs"]["diff_ids"][0] == base_cfg["rootfs"]["diff_ids"][0]  # type: ignore[index]
    assert app_cfg["config"]["Env"] == ["PATH=/bin"]  # type: ignore[index]
    assert "Cmd" not in app_cfg["config"]  # an entrypoint resets the base's cmd  # type: ignore[operator]


def test_special_files_are_skipped_with_a_warning(hoist: Cli, home: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path / "ctx")
    os.mkfifo(ctx / "pipe")
    r = hoist("pack", ctx, "-t", "app:1")
    assert r.code == 0
    assert "skipping pipe" in r.err and "FIFO" in r.err
    assert "pipe" not in [m.name for m in _layer_members(home, "app:1")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--entrypoint", "[not json"], "JSON array"),
        (["--env", "NOEQUALS"], "KEY=VALUE"),
        (["--platform", "linux"], "invalid platform"),
        (["--workdir", "relative"], "absolute"),
        (["-t", "example.com/UPPER:1"], "lowercase"),
        (["--base", "nothere:1"], "no such image"),
    ],
)
def test_bad_pack_arguments(
    hoist: Cli, home: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    ctx = _context(tmp_path / "ctx")
    r = hoist("pack", ctx, *(args if "-t" in args else ["-t", "ok:1", *args]))
    assert r.code != 0
    assert message in r.err, r.err
    assert "Traceback" not in r.err
    assert not (home / "index.json").exists() or "ok:1" not in (home / "index.json").read_text()


def test_pack_missing_dir(hoist: Cli, tmp_path: Path) -> None:
    r = hoist("pack", tmp_path / "nope", "-t", "x:1")
    assert r.code == 4 and "not a directory" in r.err


def test_manifest_is_valid_json_with_sizes(hoist: Cli, home: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path / "ctx")
    assert hoist("pack", ctx, "-t", "x:1").code == 0
    manifest, _ = _manifest_and_config(home, "x:1")
    store = ImageStore(home)
    for layer in manifest["layers"]:  # type: ignore[attr-defined]
        assert store.blobs.size(Digest(layer["digest"])) == layer["size"]
    json.dumps(manifest)
