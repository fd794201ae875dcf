"""Request parsing: ranges, pagination, names and scopes, checked against their definitions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoist.server import params
from hoist.server.auth.access import AccessPolicy, Scope, parse_rules
from hoist.server.errors import APIError


@given(size=st.integers(1, 10_000), a=st.integers(0, 12_000), b=st.integers(0, 12_000))
def test_byte_range_matches_rfc_9110(size: int, a: int, b: int) -> None:
    header = f"bytes={a}-{b}"
    if a > b or a >= size:
        with pytest.raises(APIError) as err:
            params.byte_range(header, size)
        assert err.value.status == 416
        assert err.value.headers["Content-Range"] == f"bytes */{size}"
    else:
        assert params.byte_range(header, size) == (a, min(b, size - 1))


@given(size=st.integers(1, 10_000), n=st.integers(1, 12_000))
def test_suffix_range(size: int, n: int) -> None:
    assert params.byte_range(f"bytes=-{n}", size) == (max(0, size - n), size - 1)


@given(start=st.integers(0, 10**9), length=st.integers(1, 10**9))
def test_content_range_forms(start: int, length: int) -> None:
    end = start + length - 1
    for header in (f"{start}-{end}", f"bytes={start}-{end}", f"bytes {start}-{end}/*"):
        assert params.content_range(header) == (start, end)


@pytest.mark.parametrize("header", ["", "5", "a-b", "10-5", "-1-5", "0--1"])
def test_bad_content_ranges(header: str) -> None:
    with pytest.raises(APIError) as err:
        params.content_range(header)
    assert err.value.code == "RANGE_INVALID" and err.value.status == 416


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", " 3"])
def test_bad_page_sizes(value: str) -> None:
    with pytest.raises(APIError) as err:
        params.page_size(value, None)
    assert err.value.code == "PAGINATION_NUMBER_INVALID"


def test_page_size_is_capped() -> None:
    assert params.page_size("99999999", None) == params.MAX_PAGE
    assert params.page_size(None, 7) == 7


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "repository:team/app:pull,push",
            Scope("repository", "team/app", frozenset({"pull", "push"})),
        ),
        ("registry:catalog:*", Scope("registry", "catalog", frozenset({"*"}))),
        (
            "repository:host:5000/app:pull",
            Scope("repository", "host:5000/app", frozenset({"pull"})),
        ),
        ("nonsense", None),
        ("repository::pull", None),
    ],
)
def test_scope_parse(text: str, expected: Scope | None) -> None:
    assert Scope.parse(text) == expected


def test_access_rule_globs_and_user_substitution() -> None:
    rules = parse_rules(
        [
            {"users": ["*"], "repositories": ["${user}/**"], "actions": ["*"]},
            {"users": ["ci"], "repositories": ["team/*"], "actions": ["push"]},
        ]
    )
    policy = AccessPolicy(rules, anonymous_pull=False)
    assert policy.allowed("alice", "alice/deep/app") == {"pull", "push", "delete"}
    assert policy.allowed("alice", "bob/app") == frozenset()
    assert policy.allowed("ci", "team/app") == {"pull", "push"}  # push implies pull
    assert policy.allowed("ci", "team/sub/app") == frozenset()  # * stays in one component
    assert policy.allowed("anonymous", "anonymous/app") == frozenset()
    granted = policy.grant("ci", [Scope("repository", "team/app", frozenset({"push", "delete"}))])
    assert granted == [Scope("repository", "team/app", frozenset({"push"}))]
