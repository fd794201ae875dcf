"""`hoist where` and provider recognition: how a user sees where a name goes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hoist.providers import PROVIDERS, detect

HOSTS = [
    (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "ecr",
        {"account": "123456789012", "region": "us-east-1"},
    ),
    ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "ecr", {"region": "us-gov-west-1"}),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "ecr", {"region": "cn-north-1"}),
    ("123456789012.dkr-ecr.eu-west-1.on.aws", "ecr", {"region": "eu-west-1"}),
    ("public.ecr.aws", "ecr-public", {}),
    ("us-central1-docker.pkg.dev", "gar", {"region": "us-central1"}),
    ("europe-docker.pkg.dev", "gar", {"region": "europe"}),
    ("docker.us-central1.rep.pkg.dev", "gar", {"region": "us-central1"}),
    ("gcr.io", "gcr", {}),
    ("eu.gcr.io", "gcr", {}),
    ("myregistry.azurecr.io", "acr", {"registry_name": "myregistry"}),
    ("myregistry.azurecr.cn", "acr", {"registry_name": "myregistry"}),
    ("myregistry.azurecr.us", "acr", {"registry_name": "myregistry"}),
    ("docker.io", "dockerhub", {}),
    ("registry-1.docker.io", "dockerhub", {}),
    ("localhost:5000", "local", {}),
    ("127.0.0.1:5000", "local", {}),
    ("[::1]:5000", "local", {}),
    ("registry.example.com", "generic", {}),
    ("12345.dkr.ecr.us-east-1.amazonaws.com", "generic", {}),  # account IDs are 12 digits
    ("evil-docker.pkg.dev.example.com", "generic", {}),
    ("azurecr.io.example.com", "generic", {}),
]


@pytest.mark.parametrize(("host", "provider", "facts"), HOSTS, ids=[h[0] for h in HOSTS])
def test_provider_is_recognised_from_the_hostname(
    host: str, provider: str, facts: dict[str, str]
) -> None:
    match = detect(host)
    assert match.id == provider
    for key, value in facts.items():
        assert match.facts[key] == value


def test_every_provider_in_the_table_has_a_test_host() -> None:
    tested = {p for _, p, _ in HOSTS}
    assert {p.id for p in PROVIDERS} <= tested


def test_ecr_login_hint_uses_the_region_from_the_hostname() -> None:
    cmd = detect("123456789012.dkr.ecr.eu-west-1.amazonaws.com").login_command()
    assert "--region eu-west-1" in cmd
    assert "--username AWS" in cmd


def hoist(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hoist.cli.main", *args], capture_output=True, text=True, check=False
    )


def test_where_explains_the_articles_mistake() -> None:
    out = hoist("where", "myapp:1.4.0")
    assert out.returncode == 0
    assert out.stdout.startswith(
        "myapp:1.4.0 -> docker.io/library/myapp:1.4.0 "
        "(Docker Hub, official images: only Docker can push here)"
    )
    assert "no registry prefix" in out.stdout


def test_where_json_has_one_object_per_name_and_exits_1_on_any_invalid() -> None:
    out = hoist(
        "where",
        "--json",
        "registry.example.com/team/myapp:1.4.0",
        "Bad/Name:x",
        "myregistry.azurecr.io/app",
    )
    assert out.returncode == 1
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["input"] for r in rows] == [
        "registry.example.com/team/myapp:1.4.0",
        "Bad/Name:x",
        "myregistry.azurecr.io/app",
    ]
    first = rows[0]
    assert {
        k: first[k]
        for k in (
            "canonical",
            "registry",
            "repository",
            "tag",
            "digest",
            "familiar",
            "provider",
            "error",
        )
    } == {
        "canonical": "registry.example.com/team/myapp:1.4.0",
        "registry": "registry.example.com",
        "repository": "team/myapp",
        "tag": "1.4.0",
        "digest": None,
        "familiar": "registry.example.com/team/myapp:1.4.0",
        "provider": "generic",
        "error": None,
    }
    assert rows[1]["canonical"] is None
    assert "must be lowercase" in rows[1]["error"]
    assert rows[2]["provider"] == "acr"
    assert rows[2]["tag"] == "latest"


def test_where_invalid_name_goes_to_stderr_with_reason() -> None:
    out = hoist("where", "registry.example.com/Team/app")
    assert out.returncode == 1
    assert "must be lowercase" in out.stderr
    assert "fix: use 'registry.example.com/team/app'" in out.stderr
    assert "Traceback" not in out.stderr


def test_where_warns_about_registry_without_slash() -> None:
    out = hoist("where", "test.com:5000")
    assert out.returncode == 0
    assert "docker.io/library/test.com:5000" in out.stdout
    assert "did you mean test.com:5000/IMAGE" in out.stdout


def test_every_command_has_help_with_an_example() -> None:
    from hoist.cli.main import COMMANDS

    for name, (_module, _summary, example) in COMMANDS.items():
        assert example.startswith("hoist "), name
    out = hoist("where", "--help")
    assert out.returncode == 0
    assert "example:" in out.stdout
    assert "hoist where myapp:1.4.0" in out.stdout


def test_local_registry_route_says_loopback() -> None:
    out = hoist("where", "127.0.0.1:5000/team/app:1")
    assert out.returncode == 0
    assert out.stdout.strip() == (
        "127.0.0.1:5000/team/app:1 -> 127.0.0.1:5000/team/app:1 "
        "(a registry on this machine; loopback, so plain HTTP is allowed)"
    )
