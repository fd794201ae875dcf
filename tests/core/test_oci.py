"""The image model: digests are checked, streams are verified, manifests are parsed strictly."""

from __future__ import annotations

import io
import json

import pytest

from hoist import oci
from hoist.errors import DigestMismatchError, InvalidContentError
from hoist.oci import Descriptor, Digest, Manifest, Platform, VerifyingReader


def test_digest_of_bytes_matches_sha256sum() -> None:
    assert Digest.of(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    d = Digest.of(b"hello")
    assert d.algorithm == "sha256"
    assert d.short == d.hex[:12]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "sha256",
        "sha256:",
        "sha256:abc",
        "sha256:" + "A" * 64,
        "sha256:" + "g" * 64,
        "md5:" + "a" * 32,
        "sha256:" + "a" * 64 + "\n",
        "SHA256:" + "a" * 64,
    ],
)
def test_invalid_digests_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidContentError):
        Digest(bad)
    assert not oci.is_digest(bad)


def test_verifying_reader_accepts_matching_content() -> None:
    data = b"x" * 100_000
    reader = VerifyingReader(io.BytesIO(data), Digest.of(data), len(data))
    out = b"".join(oci.iter_chunks(reader, 4096))  # type: ignore[arg-type]
    assert out == data
    assert reader.bytes_read == len(data)


def test_verifying_reader_rejects_corrupt_content_at_eof() -> None:
    data = b"payload"
    reader = VerifyingReader(io.BytesIO(b"paYload"), Digest.of(data), len(data))
    assert reader.read(3) == b"paY"
    with pytest.raises(DigestMismatchError, match="does not match its digest"):
        while reader.read(3):
            pass


def test_verifying_reader_rejects_truncated_and_oversized_content() -> None:
    data = b"0123456789"
    short = VerifyingReader(io.BytesIO(data[:5]), Digest.of(data), len(data))
    with pytest.raises(DigestMismatchError, match="expected 10"):
        short.read()
        short.read()
    long = VerifyingReader(io.BytesIO(data + b"!"), Digest.of(data), len(data))
    with pytest.raises(DigestMismatchError, match="larger than"):
        long.read()


def _manifest(**extra: object) -> bytes:
    body = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_MANIFEST,
        "config": {"mediaType": oci.OCI_CONFIG, "digest": str(Digest.of(b"{}")), "size": 2},
        "layers": [{"mediaType": oci.OCI_LAYER_GZIP, "digest": str(Digest.of(b"l")), "size": 1}],
    }
    body.update(extra)
    return json.dumps(body).encode()


def test_manifest_keeps_its_exact_bytes_and_digest() -> None:
    raw = _manifest()
    m = Manifest.parse(raw)
    assert m.data == raw
    assert m.digest == Digest.of(raw)
    assert not m.is_index
    assert [d.digest for d in m.blobs()] == [Digest.of(b"{}"), Digest.of(b"l")]


def test_index_lists_children_with_platforms() -> None:
    child = Descriptor(oci.OCI_MANIFEST, Digest.of(b"c"), 1, Platform("linux", "arm64", "v8"))
    raw = json.dumps(
        {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [child.to_json()]}
    ).encode()
    m = Manifest.parse(raw)
    assert m.is_index
    assert m.manifests == [child]
    assert str(m.manifests[0].platform) == "linux/arm64/v8"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[1,2]", "not a JSON object"),
        (json.dumps({"mediaType": "text/plain"}).encode(), "unsupported manifest media type"),
        (b" " * (oci.MAX_MANIFEST_BYTES + 1), "over the"),
    ],
)
def test_bad_manifests_are_refused_with_a_reason(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidContentError, match=message):
        Manifest.parse(raw)


def test_descriptor_with_bad_size_is_refused() -> None:
    m = Manifest.parse(
        _manifest(layers=[{"mediaType": "x", "digest": str(Digest.of(b"")), "size": -1}])
    )
    with pytest.raises(InvalidContentError, match="invalid size"):
        _ = m.layers


def test_platform_parse() -> None:
    assert Platform.parse("linux/amd64") == Platform("linux", "amd64")
    with pytest.raises(InvalidContentError, match="invalid platform"):
        Platform.parse("amd64")
