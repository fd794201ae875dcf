"""Where a name routes: the registry, the provider, and what that means for a push.

`hoist where` and `hoist tag` print this so the article's mistake — pushing `myapp:1.4.0` and
landing on Docker Hub's official namespace — is visible before any network traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hoist.errors import InvalidReferenceError
from hoist.providers import ProviderMatch, detect
from hoist.reference import Reference, has_explicit_registry


@dataclass(frozen=True)
class Route:
    """A parsed name together with where it goes."""

    input: str
    reference: Reference
    provider: ProviderMatch
    explicit_registry: bool

    @property
    def summary(self) -> str:
        """One phrase: which service, which namespace, and any catch that applies."""
        ref, p, facts = self.reference, self.provider.provider, self.provider.facts
        if p.id == "dockerhub":
            if ref.is_official_image:
                return "Docker Hub, official images: only Docker can push here"
            return f"Docker Hub, namespace {ref.repository.split('/')[0]}"
        if p.id == "ecr":
            fips = ", FIPS endpoint" if facts.get("fips") else ""
            return (
                f"Amazon ECR, account {facts['account']}, region {facts['region']}{fips}; "
                "the repository must exist before a push"
            )
        if p.id == "gar":
            parts = ref.repository.split("/")
            where = f"Google Artifact Registry, location {facts['region']}"
            if len(parts) < 3:
                return (
                    f"{where}; the path must be PROJECT/REPOSITORY/IMAGE but has "
                    f"{len(parts)} part{'s' if len(parts) != 1 else ''}"
                )
            return f"{where}, project {parts[0]}, repository {parts[1]}"
        if p.id == "gcr":
            return f"{p.title}: {p.notes[0]}"
        if p.id == "acr":
            return f"Azure Container Registry {facts['registry_name']}"
        if p.id == "ecr-public":
            return "Amazon ECR Public"
        if p.id == "local":
            return "a registry on this machine; loopback, so plain HTTP is allowed"
        return f"registry {ref.registry}"

    def line(self) -> str:
        """`myapp:1.4.0 -> docker.io/library/myapp:1.4.0 (Docker Hub, official images: ...)`."""
        return f"{self.input} -> {self.reference} ({self.summary})"

    def to_json(self) -> dict[str, Any]:
        ref = self.reference
        return {
            "input": self.input,
            "canonical": str(ref),
            "registry": ref.registry,
            "repository": ref.repository,
            "tag": ref.tag,
            "digest": str(ref.digest) if ref.digest else None,
            "familiar": ref.familiar,
            "provider": self.provider.id,
            "route": self.summary,
            "error": None,
        }


def route(text: str) -> Route:
    """Parse `text` and work out where it routes (raises `InvalidReferenceError`)."""
    ref = Reference.parse(text)
    return Route(text, ref, detect(ref.registry), has_explicit_registry(text))


def invalid_json(text: str, error: InvalidReferenceError) -> dict[str, Any]:
    """The `--json` object for a name that does not parse."""
    return {
        "input": text,
        "canonical": None,
        "registry": None,
        "repository": None,
        "tag": None,
        "digest": None,
        "familiar": None,
        "provider": None,
        "route": None,
        "error": error.what,
    }


def describe_route(ref: Reference) -> str:
    """`routes to docker.io/library/myapp:1.4.0 (Docker Hub, official images: ...)`."""
    r = Route(str(ref), ref, detect(ref.registry), True)
    return f"routes to {ref} ({r.summary})"


def hints(r: Route) -> list[str]:
    """Notes worth printing under a route: likely typos and catches of the destination."""
    out: list[str] = []
    text = r.input
    if not r.explicit_registry:
        first = text.split("@", 1)[0]
        name, _, tag = first.partition(":")
        if tag.isdigit() and "/" not in first and "." in name:
            out.append(
                f"{name}:{tag} looks like a registry and port, but a registry needs a '/' and a "
                f"repository after it: did you mean {name}:{tag}/IMAGE[:TAG]?"
            )
        out.append(
            "no registry prefix: this name goes to Docker Hub; add the registry host to push "
            "elsewhere, e.g. registry.example.com/team/" + r.reference.familiar_name.split("/")[-1]
        )
    return out
