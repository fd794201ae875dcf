"""Registry providers, recognised from the hostname alone.

Which cloud a registry belongs to decides how to authenticate, how long tokens live and what its
errors mean. These are facts, so they live in one table (`PROVIDERS`) that a reader can scan and
a test can walk; `detect()` is the only logic. Per-provider token code (ECR, Artifact Registry,
ACR) lives in sibling modules named for the provider.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from hoist.reference import is_loopback_registry, registry_host


@dataclass(frozen=True)
class Provider:
    """What hoist knows about one kind of registry."""

    id: str
    title: str
    patterns: tuple[re.Pattern[str], ...]
    token_lifetime: float | None = None  # seconds a login token lasts, where it expires
    username: str | None = None  # the fixed login username, where the provider mandates one
    login_hint: str = "hoist login {registry}"
    notes: tuple[str, ...] = field(default_factory=tuple)


def _p(*regexes: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(r, re.IGNORECASE) for r in regexes)


#: Ordered: the first provider whose pattern matches the host (without port) wins.
PROVIDERS: Final[tuple[Provider, ...]] = (
    Provider(
        "ecr",
        "Amazon ECR",
        _p(
            r"^(?P<account>\d{12})\.dkr\.ecr(?P<fips>-fips)?\.(?P<region>[a-z0-9-]+)"
            r"\.(?:amazonaws\.com(?:\.cn)?|on\.aws|sc2s\.sgov\.gov|c2s\.ic\.gov)$",
            r"^(?P<account>\d{12})\.dkr-ecr(?P<fips>-fips)?\.(?P<region>[a-z0-9-]+)\.on\.aws$",
        ),
        token_lifetime=12 * 3600,
        username="AWS",
        login_hint="aws ecr get-login-password --region {region} | "
        "hoist login --username AWS --password-stdin {registry}",
        notes=("the repository must exist before a push (aws ecr create-repository)",),
    ),
    Provider(
        "ecr-public",
        "Amazon ECR Public",
        _p(r"^public\.ecr\.aws$"),
        token_lifetime=12 * 3600,
        username="AWS",
        login_hint="aws ecr-public get-login-password --region us-east-1 | "
        "hoist login --username AWS --password-stdin public.ecr.aws",
    ),
    Provider(
        "gar",
        "Google Artifact Registry",
        _p(
            r"^(?P<region>[a-z0-9-]+)-docker\.pkg\.dev$",
            r"^docker\.(?P<region>[a-z0-9-]+)\.rep\.pkg\.dev$",
        ),
        token_lifetime=3600,
        username="oauth2accesstoken",
        login_hint="gcloud auth configure-docker {registry}",
        notes=("paths are PROJECT/REPOSITORY/IMAGE",),
    ),
    Provider(
        "gcr",
        "Google Container Registry (gcr.io)",
        _p(r"^(?:[a-z0-9-]+\.)?gcr\.io$"),
        token_lifetime=3600,
        username="oauth2accesstoken",
        login_hint="gcloud auth configure-docker {registry}",
        notes=(
            "Container Registry was shut down on 2025-03-18 (reads stopped 2025-06-03); gcr.io "
            "now resolves to Artifact Registry-backed repositories: new work should target "
            "LOCATION-docker.pkg.dev",
        ),
    ),
    Provider(
        "acr",
        "Azure Container Registry",
        _p(r"^(?P<registry_name>[a-z0-9]+)\.azurecr\.(?:io|cn|us)$"),
        token_lifetime=3 * 3600,
        username="00000000-0000-0000-0000-000000000000",
        login_hint="az acr login --name {registry_name}  "
        "(no daemon: az acr login --name {registry_name} --expose-token)",
    ),
    Provider(
        "dockerhub",
        "Docker Hub",
        _p(r"^(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)$"),
        login_hint="hoist login",
        notes=(
            "pull limits: 100 pulls per 6 hours per IP unauthenticated, 200 for a free account",
            "a free account may have only one private repository",
        ),
    ),
)

LOCAL: Final = Provider(
    "local", "local registry on this machine", (), login_hint="hoist login {registry}"
)
GENERIC: Final = Provider("generic", "registry", (), login_hint="hoist login {registry}")


@dataclass(frozen=True)
class ProviderMatch:
    """A provider recognised for a registry, with what the hostname tells (region, account...)."""

    provider: Provider
    registry: str
    facts: dict[str, str]

    @property
    def id(self) -> str:
        return self.provider.id

    def login_command(self) -> str:
        """The command that logs in to this registry, filled in from the hostname."""
        values = {"registry": self.registry, "region": "REGION", "registry_name": "NAME"}
        values.update(self.facts)
        return self.provider.login_hint.format(**values)


def detect(registry: str) -> ProviderMatch:
    """Recognise the provider of `registry` (a host with optional port) from its name alone."""
    host = registry_host(registry)
    for provider in PROVIDERS:
        for pattern in provider.patterns:
            m = pattern.match(host)
            if m:
                facts = {k: v for k, v in m.groupdict().items() if v}
                return ProviderMatch(provider, registry, facts)
    if is_loopback_registry(registry):
        return ProviderMatch(LOCAL, registry, {})
    return ProviderMatch(GENERIC, registry, {})
