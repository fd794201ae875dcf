"""Credentials: docker's config.json, credential helpers, the environment, and the keychains
that combine them (see `hoist.auth.keychain`)."""

from hoist.auth.keychain import (
    ChainKeychain,
    Credential,
    DockerConfigKeychain,
    EnvKeychain,
    Keychain,
    StaticKeychain,
    default_keychain,
    erase_credentials,
    register_provider_keychain,
    store_credentials,
)

__all__ = [
    "ChainKeychain",
    "Credential",
    "DockerConfigKeychain",
    "EnvKeychain",
    "Keychain",
    "StaticKeychain",
    "default_keychain",
    "erase_credentials",
    "register_provider_keychain",
    "store_credentials",
]
