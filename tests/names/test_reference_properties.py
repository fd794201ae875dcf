"""Properties of the reference grammar, checked with hypothesis over generated names."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.errors import InvalidReferenceError
from hoist.reference import REFERENCE_RE, REGISTRY_RE, Reference

alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
separator = st.sampled_from([".", "_", "__", "-", "--", "---"])
component = st.builds(
    lambda first, rest: first + "".join(s + a for s, a in rest),
    alnum,
    st.lists(st.tuples(separator, alnum), max_size=2),
)
path = st.lists(component, min_size=1, max_size=4).map("/".join)
domain_label = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
host = st.one_of(
    st.lists(domain_label, min_size=2, max_size=4).map(".".join),
    st.just("localhost"),
    st.builds(lambda a, b: f"127.{a}.{b}.1", st.integers(0, 255), st.integers(0, 255)),
    st.sampled_from(["[::1]", "[2001:db8::1]", "[fe80::a:b]"]),
)
registry = st.builds(
    lambda h, port: h + (f":{port}" if port is not None else ""),
    host,
    st.none() | st.integers(1, 65535),
)
tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
digest = st.from_regex(r"[a-f0-9]{64}", fullmatch=True).map(lambda h: "sha256:" + h)
reference_text = st.builds(
    lambda reg, p, t, d: (
        (f"{reg}/" if reg else "") + p + (f":{t}" if t else "") + (f"@{d}" if d else "")
    ),
    st.none() | registry,
    path,
    st.none() | tag,
    st.none() | digest,
)


@settings(max_examples=300)
@given(reference_text)
def test_parse_str_parse_round_trips(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except InvalidReferenceError:
        # Only documented rules may reject a name built from the grammar: a path that reads
        # as a 64-hex image ID, or a first component with a '.' (so docker reads it as a
        # registry) that is not a valid host name.
        first = text.split("/", 1)[0]
        assert len(text) == 64 or ("." in first and not REGISTRY_RE.match(first))
        return
    again = Reference.parse(str(ref))
    assert again == ref
    assert str(again) == str(ref)


@settings(max_examples=300)
@given(reference_text)
def test_canonical_form_is_stable_and_complete(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except InvalidReferenceError:
        return
    canonical = str(ref)
    assert REFERENCE_RE.match(canonical)
    assert canonical.startswith(ref.registry + "/")
    assert ref.tag is not None or ref.digest is not None
    # The familiar form parses back to the same reference, as docker's does.
    assert Reference.parse(ref.familiar) == ref


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_arbitrary_text_parses_or_raises_the_projects_error(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except InvalidReferenceError as exc:
        assert exc.what.startswith("invalid reference")
        return
    assert Reference.parse(str(ref)) == ref


@settings(max_examples=300)
@given(st.text(alphabet="abc/:@.-_ABC019[]", max_size=40))
def test_grammar_alphabet_never_crashes(text: str) -> None:
    with contextlib.suppress(InvalidReferenceError):
        Reference.parse(text)
