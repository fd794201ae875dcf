"""The reference grammar and docker's normalization, case by case.

Each row is what the docker CLI (distribution/reference) does with a name a user might type:
valid names with their canonical and familiar forms, invalid ones with the reason hoist gives.
"""

from __future__ import annotations

import pytest

from hoist.errors import InvalidReferenceError
from hoist.reference import Reference, has_explicit_registry, is_loopback_registry

D64 = "sha256:" + "a" * 64
D64B = "sha256:" + "0123456789abcdef" * 4
D128 = "sha512:" + "b" * 128

# (input, canonical, familiar)
VALID: list[tuple[str, str, str]] = [
    # Docker Hub official images
    ("myapp", "docker.io/library/myapp:latest", "myapp:latest"),
    ("myapp:1.4.0", "docker.io/library/myapp:1.4.0", "myapp:1.4.0"),
    ("ubuntu:22.04", "docker.io/library/ubuntu:22.04", "ubuntu:22.04"),
    ("docker.io/ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"),
    ("docker.io/library/ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"),
    ("index.docker.io/ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"),
    ("index.docker.io/library/ubuntu:x", "docker.io/library/ubuntu:x", "ubuntu:x"),
    ("library/ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"),
    # Docker Hub user namespaces
    ("alice/app", "docker.io/alice/app:latest", "alice/app:latest"),
    ("alice/app:v2", "docker.io/alice/app:v2", "alice/app:v2"),
    ("docker.io/alice/app", "docker.io/alice/app:latest", "alice/app:latest"),
    ("index.docker.io/alice/app", "docker.io/alice/app:latest", "alice/app:latest"),
    ("alice/team/app", "docker.io/alice/team/app:latest", "alice/team/app:latest"),
    ("library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"),
    (
        "registry-1.docker.io/alice/app",
        "registry-1.docker.io/alice/app:latest",
        "registry-1.docker.io/alice/app:latest",
    ),
    # The first component is a registry only with '.', ':', localhost or uppercase
    ("test.com:5000", "docker.io/library/test.com:5000", "test.com:5000"),
    ("test.com", "docker.io/library/test.com:latest", "test.com:latest"),
    ("test.com/app", "test.com/app:latest", "test.com/app:latest"),
    ("test.com:5000/app", "test.com:5000/app:latest", "test.com:5000/app:latest"),
    ("test:5000/app", "test:5000/app:latest", "test:5000/app:latest"),
    ("localhost", "docker.io/library/localhost:latest", "localhost:latest"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("localhost:5000/app:1", "localhost:5000/app:1", "localhost:5000/app:1"),
    ("Foo/app", "Foo/app:latest", "Foo/app:latest"),
    (
        "REGISTRY.EXAMPLE.COM/app",
        "REGISTRY.EXAMPLE.COM/app:latest",
        "REGISTRY.EXAMPLE.COM/app:latest",
    ),
    ("foo/app", "docker.io/foo/app:latest", "foo/app:latest"),
    ("foo_bar/app", "docker.io/foo_bar/app:latest", "foo_bar/app:latest"),
    ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app:latest"),
    ("127.0.0.1/app", "127.0.0.1/app:latest", "127.0.0.1/app:latest"),
    ("[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"),
    ("[::1]/app:t", "[::1]/app:t", "[::1]/app:t"),
    (
        "[2001:db8::1]:443/ns/app",
        "[2001:db8::1]:443/ns/app:latest",
        "[2001:db8::1]:443/ns/app:latest",
    ),
    ("[fe80::1]/app", "[fe80::1]/app:latest", "[fe80::1]/app:latest"),
    (
        "my-registry.example.com/team/app",
        "my-registry.example.com/team/app:latest",
        "my-registry.example.com/team/app:latest",
    ),
    (
        "a.b.c.d.example/x/y/z/app",
        "a.b.c.d.example/x/y/z/app:latest",
        "a.b.c.d.example/x/y/z/app:latest",
    ),
    (
        "xn--bcher-kva.example/app",
        "xn--bcher-kva.example/app:latest",
        "xn--bcher-kva.example/app:latest",
    ),
    # The article's names
    (
        "registry.example.com/team/myapp:1.4.0",
        "registry.example.com/team/myapp:1.4.0",
        "registry.example.com/team/myapp:1.4.0",
    ),
    (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp:1.4.0",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp:1.4.0",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp:1.4.0",
    ),
    (
        "us-central1-docker.pkg.dev/my-project/my-repo/myapp:1.4.0",
        "us-central1-docker.pkg.dev/my-project/my-repo/myapp:1.4.0",
        "us-central1-docker.pkg.dev/my-project/my-repo/myapp:1.4.0",
    ),
    (
        "myregistry.azurecr.io/myapp:1.4.0",
        "myregistry.azurecr.io/myapp:1.4.0",
        "myregistry.azurecr.io/myapp:1.4.0",
    ),
    # Separators in path components
    ("a.b/c", "a.b/c:latest", "a.b/c:latest"),
    ("a/b.c", "docker.io/a/b.c:latest", "a/b.c:latest"),
    ("a/b_c", "docker.io/a/b_c:latest", "a/b_c:latest"),
    ("a/b__c", "docker.io/a/b__c:latest", "a/b__c:latest"),
    ("a/b-c", "docker.io/a/b-c:latest", "a/b-c:latest"),
    ("a/b---c", "docker.io/a/b---c:latest", "a/b---c:latest"),
    ("a/0", "docker.io/a/0:latest", "a/0:latest"),
    ("0/1", "docker.io/0/1:latest", "0/1:latest"),
    # Tags
    ("app:Latest", "docker.io/library/app:Latest", "app:Latest"),
    ("app:_x", "docker.io/library/app:_x", "app:_x"),
    ("app:v1.0-rc.1_b", "docker.io/library/app:v1.0-rc.1_b", "app:v1.0-rc.1_b"),
    ("app:" + "t" * 128, "docker.io/library/app:" + "t" * 128, "app:" + "t" * 128),
    ("app:5000", "docker.io/library/app:5000", "app:5000"),
    ("localhost:5000/app:5000", "localhost:5000/app:5000", "localhost:5000/app:5000"),
    # Digests
    (f"app@{D64}", f"docker.io/library/app@{D64}", f"app@{D64}"),
    (f"app:1@{D64}", f"docker.io/library/app:1@{D64}", f"app:1@{D64}"),
    (f"reg.io/app@{D64B}", f"reg.io/app@{D64B}", f"reg.io/app@{D64B}"),
    (f"reg.io:5000/a/b:c@{D64}", f"reg.io:5000/a/b:c@{D64}", f"reg.io:5000/a/b:c@{D64}"),
    (f"app@{D128}", f"docker.io/library/app@{D128}", f"app@{D128}"),
    # Length limits: a 255-character repository path is fine
    ("a/" + "b" * 253, "docker.io/a/" + "b" * 253 + ":latest", "a/" + "b" * 253 + ":latest"),
]

# (input, fragment of the reason)
INVALID: list[tuple[str, str]] = [
    ("", "empty"),
    ("UPPER", "must be lowercase"),
    ("myApp:1", "must be lowercase"),
    ("alice/MyApp", "must be lowercase"),
    ("reg.io/Team/app", "must be lowercase"),
    ("docker.io/Alice/app", "must be lowercase"),
    ("a" * 64, "image ID"),
    ("0123456789abcdef" * 4, "image ID"),
    ("app:", "nothing follows ':'"),
    ("app:-x", "tag '-x' is invalid"),
    ("app:.x", "tag '.x' is invalid"),
    ("app:a/b", "registry 'app:a' has a port 'a' that is not a number"),
    ("app:t!", "tag 't!' is invalid"),
    ("app:" + "t" * 129, "tag is 129 characters"),
    ("app@", "nothing follows '@'"),
    ("app@sha256:abc", "digest 'sha256:abc' is invalid"),
    ("app@sha256:" + "A" * 64, "invalid digest"),
    ("app@sha256:" + "a" * 63, "invalid digest"),
    ("app@sha256:" + "a" * 65, "invalid digest"),
    ("app@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("app@" + "a" * 64, "digest"),
    ("app@@sha256:" + "a" * 64, "more than one '@'"),
    ("/app", "empty component"),
    ("app/", "empty component"),
    ("a//b", "empty component"),
    ("reg.io/", "empty"),
    ("reg.io//app", "empty component"),
    ("-app", "path component '-app'"),
    ("app-", "path component 'app-'"),
    ("a/.b", "path component '.b'"),
    ("a/b..c", "path component 'b..c'"),
    ("a/b___c", "path component 'b___c'"),
    ("a/b._c", "path component 'b._c'"),
    ("a b", "whitespace"),
    (" app", "whitespace"),
    ("app\n", "whitespace"),
    ("a/b c:1", "whitespace"),
    ("x:y:z", "':'"),
    ("a:b/c:d", "port 'b'"),
    ("reg.io:port/app", "registry 'reg.io:port' has a port"),
    ("-reg.io/app", "registry '-reg.io'"),
    ("reg-.io/app", "registry 'reg-.io'"),
    ("reg_io.com/app", "registry 'reg_io.com'"),
    ("[::1/app", "registry '[::1'"),
    ("[zz::1]:5000/app", "registry '[zz::1]:5000'"),
    ("ré.io/app", "registry"),
    ("app:tag@", "nothing follows '@'"),
    ("a/" + "b" * 254, "256 characters"),
]


@pytest.mark.parametrize(("text", "canonical", "familiar"), VALID, ids=[v[0][:40] for v in VALID])
def test_valid_names_normalize_like_docker(text: str, canonical: str, familiar: str) -> None:
    ref = Reference.parse(text)
    assert str(ref) == canonical
    assert ref.familiar == familiar
    assert Reference.parse(str(ref)) == ref


@pytest.mark.parametrize(("text", "reason"), INVALID, ids=[i[0][:40] or "<empty>" for i in INVALID])
def test_invalid_names_say_which_rule(text: str, reason: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        Reference.parse(text)
    assert reason in info.value.what, info.value.what
    assert repr(text)[:20].strip("'") in info.value.what or text == ""


def test_table_is_large() -> None:
    assert len(VALID) + len(INVALID) >= 80


def test_fields_of_a_full_reference() -> None:
    ref = Reference.parse(f"reg.example.com:5000/team/app:1.4.0@{D64}")
    assert ref.registry == "reg.example.com:5000"
    assert ref.repository == "team/app"
    assert ref.tag == "1.4.0"
    assert ref.digest == D64
    assert ref.identifier == D64
    assert ref.name == "reg.example.com:5000/team/app"
    assert ref.api_host == "reg.example.com:5000"


def test_digest_only_reference_has_no_default_tag() -> None:
    ref = Reference.parse(f"app@{D64}")
    assert ref.tag is None
    assert ref.identifier == D64


def test_docker_hub_api_host_and_official_namespace() -> None:
    ref = Reference.parse("myapp:1.4.0")
    assert ref.api_host == "registry-1.docker.io"
    assert ref.is_official_image
    assert not Reference.parse("alice/app").is_official_image
    assert not Reference.parse("reg.io/library/app").is_official_image


def test_with_tag_and_digest() -> None:
    ref = Reference.parse("reg.io/app:1")
    assert str(ref.with_tag("2")) == "reg.io/app:2"
    assert str(ref.with_digest(D64)) == f"reg.io/app:1@{D64}"
    with pytest.raises(InvalidReferenceError):
        ref.with_tag("-bad")


@pytest.mark.parametrize(
    ("text", "explicit"),
    [
        ("myapp:1", False),
        ("alice/app", False),
        ("test.com:5000", False),
        ("docker.io/alice/app", True),
        ("localhost/app", True),
        ("reg.io:5000/app", True),
        ("Upper/app", True),
    ],
)
def test_explicit_registry_prefix(text: str, explicit: bool) -> None:
    assert has_explicit_registry(text) is explicit


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("[::1]:5000", True),
        ("registry.example.com", False),
        ("10.0.0.1:5000", False),
        ("[2001:db8::1]:5000", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_registries(registry: str, loopback: bool) -> None:
    assert is_loopback_registry(registry) is loopback
