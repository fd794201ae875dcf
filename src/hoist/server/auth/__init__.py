"""Authentication and authorization for `hoist serve`: none, htpasswd (Basic), token (Bearer)."""

from hoist.server.auth.access import ANONYMOUS, AccessPolicy, AccessRule, Scope, parse_rules
from hoist.server.auth.gate import Authenticator, BasicAuth, NoAuth, Principal, TokenAuth
from hoist.server.auth.htpasswd import Htpasswd
from hoist.server.auth.token import TokenService

__all__ = [
    "ANONYMOUS",
    "AccessPolicy",
    "AccessRule",
    "Authenticator",
    "BasicAuth",
    "Htpasswd",
    "NoAuth",
    "Principal",
    "Scope",
    "TokenAuth",
    "TokenService",
    "parse_rules",
]
