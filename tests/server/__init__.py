"""Tests of `hoist serve`: the distribution API, auth, storage, crashes and real clients."""
