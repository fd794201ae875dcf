"""Pure parts of the client: challenges, token answers, Retry-After, scopes, diagnosis rules,
transport strings, the tag/endpoint rules."""

from __future__ import annotations

import time

import httpx
import pytest

from hoist.auth.keychain import Credential
from hoist.diagnose import NETWORK_RULES, RULES, Situation, explain, explain_network
from hoist.errors import AuthError, NotFoundError, RegistryError
from hoist.registry.challenge import parse_challenges, pick, repository_scope
from hoist.registry.client import _next_link, parse_error_body
from hoist.registry.retry import RetryPolicy, parse_retry_after
from hoist.registry.tls import TransportOptions
from hoist.registry.tokens import DEFAULT_EXPIRES_IN, parse_token_response
from hoist.transports.resolve import parse_spec


def test_bearer_challenge_with_several_scopes() -> None:
    [c] = parse_challenges(
        [
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:a/b:pull repository:c/d:pull,push"'
        ]
    )
    assert c.scheme == "bearer" and c.realm == "https://auth.docker.io/token"
    assert c.service == "registry.docker.io"
    assert c.scopes == ["repository:a/b:pull", "repository:c/d:pull,push"]


def test_several_challenges_and_escapes() -> None:
    cs = parse_challenges(['Basic realm="R", Bearer realm="x\\"y",service=svc', "Weird"])
    assert [c.scheme for c in cs] == ["basic", "bearer", "weird"]
    assert cs[1].realm == 'x"y' and cs[1].service == "svc"
    chosen = pick(cs)
    assert chosen is not None and chosen.scheme == "bearer"
    assert pick(parse_challenges(["Negotiate"])) is None


def test_scope_order_is_stable() -> None:
    assert repository_scope("a/b", ["push", "pull", "push"]) == "repository:a/b:pull,push"


def test_token_response_defaults_and_fields() -> None:
    now = time.time()
    t = parse_token_response(httpx.Response(200, json={"access_token": "A"}), now)
    assert t.value == "A" and abs(t.expires_at - (now + DEFAULT_EXPIRES_IN)) < 1
    t2 = parse_token_response(
        httpx.Response(200, json={"token": "B", "expires_in": 300, "refresh_token": "R"}), now
    )
    assert t2.refresh_token == "R" and t2.fresh(now)
    assert not t2.fresh(now + 299)


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10
    assert parse_retry_after("soon") is None
    policy = RetryPolicy(base=1, cap=8)
    assert 4 <= policy.backoff(4) <= 8
    assert policy.delay(1, httpx.Response(429, headers={"Retry-After": "3"})) == 3


def test_error_body_parsing() -> None:
    r = httpx.Response(401, json={"errors": [{"code": "unauthorized", "message": "nope"}]})
    assert parse_error_body(r) == ("UNAUTHORIZED", "nope")
    assert parse_error_body(httpx.Response(502, text="<html>bad gateway</html>")) == (None, None)
    assert parse_error_body(httpx.Response(401, json={"details": "bad pw"})) == (None, "bad pw")
    assert _next_link('</v2/a/tags/list?last=x&n=2>; rel="next"') == "/v2/a/tags/list?last=x&n=2"


def test_endpoints_plain_http_only_where_allowed() -> None:
    opts = TransportOptions()
    assert [e.base_url for e in opts.endpoints("registry.example.com")] == [
        "https://registry.example.com"
    ]
    assert [e.base_url for e in opts.endpoints("127.0.0.1:5000")] == [
        "http://127.0.0.1:5000",
        "https://127.0.0.1:5000",
    ]
    insecure = TransportOptions(insecure=True).endpoints("registry.example.com")
    assert [e.verify() for e in insecure] == [False, False]


def test_insecure_registries_from_config(env: object, tmp_path: object) -> None:
    import os
    from pathlib import Path

    cfg = Path(os.environ["HOIST_CONFIG_DIR"]) / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('insecure-registries = ["reg.internal:5000"]\n')
    eps = TransportOptions().endpoints("reg.internal:5000")
    assert eps[-1].base_url == "http://reg.internal:5000"


def test_transport_strings() -> None:
    assert parse_spec("oci:/tmp/x:v1").tag == "v1"
    assert parse_spec("oci:/tmp/x").tag is None
    s = parse_spec("docker-archive:/tmp/a.tar:team/app:2")
    assert s.reference is not None and s.reference.tag == "2"
    r = parse_spec("docker://reg.io/a/b:3")
    assert r.transport == "registry" and r.reference is not None and r.reference.tag == "3"


# --- the diagnosis table: every rule is reachable, and the article's cases read right -------

SAMPLES: dict[str, Situation] = {
    "official-images-not-attempted": Situation(
        "push", "docker.io", "library/myapp", code="NOT_ATTEMPTED", provider="dockerhub"
    ),
    "official-images": Situation(
        "push", "docker.io", "library/myapp", code="DENIED", provider="dockerhub"
    ),
    "dockerhub-pull-limit": Situation(
        "pull",
        "docker.io",
        "library/ubuntu",
        status=429,
        code="TOOMANYREQUESTS",
        provider="dockerhub",
    ),
    "rate-limited": Situation("pull", "r.io", "a/b", status=429),
    "ecr-repository-missing": Situation(
        "push",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "myapp",
        status=404,
        code="NAME_UNKNOWN",
        provider="ecr",
        facts={"region": "us-east-1"},
    ),
    "gcr-shut-down": Situation("pull", "gcr.io", "p/app", status=404, provider="gcr"),
    "provider-token-expired": Situation(
        "push",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "myapp",
        status=401,
        code="UNAUTHORIZED",
        provider="ecr",
        credential=Credential("AWS", "t", source="x", stored_at=time.time() - 13 * 3600),
    ),
    "token-expired": Situation(
        "push",
        "r.io",
        "a/b",
        status=401,
        code="UNAUTHORIZED",
        message="token has expired",
        credential=Credential("u", "p"),
    ),
    "login-rejected": Situation("login", "r.io", status=401, credential=Credential("u", "p")),
    "not-logged-in": Situation("push", "r.io", "a/b", status=401, code="UNAUTHORIZED"),
    "credentials-rejected": Situation(
        "pull", "r.io", "a/b", status=401, code="UNAUTHORIZED", credential=Credential("u", "p")
    ),
    "dockerhub-push-denied": Situation(
        "push",
        "docker.io",
        "alice/app",
        code="DENIED",
        provider="dockerhub",
        credential=Credential("u", "p"),
    ),
    "access-denied": Situation(
        "push", "r.io", "a/b", status=403, code="DENIED", credential=Credential("u", "p")
    ),
    "repository-missing": Situation("pull", "r.io", "a/b", status=404, code="NAME_UNKNOWN"),
    "manifest-missing": Situation("pull", "r.io", "a/b", status=404, code="MANIFEST_UNKNOWN"),
    "manifest-blob-missing": Situation(
        "push", "r.io", "a/b", status=400, code="MANIFEST_BLOB_UNKNOWN"
    ),
    "blob-missing": Situation("pull", "r.io", "a/b", status=404, code="BLOB_UNKNOWN"),
    "upload-lost": Situation("push", "r.io", "a/b", status=404, code="BLOB_UPLOAD_UNKNOWN"),
    "content-corrupt": Situation("push", "r.io", "a/b", status=400, code="DIGEST_INVALID"),
    "manifest-invalid": Situation("push", "r.io", "a/b", status=400, code="MANIFEST_INVALID"),
    "name-invalid": Situation("push", "r.io", "a/b", status=400, code="NAME_INVALID"),
    "unsupported": Situation("push", "r.io", "a/b", status=405, code="UNSUPPORTED"),
    "not-found": Situation("pull", "r.io", "a/b", status=404),
    "server-error": Situation("pull", "r.io", "a/b", status=503),
    "unexpected": Situation("pull", "r.io", "a/b", status=418),
}


@pytest.mark.parametrize("rule", [r.name for r in RULES])
def test_every_rule_has_a_sample_that_selects_it(rule: str) -> None:
    err = explain(SAMPLES[rule])
    assert err.details["rule"] == rule
    assert err.what and err.why and err.fix
    assert "{" not in err.what + (err.why or "") + (err.fix or "")


def test_article_cases_read_right() -> None:
    official = explain(SAMPLES["official-images"])
    assert isinstance(official, AuthError) and "official" in (official.why or "")
    ecr = explain(SAMPLES["ecr-repository-missing"])
    assert isinstance(ecr, NotFoundError)
    assert ecr.fix == "aws ecr create-repository --repository-name myapp --region us-east-1"
    expired = explain(SAMPLES["provider-token-expired"])
    assert "12 hours" in (expired.why or "")
    limit = explain(SAMPLES["dockerhub-pull-limit"])
    assert isinstance(limit, RegistryError) and "100 pulls per 6 hours" in (limit.why or "")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "tls-untrusted"),
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number", "tls-plain-http"),
        ("[Errno -2] Name or service not known", "dns"),
        ("[Errno 111] Connection refused", "refused"),
        ("timed out", "timeout"),
        ("Server disconnected without sending a response.", "dropped"),
        ("something odd", "other"),
    ],
)
def test_network_rules(text: str, rule: str) -> None:
    err = explain_network("r.io", httpx.ConnectError(text))
    assert err.details["rule"] == rule
    assert rule in {r.name for r in NETWORK_RULES}
