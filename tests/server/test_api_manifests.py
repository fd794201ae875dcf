"""Manifests, tags, catalog and referrers over real HTTP, with the spec's errors."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.server.conftest import (
    error_code,
    image_manifest,
    push_blob,
    push_image,
    sha,
    snapshot,
)
from tests.support.hoist_server import HoistServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def put(client: httpx.Client, repo: str, ref: str, body: bytes, media_type: str) -> httpx.Response:
    return client.put(
        f"/v2/{repo}/manifests/{ref}", content=body, headers={"Content-Type": media_type}
    )


def test_get_and_head_by_tag_and_digest(client: httpx.Client) -> None:
    digest, body = push_image(client, "m/app", "v1")
    for ref in ("v1", digest):
        r = client.get(f"/v2/m/app/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200
        assert r.content == body
        assert r.headers["Content-Type"] == OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == digest
        head = client.head(f"/v2/m/app/manifests/{ref}")
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(body))
        assert head.headers["Docker-Content-Digest"] == digest


def test_docker_schema2_manifest_and_manifest_list(client: httpx.Client) -> None:
    config = b'{"architecture":"arm64","os":"linux"}'
    layer = b"docker layer" * 10
    push_blob(client, "m/docker", config)
    push_blob(client, "m/docker", layer)
    manifest = image_manifest(config, [layer], media_type=DOCKER_MANIFEST)
    r = put(client, "m/docker", "arm64", manifest, DOCKER_MANIFEST)
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/m/docker/manifests/{sha(manifest)}"
    listing = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST,
            "manifests": [
                {
                    "mediaType": DOCKER_MANIFEST,
                    "digest": sha(manifest),
                    "size": len(manifest),
                    "platform": {"architecture": "arm64", "os": "linux"},
                }
            ],
        }
    ).encode()
    assert put(client, "m/docker", "multi", listing, DOCKER_LIST).status_code == 201
    got = client.get("/v2/m/docker/manifests/multi")
    assert got.headers["Content-Type"] == DOCKER_LIST
    assert got.content == listing


def test_index_needs_its_children_in_the_repository(
    client: httpx.Client, registry: HoistServer
) -> None:
    child_digest, child = push_image(client, "m/elsewhere", "x")
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": child_digest, "size": len(child)}],
        }
    ).encode()
    before = snapshot(registry.root)
    r = put(client, "m/index", "latest", index, OCI_INDEX)
    assert r.status_code == 400
    assert error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert r.json()["errors"][0]["detail"] == {"digest": child_digest}
    assert snapshot(registry.root) == before


def test_manifest_referencing_missing_blobs_lists_each(
    client: httpx.Client, registry: HoistServer
) -> None:
    config = b'{"os":"linux"}'
    push_blob(client, "m/missing", config)
    manifest = image_manifest(config, [b"layer one", b"layer two"])
    before = snapshot(registry.root)
    r = put(client, "m/missing", "v1", manifest, OCI_MANIFEST)
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert [e["code"] for e in errors] == ["MANIFEST_BLOB_UNKNOWN"] * 2
    assert {e["detail"]["digest"] for e in errors} == {sha(b"layer one"), sha(b"layer two")}
    assert snapshot(registry.root) == before
    assert client.get("/v2/m/missing/manifests/v1").status_code == 404


def test_blob_of_another_repository_does_not_satisfy_a_manifest(client: httpx.Client) -> None:
    config = b'{"os":"linux","x":1}'
    layer = b"only in repo a"
    push_blob(client, "m/a", config)
    push_blob(client, "m/a", layer)
    push_blob(client, "m/b", config)
    r = put(client, "m/b", "v1", image_manifest(config, [layer]), OCI_MANIFEST)
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"


@pytest.mark.parametrize(
    ("body", "media_type"),
    [
        (b"{not json", OCI_MANIFEST),
        (b"[1, 2]", OCI_MANIFEST),
        (b'{"schemaVersion": 2, "mediaType": "application/x-unknown"}', "application/x-unknown"),
        (
            b'{"schemaVersion": 1, "name": "x"}',
            "application/vnd.docker.distribution.manifest.v1+json",
        ),
        (b'{"schemaVersion": 2, "mediaType": "' + DOCKER_MANIFEST.encode() + b'"}', OCI_MANIFEST),
        (
            b'{"schemaVersion": 2, "config": {"digest": "sha256:zz", "size": 1}, "layers": []}',
            OCI_MANIFEST,
        ),
    ],
)
def test_invalid_manifests(
    client: httpx.Client, registry: HoistServer, body: bytes, media_type: str
) -> None:
    before = snapshot(registry.root)
    r = put(client, "m/invalid", "v1", body, media_type)
    assert r.status_code == 400
    assert error_code(r) == "MANIFEST_INVALID"
    assert snapshot(registry.root) == before


def test_manifest_over_4_mib_is_413(client: httpx.Client) -> None:
    body = b'{"schemaVersion": 2, "pad": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    r = put(client, "m/big", "v1", body, OCI_MANIFEST)
    assert r.status_code == 413
    assert error_code(r) == "MANIFEST_INVALID"


def test_push_by_digest_must_match(client: httpx.Client) -> None:
    _, body = push_image(client, "m/bydigest", "v1")
    wrong = sha(b"something else")
    r = put(client, "m/bydigest", wrong, body, OCI_MANIFEST)
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    assert put(client, "m/bydigest", sha(body), body, OCI_MANIFEST).status_code == 201


def test_invalid_tag(client: httpx.Client) -> None:
    _, body = push_image(client, "m/tags", "ok")
    r = put(client, "m/tags", ".hidden", body, OCI_MANIFEST)
    assert r.status_code == 400 and error_code(r) == "TAG_INVALID"
    r = put(client, "m/tags", "x" * 129, body, OCI_MANIFEST)
    assert r.status_code == 400 and error_code(r) == "TAG_INVALID"


def test_unknown_manifest_and_repository(client: httpx.Client) -> None:
    r = client.get("/v2/m/nothing/manifests/latest")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    r = client.get("/v2/m/nothing/tags/list")
    assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"


def test_tag_list_pagination_with_link_header(client: httpx.Client) -> None:
    _, body = push_image(client, "m/paged", "t0")
    for tag in ("t1", "t2", "t3", "t4"):
        assert put(client, "m/paged", tag, body, OCI_MANIFEST).status_code == 201
    r = client.get("/v2/m/paged/tags/list")
    assert r.json() == {"name": "m/paged", "tags": ["t0", "t1", "t2", "t3", "t4"]}
    assert "Link" not in r.headers
    page = client.get("/v2/m/paged/tags/list", params={"n": 2})
    assert page.json()["tags"] == ["t0", "t1"]
    assert page.headers["Link"] == '</v2/m/paged/tags/list?n=2&last=t1>; rel="next"'
    seen = list(page.json()["tags"])
    link = page.headers["Link"]
    while link:
        url = link.split(">")[0].lstrip("<")
        page = client.get(url)
        seen += page.json()["tags"]
        link = page.headers.get("Link", "")
    assert seen == ["t0", "t1", "t2", "t3", "t4"]
    assert client.get("/v2/m/paged/tags/list", params={"last": "t3"}).json()["tags"] == ["t4"]
    bad = client.get("/v2/m/paged/tags/list", params={"n": "-1"})
    assert bad.status_code == 400 and error_code(bad) == "PAGINATION_NUMBER_INVALID"


def test_catalog_pagination(client: httpx.Client) -> None:
    for name in ("cat/a", "cat/b", "cat/c"):
        push_blob(client, name, b"catalog")
    everything = client.get("/v2/_catalog").json()["repositories"]
    assert {"cat/a", "cat/b", "cat/c"} <= set(everything)
    assert everything == sorted(everything)
    page = client.get("/v2/_catalog", params={"n": 1, "last": "cat/a"})
    assert page.json()["repositories"] == ["cat/b"]
    assert page.headers["Link"] == '</v2/_catalog?n=1&last=cat%2Fb>; rel="next"'


def test_delete_by_tag_and_by_digest(client: httpx.Client) -> None:
    digest, body = push_image(client, "m/del", "a")
    assert put(client, "m/del", "b", body, OCI_MANIFEST).status_code == 201
    assert client.delete("/v2/m/del/manifests/a").status_code == 202
    assert client.get("/v2/m/del/manifests/a").status_code == 404
    assert client.get("/v2/m/del/manifests/b").status_code == 200
    assert client.delete(f"/v2/m/del/manifests/{digest}").status_code == 202
    assert client.get("/v2/m/del/manifests/b").status_code == 404
    assert client.get(f"/v2/m/del/manifests/{digest}").status_code == 404
    assert client.get("/v2/m/del/tags/list").json()["tags"] == []
    r = client.delete(f"/v2/m/del/manifests/{digest}")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"


def _artifact(client: httpx.Client, repo: str, subject: str, size: int, kind: str) -> bytes:
    empty = b"{}"
    blob = f"signature for {subject} of {kind}".encode()
    push_blob(client, repo, empty)
    push_blob(client, repo, blob)
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": kind,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": sha(empty),
                "size": 2,
            },
            "layers": [
                {"mediaType": "application/octet-stream", "digest": sha(blob), "size": len(blob)}
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size},
            "annotations": {"org.example.kind": kind},
        }
    ).encode()


def test_referrers_api_with_artifact_type_filter(client: httpx.Client) -> None:
    subject, body = push_image(client, "m/signed", "v1")
    sig = _artifact(client, "m/signed", subject, len(body), "application/vnd.example.sig")
    sbom = _artifact(client, "m/signed", subject, len(body), "application/vnd.example.sbom")
    for artifact in (sig, sbom):
        r = put(client, "m/signed", sha(artifact), artifact, OCI_MANIFEST)
        assert r.status_code == 201
        assert r.headers["OCI-Subject"] == subject
    r = client.get(f"/v2/m/signed/referrers/{subject}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == OCI_INDEX
    index = r.json()
    assert index["mediaType"] == OCI_INDEX
    by_type = {m["artifactType"]: m for m in index["manifests"]}
    assert set(by_type) == {"application/vnd.example.sig", "application/vnd.example.sbom"}
    assert by_type["application/vnd.example.sig"]["digest"] == sha(sig)
    assert by_type["application/vnd.example.sig"]["size"] == len(sig)
    assert by_type["application/vnd.example.sig"]["annotations"] == {
        "org.example.kind": "application/vnd.example.sig"
    }
    filtered = client.get(
        f"/v2/m/signed/referrers/{subject}", params={"artifactType": "application/vnd.example.sbom"}
    )
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in filtered.json()["manifests"]] == [sha(sbom)]
    # Deleting a referrer removes it from the list.
    assert client.delete(f"/v2/m/signed/manifests/{sha(sig)}").status_code == 202
    left = client.get(f"/v2/m/signed/referrers/{subject}").json()["manifests"]
    assert [m["digest"] for m in left] == [sha(sbom)]


def test_referrers_of_unknown_subject_is_empty_and_bad_digest_is_400(client: httpx.Client) -> None:
    r = client.get(f"/v2/m/none/referrers/{sha(b'nothing')}")
    assert r.status_code == 200
    assert r.json()["manifests"] == []
    r = client.get("/v2/m/none/referrers/sha256:nothex")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"


def test_subject_may_be_pushed_before_its_subject_exists(client: httpx.Client) -> None:
    ghost = sha(b"not pushed yet")
    artifact = _artifact(client, "m/early", ghost, 10, "application/vnd.example.sig")
    assert put(client, "m/early", "sig", artifact, OCI_MANIFEST).status_code == 201
    listed = client.get(f"/v2/m/early/referrers/{ghost}").json()["manifests"]
    assert [m["digest"] for m in listed] == [sha(artifact)]
