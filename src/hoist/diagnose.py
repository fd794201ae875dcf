"""Failure -> what / why / fix, driven by tables of rules.

A registry says `denied: requested access to the resource is denied`; what the user needs is
what that means *for them*: which credentials were sent and from where, where the name routed,
and the command that fixes it. That knowledge is data: `RULES` (registry answers) and
`NETWORK_RULES` (connection failures) are ordered tables, one row per rule, first match wins, so
a reader can scan them and a test can walk them. The only logic is matching and formatting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from hoist.auth.keychain import Credential
from hoist.errors import AuthError, HoistError, NetworkError, NotFoundError, RegistryError
from hoist.providers import PROVIDERS

#: Token lifetimes by provider id, in seconds (the article's facts: ECR 12 h, GAR ~1 h, ACR 3 h),
#: taken from the provider table so the fact lives in one place.
TOKEN_LIFETIMES: Final[dict[str, float]] = {
    p.id: p.token_lifetime for p in PROVIDERS if p.token_lifetime is not None
}

#: The code hoist gives a request it refused to send (the registry was never asked).
NOT_ATTEMPTED: Final = "NOT_ATTEMPTED"

_AUTH_CODES: Final = frozenset({"UNAUTHORIZED", "DENIED", "INSUFFICIENT_SCOPE"})


@dataclass(frozen=True)
class Situation:
    """Everything known when a registry request failed."""

    operation: str  # login, push, pull, copy, inspect, tags, mount, ping
    registry: str  # as the user named it (docker.io, 127.0.0.1:5000)
    repository: str | None = None
    reference: str | None = None  # the full name being worked on, if any
    status: int | None = None
    code: str | None = None  # the registry's error code (DENIED, NAME_UNKNOWN...)
    message: str | None = None  # the registry's own words
    credential: Credential | None = None  # None: nothing was sent (anonymous)
    provider: str = "generic"
    login_command: str = ""
    facts: dict[str, str] = field(default_factory=dict)  # region, account... from the hostname

    def credential_text(self) -> str:
        if self.credential is None:
            return "no credentials were sent (none stored for this registry)"
        return "used " + self.credential.describe(self.registry)

    def credential_age(self) -> float | None:
        c = self.credential
        if c is None or c.stored_at is None:
            return None
        return time.time() - c.stored_at

    def said(self) -> str:
        """What the registry said, quoted as it said it."""
        parts = [p for p in (self.code.lower() if self.code else None, self.message) if p]
        if parts:
            return ": ".join(parts)
        return f"HTTP {self.status}" if self.status else "an error"

    def values(self) -> dict[str, str]:
        repo = self.repository or ""
        short = repo.rsplit("/", 1)[-1] if repo else "IMAGE"
        return {
            "registry": self.registry,
            "repository": repo or "(none)",
            "short": short,
            "reference": self.reference or (f"{self.registry}/{repo}" if repo else self.registry),
            "said": self.said(),
            "status": str(self.status or ""),
            "creds": self.credential_text(),
            "login": self.login_command or f"hoist login {self.registry}",
            "region": self.facts.get("region", "REGION"),
            "operation": self.operation,
            "lifetime": _duration(TOKEN_LIFETIMES.get(self.provider, 0)),
        }


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        h = seconds / 3600
        return f"{h:g} hour{'s' if h != 1 else ''}"
    return f"{int(seconds // 60)} minutes"


Predicate = Callable[[Situation], bool]


def _code(*codes: str) -> Predicate:
    wanted = frozenset(codes)
    return lambda s: s.code in wanted


def _status(*statuses: int) -> Predicate:
    wanted = frozenset(statuses)
    return lambda s: s.status in wanted


def _auth_failure(s: Situation) -> bool:
    return s.code in _AUTH_CODES or s.status in (401, 403)


def _unauthorized(s: Situation) -> bool:
    return s.code == "UNAUTHORIZED" or (s.status == 401 and s.code is None)


def _denied(s: Situation) -> bool:
    return s.code in ("DENIED", "INSUFFICIENT_SCOPE") or (s.status == 403 and s.code is None)


def _provider(*ids: str) -> Predicate:
    wanted = frozenset(ids)
    return lambda s: s.provider in wanted


def _op(*ops: str) -> Predicate:
    wanted = frozenset(ops)
    return lambda s: s.operation in wanted


def _official(s: Situation) -> bool:
    return s.provider == "dockerhub" and (s.repository or "").startswith("library/")


def _expired_by_age(s: Situation) -> bool:
    lifetime = TOKEN_LIFETIMES.get(s.provider)
    age = s.credential_age()
    expired_at = s.credential.expires_at if s.credential else None
    if expired_at is not None and expired_at < time.time():
        return True
    return lifetime is not None and age is not None and age > lifetime


def _says_expired(s: Situation) -> bool:
    return "expired" in (s.message or "").lower()


def _all(*preds: Predicate) -> Predicate:
    return lambda s: all(p(s) for p in preds)


def _no_credential(s: Situation) -> bool:
    return s.credential is None


def _has_credential(s: Situation) -> bool:
    return s.credential is not None


@dataclass(frozen=True)
class Rule:
    """One piece of knowledge: when it applies, and the what/why/fix it produces."""

    name: str
    when: Predicate
    error: type[HoistError]
    what: str
    why: str
    fix: str


#: Registry answers, first match wins. Templates use the keys of `Situation.values()`.
RULES: Final[tuple[Rule, ...]] = (
    Rule(
        # hoist's own refusal, before any traffic: the article's first mistake
        "official-images-not-attempted",
        _all(_code(NOT_ATTEMPTED), _official),
        AuthError,
        "not pushing {reference}: it routes to Docker Hub's official images "
        "({registry}/{repository})",
        "a name without a registry prefix means Docker Hub, and docker.io/library/... is "
        "Docker's official-images namespace: only Docker can push there, whichever registry you "
        "logged in to; nothing was sent",
        "put your registry in the name, e.g. hoist tag {short}:TAG REGISTRY/TEAM/{short}:TAG "
        "and push that (hoist where NAME shows where a name routes)",
    ),
    Rule(
        "official-images",
        _all(_op("push", "copy", "mount"), _auth_failure, _official),
        AuthError,
        "Docker Hub refused the push to {reference}: {said}",
        "{reference} is in Docker's official-images namespace (docker.io/library/...): a name "
        "without a registry prefix routes there, and only Docker may push to it; {creds}",
        "put your registry in the name, e.g. hoist tag {short}:TAG REGISTRY/TEAM/{short}:TAG "
        "and push that (hoist where NAME shows where a name routes)",
    ),
    Rule(
        "dockerhub-pull-limit",
        _all(_provider("dockerhub"), lambda s: s.code == "TOOMANYREQUESTS" or s.status == 429),
        RegistryError,
        "Docker Hub refused the pull of {reference}: {said}",
        "Docker Hub allows 100 pulls per 6 hours per IP address without an account and 200 "
        "for a free account (a multi-platform pull counts once per platform; a shared CI runner "
        "shares one allowance); {creds}",
        "log in to count pulls against your account: hoist login; check what is left with "
        "hoist ratelimit; or pull through a mirror",
    ),
    Rule(
        "rate-limited",
        lambda s: s.code == "TOOMANYREQUESTS" or s.status == 429,
        RegistryError,
        "{registry} is rate-limiting requests: {said}",
        "the registry kept answering 429 Too Many Requests after hoist backed off and retried",
        "wait a few minutes and try again, or lower parallelism with --jobs 1",
    ),
    Rule(
        "ecr-repository-missing",
        _all(
            _provider("ecr"),
            lambda s: s.code == "NAME_UNKNOWN" or s.status == 404,
            _op("push", "copy", "mount"),
        ),
        NotFoundError,
        "ECR has no repository {repository} in {registry}: {said}",
        "ECR does not create repositories on push (Docker Hub does); the repository must exist "
        "first",
        "aws ecr create-repository --repository-name {repository} --region {region}",
    ),
    Rule(
        "gcr-shut-down",
        _all(_provider("gcr"), lambda s: (s.status or 0) >= 400),
        NotFoundError,
        "{registry} answered {said} for {reference}",
        "Google Container Registry (gcr.io) was shut down on 2025-03-18 and reads stopped on "
        "2025-06-03; gcr.io names now only work where they were moved to Artifact Registry",
        "use an Artifact Registry name: LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/{short}, "
        "after gcloud auth configure-docker LOCATION-docker.pkg.dev",
    ),
    Rule(
        "provider-token-expired",
        _all(_auth_failure, _provider(*TOKEN_LIFETIMES), _has_credential, _expired_by_age),
        AuthError,
        "{registry} rejected the token: {said}",
        "{registry} tokens last {lifetime} and this one is older: {creds}",
        "get a fresh token: {login}",
    ),
    Rule(
        "token-expired",
        _all(_auth_failure, _has_credential, _says_expired),
        AuthError,
        "{registry} says the credentials have expired: {said}",
        "{creds}",
        "log in again: {login}",
    ),
    Rule(
        "login-rejected",
        _all(_op("login"), _auth_failure),
        AuthError,
        "login to {registry} failed: {said}",
        "the registry rejected this username and password (nothing was saved)",
        "check the username and password (for tokens, that the token is current) and retry: "
        "{login}",
    ),
    Rule(
        "not-logged-in",
        _all(_auth_failure, _no_credential),
        AuthError,
        "{registry} requires authentication for {reference}: {said}",
        "{creds}",
        "log in first: {login}",
    ),
    Rule(
        "credentials-rejected",
        _all(_unauthorized, _has_credential),
        AuthError,
        "{registry} rejected the credentials for {reference}: {said}",
        "{creds}; the password or token is wrong, revoked or expired",
        "log in again: {login}",
    ),
    Rule(
        "dockerhub-push-denied",
        _all(_provider("dockerhub"), _denied, _op("push", "copy", "mount")),
        AuthError,
        "Docker Hub denied the push to {reference}: {said}",
        "{creds}; on Docker Hub the first path component must be your user or an organisation "
        "you can push to, and a free account may own only one private repository",
        "push to a namespace you own (docker.io/YOUR_USER/{short}), make the repository "
        "public, or delete your other private repository",
    ),
    Rule(
        "access-denied",
        _denied,
        AuthError,
        "{registry} denied {operation} access to {repository}: {said}",
        "{creds}; they were accepted but do not grant {operation} on this repository "
        "(or the repository belongs to someone else)",
        "ask for access to {repository}, or log in as a user who has it: {login}",
    ),
    Rule(
        "repository-missing",
        _code("NAME_UNKNOWN"),
        NotFoundError,
        "repository {repository} does not exist on {registry}: {said}",
        "the registry knows no repository of that name (check the spelling and the registry "
        "prefix; hoist where NAME shows where a name routes)",
        "check the name, or push the repository first",
    ),
    Rule(
        "manifest-missing",
        _code("MANIFEST_UNKNOWN"),
        NotFoundError,
        "{reference} not found: {said}",
        "the registry has no manifest with that tag or digest in {repository} (or no such "
        "repository at all)",
        "list the tags that exist: hoist tags {registry}/{repository}",
    ),
    Rule(
        "manifest-blob-missing",
        _code("MANIFEST_BLOB_UNKNOWN"),
        RegistryError,
        "{registry} refused the manifest for {reference}: {said}",
        "a layer or config the manifest references is not in {repository} (an upload was lost, "
        "or the registry garbage-collected it in between)",
        "push again; hoist uploads missing blobs before the manifest",
    ),
    Rule(
        "blob-missing",
        _code("BLOB_UNKNOWN"),
        NotFoundError,
        "a blob of {reference} is missing on {registry}: {said}",
        "the manifest names content the registry does not have (deleted or garbage-collected)",
        "push the image again from a complete copy",
    ),
    Rule(
        "upload-lost",
        _code("BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID", "RANGE_INVALID"),
        RegistryError,
        "{registry} lost the upload session for {repository}: {said}",
        "upload sessions expire or are dropped when a registry restarts or a load balancer "
        "switches nodes mid-upload",
        "push again; layers already uploaded are skipped",
    ),
    Rule(
        "content-corrupt",
        _code("DIGEST_INVALID", "SIZE_INVALID"),
        RegistryError,
        "{registry} rejected uploaded content for {reference}: {said}",
        "what arrived does not match its digest or size: it was corrupted in transit or by a proxy",
        "push again; if it persists, bypass the proxy (NO_PROXY={registry})",
    ),
    Rule(
        "manifest-invalid",
        _code("MANIFEST_INVALID", "MANIFEST_UNVERIFIED"),
        RegistryError,
        "{registry} rejected the manifest of {reference}: {said}",
        "the registry does not accept this manifest (an unsupported media type, or a schema it "
        "validates more strictly)",
        "inspect it with hoist inspect --raw; registries that predate OCI need Docker media types",
    ),
    Rule(
        "name-invalid",
        _code("NAME_INVALID", "TAG_INVALID"),
        RegistryError,
        "{registry} rejected the name {reference}: {said}",
        "the registry's naming rules are stricter than the reference grammar (depth of the "
        "path, characters, reserved names)",
        "choose a name the registry accepts (see its documentation)",
    ),
    Rule(
        "unsupported",
        _code("UNSUPPORTED"),
        RegistryError,
        "{registry} does not support this operation on {repository}: {said}",
        "the registry refused a feature hoist used (a media type, cross-repository mount, "
        "deletion...)",
        "check the registry's documentation for what it supports",
    ),
    Rule(
        "not-found",
        _status(404),
        NotFoundError,
        "{reference} was not found on {registry} ({said})",
        "the registry answered 404 Not Found",
        "check the name and tag: hoist tags {registry}/{repository}",
    ),
    Rule(
        "server-error",
        lambda s: (s.status or 0) >= 500,
        RegistryError,
        "{registry} kept failing with a server error: {said}",
        "the registry answered {status} to every attempt; the problem is on its side",
        "try again later, or ask the registry's operator (its logs will say why)",
    ),
    Rule(
        "unexpected",
        lambda s: True,
        RegistryError,
        "{registry} answered {said} to {operation} of {reference}",
        "hoist did not expect that answer at this step",
        "retry; if it persists, report it with the output of the failing command",
    ),
)


def explain(situation: Situation) -> HoistError:
    """The error for a failed registry request: the first rule that matches."""
    for rule in RULES:
        if rule.when(situation):
            return _build(rule, situation)
    raise AssertionError("the last rule matches everything")  # pragma: no cover


def _build(rule: Rule, situation: Situation) -> HoistError:
    v = situation.values()
    err = rule.error(
        rule.what.format(**v),
        why=rule.why.format(**v),
        fix=rule.fix.format(**v),
        details={
            "rule": rule.name,
            "registry": situation.registry,
            "status": situation.status,
            "code": situation.code,
            "message": situation.message,
            "credentials": situation.credential.source if situation.credential else None,
        },
    )
    return err


# --- connection failures -------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkRule:
    """A connection failure, recognised by words in the low-level error."""

    name: str
    needles: tuple[str, ...]
    what: str
    why: str
    fix: str


NETWORK_RULES: Final[tuple[NetworkRule, ...]] = (
    NetworkRule(
        "tls-untrusted",
        ("certificate verify failed", "self-signed", "unable to get local issuer"),
        "cannot verify the TLS certificate of {registry}",
        "its certificate is not signed by an authority this machine trusts ({detail})",
        "give hoist the registry's CA: --ca-cert CA.pem, or put it in "
        "/etc/docker/certs.d/{registry}/ca.crt (as for docker)",
    ),
    NetworkRule(
        "tls-hostname",
        ("hostname mismatch", "doesn't match", "not valid for"),
        "the TLS certificate of {registry} is for another name",
        "the certificate does not list {registry} ({detail})",
        "use the hostname the certificate was issued for",
    ),
    NetworkRule(
        "tls-plain-http",
        ("wrong version number", "record layer failure", "packet length too long"),
        "{registry} does not speak HTTPS",
        "the server answered the TLS handshake with plain HTTP; hoist uses plain HTTP only for "
        "registries on this machine or ones listed as insecure",
        "if you trust the network: hoist push --insecure ..., or add it to insecure-registries "
        "in {config}",
    ),
    NetworkRule(
        "dns",
        (
            "name or service not known",
            "nodename nor servname",
            "getaddrinfo failed",
            "temporary failure in name resolution",
            "no address associated",
        ),
        "cannot resolve the registry host {registry}",
        "DNS has no address for it: the name is misspelt, or this machine is offline",
        "check the registry part of the name (hoist where NAME), and the network",
    ),
    NetworkRule(
        "refused",
        ("connection refused", "errno 111", "actively refused"),
        "nothing is listening at {registry}",
        "the connection was refused: the registry is down, or the port is wrong",
        "check the host and port, and that the registry is running",
    ),
    NetworkRule(
        "timeout",
        ("timed out", "timeout"),
        "{registry} did not answer in time",
        "the connection or a read timed out after several attempts ({detail})",
        "check the network or proxy (HTTPS_PROXY / NO_PROXY), then retry",
    ),
    NetworkRule(
        "dropped",
        (
            "reset by peer",
            "server disconnected",
            "connection closed",
            "broken pipe",
            "incomplete",
            "remoteprotocolerror",
            "peer closed",
        ),
        "the connection to {registry} kept breaking",
        "the connection dropped in the middle of a request on every attempt ({detail})",
        "retry; if a proxy sits in between, try without it (NO_PROXY={registry})",
    ),
    NetworkRule(
        "other",
        ("",),
        "cannot talk to {registry}",
        "{detail}",
        "check the registry address and the network, then retry",
    ),
)


def explain_network(registry: str, exc: BaseException, *, config_path: str = "") -> NetworkError:
    """The error for a connection-level failure (after retries)."""
    detail = str(exc) or type(exc).__name__
    text = f"{type(exc).__name__} {detail}".lower()
    for rule in NETWORK_RULES:
        if any(n in text for n in rule.needles):
            values = {"registry": registry, "detail": detail, "config": config_path or "config"}
            return NetworkError(
                rule.what.format(**values),
                why=rule.why.format(**values),
                fix=rule.fix.format(**values),
                details={"rule": rule.name, "registry": registry, "error": detail},
            )
    raise AssertionError("the last network rule matches everything")  # pragma: no cover
