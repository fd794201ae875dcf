"""Shared test support: starting real peers (docker-registry, skopeo, podman) on loopback."""
