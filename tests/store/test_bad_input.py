"""Bad archives: one clear error line naming the problem and the file, non-zero exit, and the
store byte-for-byte as it was before (everything is staged; the index is committed last)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.store.builders import (
    Layout,
    TarSpec,
    layer_tar,
    legacy_archive,
    legacy_archive_spec,
    sha,
)
from tests.store.conftest import Cli, snapshot

GOOD_LAYER = layer_tar({"etc/motd": b"hello\n"})
GOOD = [(["example.com/good:1"], [GOOD_LAYER])]


def _tweak(fn: Callable[[dict[str, bytes], list[dict[str, Any]]], None]) -> Callable[[Path], Path]:
    return lambda p: legacy_archive_spec(GOOD, fn).write(p)


def _truncated(p: Path) -> Path:
    full = legacy_archive(p.with_suffix(".full"), GOOD).read_bytes()
    p.write_bytes(full[: len(full) // 2])
    return p


def _garbage(p: Path) -> Path:
    p.write_bytes(b"this is not a tar archive at all\n" * 100)
    return p


def _with_entry(extra: Callable[[TarSpec], TarSpec]) -> Callable[[Path], Path]:
    return lambda p: extra(legacy_archive_spec(GOOD)).write(p)


def _layer_changed(files: dict[str, bytes], manifest: list[dict[str, Any]]) -> None:
    name = manifest[0]["Layers"][0]
    files[name] = layer_tar({"etc/motd": b"tampered\n"})


def _config_changed(files: dict[str, bytes], manifest: list[dict[str, Any]]) -> None:
    name = manifest[0]["Config"]
    files[name] = files[name].replace(b"amd64", b"arm64")


def _layer_missing(files: dict[str, bytes], manifest: list[dict[str, Any]]) -> None:
    del files[manifest[0]["Layers"][0]]


def _bad_json(files: dict[str, bytes], manifest: list[dict[str, Any]]) -> None:
    files[manifest[0]["Config"]] = b"{not json"
    manifest[0]["Config"] = "config.json"
    files["config.json"] = files.pop(next(k for k in files if k.endswith(".json")))


def _bad_name(files: dict[str, bytes], manifest: list[dict[str, Any]]) -> None:
    manifest[0]["RepoTags"] = ["Example.com/UPPER/Case:1"]


def _escaping_symlink(p: Path) -> Path:
    spec = legacy_archive_spec(GOOD, lambda f, m: m[0].update(Layers=["evil/layer.tar"]))
    return spec.symlink("evil/layer.tar", "../../etc/passwd").write(p)


def _escaping_hardlink(p: Path) -> Path:
    spec = legacy_archive_spec(GOOD, lambda f, m: m[0].update(Layers=["evil/layer.tar"]))
    return spec.hardlink("evil/layer.tar", "../etc/passwd").write(p)


def _absolute_symlink(p: Path) -> Path:
    spec = legacy_archive_spec(GOOD, lambda f, m: m[0].update(Layers=["evil/layer.tar"]))
    return spec.symlink("evil/layer.tar", "/etc/passwd").write(p)


def _oci_blob_mismatch(p: Path) -> Path:
    lay = Layout(p)
    desc = lay.image([GOOD_LAYER])
    lay.name(desc, "example.com/oci:1")
    layer = json.loads((p / "blobs/sha256" / desc["digest"].split(":")[1]).read_text())["layers"][0]
    (p / "blobs/sha256" / layer["digest"].split(":")[1]).write_bytes(layer_tar({"x": b"other"}))
    return p


def _oci_missing_manifest(p: Path) -> Path:
    lay = Layout(p)
    desc = lay.image([GOOD_LAYER])
    lay.name(desc, "example.com/oci:1")
    (p / "blobs/sha256" / desc["digest"].split(":")[1]).unlink()
    return p


def _oci_bad_index(p: Path) -> Path:
    lay = Layout(p)
    lay.name(lay.image([GOOD_LAYER]), "example.com/oci:1")
    (p / "index.json").write_text('{"schemaVersion": 2, "manifests": [')
    return p


def _oci_manifest_size_lies(p: Path) -> Path:
    lay = Layout(p)
    desc = lay.image([GOOD_LAYER])
    lay.name({**desc, "size": desc["size"] + 1}, "example.com/oci:1")
    return p


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated": (_truncated, "truncated"),
    "not-a-tar": (_garbage, "not"),
    "dotdot-entry": (_with_entry(lambda s: s.file("../escape.txt", b"x")), "'..'"),
    "absolute-entry": (_with_entry(lambda s: s.file("/etc/escape.txt", b"x")), "absolute"),
    "symlink-escapes": (_escaping_symlink, "escapes"),
    "hardlink-escapes": (_escaping_hardlink, "escapes"),
    "symlink-absolute": (_absolute_symlink, "absolute"),
    "layer-diffid-mismatch": (_tweak(_layer_changed), "diffID"),
    "config-digest-mismatch": (_tweak(_config_changed), "does not match"),
    "layer-missing": (_tweak(_layer_missing), "has no file"),
    "invalid-json": (_tweak(_bad_json), "not valid JSON"),
    "invalid-name": (_tweak(_bad_name), "invalid"),
    "oci-blob-mismatch": (_oci_blob_mismatch, "does not match"),
    "oci-missing-manifest": (_oci_missing_manifest, "has no file"),
    "oci-invalid-index-json": (_oci_bad_index, "not valid JSON"),
    "oci-size-mismatch": (_oci_manifest_size_lies, "does not match"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_cleanly_and_changes_nothing(
    case: str, hoist: Cli, home: Path, tmp_path: Path
) -> None:
    # a store with something in it, so "unchanged" means something
    assert hoist("load", legacy_archive(tmp_path / "ok.tar", GOOD)).code == 0
    before = snapshot(home)
    make, expected = CASES[case]
    source = make(tmp_path / f"bad-{case}" if case.startswith("oci") else tmp_path / "bad.tar")
    r = hoist("load", source)
    assert r.code != 0
    assert r.out == ""
    first = r.err.splitlines()[0]
    assert first.startswith("error: ") and expected in first, r.err
    assert str(source) in first or source.name in first, r.err  # names the file
    assert "Traceback" not in r.err
    assert snapshot(home) == before


def test_missing_source_is_not_found(hoist: Cli, tmp_path: Path) -> None:
    r = hoist("load", tmp_path / "nope.tar")
    assert r.code == 4
    assert "does not exist" in r.err


def test_digest_named_layer_elsewhere_is_verified(hoist: Cli, home: Path, tmp_path: Path) -> None:
    """A layer whose bytes are right but whose config lists another diffID is refused."""

    def wrong_diff_ids(files: dict[str, bytes], manifest: list[dict[str, Any]]) -> None:
        cfg_name = manifest[0]["Config"]
        cfg = json.loads(files.pop(cfg_name))
        cfg["rootfs"]["diff_ids"] = [sha(b"something else")]
        data = json.dumps(cfg).encode()
        manifest[0]["Config"] = sha(data).split(":")[1] + ".json"
        files[manifest[0]["Config"]] = data

    r = hoist("load", legacy_archive_spec(GOOD, wrong_diff_ids).write(tmp_path / "x.tar"))
    assert r.code == 1
    assert "diffID" in r.err
    assert (
        not (home / "index.json").exists()
        or "example.com/good" not in (home / "index.json").read_text()
    )
