"""The HTTP client of the distribution API for one registry: connect, authenticate, retry.

Everything registry-specific funnels through `RegistryClient.request`: it picks the endpoint
(HTTPS verified, HTTP only where allowed, see `hoist.registry.tls`), answers the 401 challenge
(Basic, or Bearer with a token per scope from `hoist.registry.tokens`), refreshes an expired
token once in the middle of a push, retries transient failures (`hoist.registry.retry`), follows
redirects without ever carrying `Authorization` to another host (registries redirect blob reads
to object storage), and turns anything final into a `HoistError` through `hoist.diagnose`.
Blob uploads live in `hoist.registry.uploads`; sources and destinations in
`hoist.transports.registry`.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx

from hoist import __version__
from hoist.auth.keychain import Credential, Keychain, default_keychain
from hoist.errors import HoistError, InvalidContentError, NetworkError, RegistryError
from hoist.oci import MANIFEST_TYPES, MAX_MANIFEST_BYTES, Descriptor, Digest, Manifest
from hoist.providers import detect
from hoist.reference import DOCKER_HUB_API_HOST
from hoist.registry.challenge import Challenge, parse_challenges, pick, repository_scope
from hoist.registry.retry import RETRYABLE_STATUS, RetryPolicy, is_retryable_exception
from hoist.registry.tls import TransportOptions, hoist_config_file
from hoist.registry.tokens import Token, TokenCache, TokenRequestError, fetch_token

if TYPE_CHECKING:
    from hoist.diagnose import Situation


def explain(situation: Situation) -> HoistError:
    """`hoist.diagnose.explain`, imported only when something fails (it is not small)."""
    from hoist.diagnose import explain as _explain

    return _explain(situation)


def explain_network(registry: str, exc: BaseException, *, config_path: str = "") -> NetworkError:
    """`hoist.diagnose.explain_network`, imported only when something fails."""
    from hoist.diagnose import explain_network as _explain_network

    return _explain_network(registry, exc, config_path=config_path)


#: Every manifest type hoist understands, most specific first (what `Accept` says).
MANIFEST_ACCEPT = ", ".join(sorted(MANIFEST_TYPES))
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 10

#: Called on each retry: (what, attempt, delay seconds, reason) — the CLI may show it.
RetryHook = Callable[[str, int, float, str], None]
#: A request body: bytes, or a factory that streams it afresh on every (re)send. A streamed
#: body is sent with the caller's `Content-Length`, never buffered whole.
Body = bytes | Callable[[], Iterable[bytes]]


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


class _Unset:
    pass


_UNSET = _Unset()


class RegistryClient:
    """A connection to one registry on behalf of one set of credentials.

    Thread-safe: the copy engine calls it from several upload threads at once.
    """

    def __init__(
        self,
        registry: str,
        *,
        keychain: Keychain | None = None,
        options: TransportOptions | None = None,
        retry: RetryPolicy | None = None,
        on_retry: RetryHook | None = None,
    ) -> None:
        self.registry = registry
        self.host = DOCKER_HUB_API_HOST if registry == "docker.io" else registry
        self.keychain = keychain if keychain is not None else default_keychain()
        self.options = options or TransportOptions()
        self.retry = retry or RetryPolicy.from_env()
        self.on_retry = on_retry
        self.provider = detect(registry)
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._base = ""
        self._challenge: Challenge | None = None
        self._credential: Credential | _Unset | None = _UNSET
        self._tokens = TokenCache()
        self.requests = 0  # for tests and the bench: round trips made

    # --- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    @property
    def base_url(self) -> str:
        self.connect()
        return self._base

    def url(self, path: str) -> str:
        """An absolute URL for an API path or an upload `Location` (absolute or relative)."""
        return urljoin(self.base_url + "/", path)

    def credential(self) -> Credential | None:
        """The credentials this client presents (resolved once, lazily)."""
        if isinstance(self._credential, _Unset):
            self._credential = self.keychain.resolve(self.registry)
        return self._credential

    def situation(self, operation: str, **kw: Any) -> Situation:
        from hoist.diagnose import Situation

        return Situation(
            operation=operation,
            registry=self.registry,
            credential=self.credential(),
            provider=self.provider.id,
            login_command=self.provider.login_command(),
            facts=dict(self.provider.facts),
            **kw,
        )

    def _new_http(self, verify: Any) -> httpx.Client:
        _larger_socket_reads()
        return httpx.Client(
            verify=verify,
            trust_env=True,
            follow_redirects=False,
            timeout=httpx.Timeout(60.0, connect=15.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            headers={"User-Agent": f"hoist/{__version__}"},
        )

    def connect(self) -> None:
        """Find a working endpoint and learn the auth challenge (`GET /v2/`), once."""
        with self._lock:
            if self._http is not None:
                return
            first_error: BaseException | None = None
            for attempt in range(1, 3):
                for endpoint in self.options.endpoints(self.host):
                    http = self._new_http(endpoint.verify())
                    try:
                        resp = http.get(endpoint.base_url + "/v2/")
                    except httpx.TransportError as exc:
                        http.close()
                        if endpoint.secure and _is_certificate_problem(exc):
                            # it speaks TLS, with a certificate we do not trust: plain HTTP
                            # would only hide the real problem
                            raise explain_network(
                                self.registry, exc, config_path=str(hoist_config_file())
                            ) from None
                        first_error = first_error or exc
                        continue
                    self.requests += 1
                    if _tls_only(endpoint.base_url, resp):
                        http.close()  # plain HTTP to a TLS port: try the next endpoint
                        continue
                    self._adopt_ping(endpoint.base_url, http, resp)
                    return
                if first_error is not None and not _worth_retrying_connect(first_error):
                    break
                time.sleep(self.retry.backoff(attempt))
            assert first_error is not None
            raise explain_network(self.registry, first_error, config_path=str(hoist_config_file()))

    def _adopt_ping(self, base: str, http: httpx.Client, resp: httpx.Response) -> None:
        if resp.status_code == 401:
            self._challenge = pick(parse_challenges(resp.headers.get_list("www-authenticate")))
        elif resp.status_code != 200:
            http.close()
            what = f"{self.registry} does not look like a container registry"
            if resp.status_code >= 500 or resp.status_code == 429:
                raise explain(self.situation("ping", status=resp.status_code, message=None))
            raise RegistryError(
                what,
                why=f"GET {base}/v2/ answered HTTP {resp.status_code}; every registry answers "
                "that with 200 or 401",
                fix="check the registry part of the name (hoist where NAME)",
                details={"status": resp.status_code},
            )
        self._http = http
        self._base = base

    # --- authentication ----------------------------------------------------------------

    def _authorization(self, scopes: Sequence[str], operation: str) -> str | None:
        ch = self._challenge
        if ch is None:
            return None
        cred = self.credential()
        if cred is not None and cred.registry_token:
            return f"Bearer {cred.registry_token}"
        if ch.scheme == "basic":
            if cred is not None and cred.has_basic:
                raw = f"{cred.username}:{cred.password}".encode()
                return "Basic " + base64.b64encode(raw).decode()
            return None
        if ch.scheme != "bearer":
            return None
        key = TokenCache.key(ch, scopes)
        tok = self._tokens.get(key)
        if tok is None:
            with self._token_lock:
                tok = self._tokens.get(key)
                if tok is None:
                    tok = self._fetch_token(ch, scopes, cred, operation)
                    self._tokens.put(key, tok)
        return f"Bearer {tok.value}"

    def _fetch_token(
        self, ch: Challenge, scopes: Sequence[str], cred: Credential | None, operation: str
    ) -> Token:
        assert self._http is not None
        attempt = 0
        while True:
            attempt += 1
            try:
                self.requests += 1
                return fetch_token(self._http, ch, scopes, cred)
            except TokenRequestError as exc:
                status = exc.response.status_code
                if status in RETRYABLE_STATUS and attempt < self.retry.attempts:
                    self._sleep("token", attempt, self.retry.delay(attempt, exc.response), status)
                    continue
                raise self._error(exc.response, operation, None, None) from None
            except httpx.TransportError as exc:
                if is_retryable_exception(exc) and attempt < self.retry.attempts:
                    self._sleep("token", attempt, self.retry.backoff(attempt), str(exc))
                    continue
                raise explain_network(self.registry, exc) from None

    def _drop_token(self, scopes: Sequence[str]) -> None:
        if self._challenge is not None:
            self._tokens.drop(TokenCache.key(self._challenge, scopes))

    def verify_login(self) -> str | None:
        """Check the keychain's credentials against the registry, as `docker login` does.

        Returns an identity token when the token service issued a refresh token (then that is
        stored instead of the password), else None. Raises AuthError when they are rejected.
        """
        self.connect()
        ch = self._challenge
        cred = self.credential()
        if ch is None:
            return None  # the registry needs no credentials at all
        if ch.scheme == "basic":
            self.request("GET", "/v2/", operation="login", scopes=())
            return None
        assert self._http is not None
        try:
            self.requests += 1
            tok = fetch_token(self._http, ch, [], cred, offline=True)
        except TokenRequestError as exc:
            raise self._error(exc.response, "login", None, None) from None
        except httpx.TransportError as exc:
            raise explain_network(self.registry, exc) from None
        return tok.refresh_token

    # --- requests ----------------------------------------------------------------------

    def _sleep(self, what: str, attempt: int, delay: float, reason: object) -> None:
        if self.on_retry is not None:
            self.on_retry(what, attempt, delay, str(reason))
        time.sleep(delay)

    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        scopes: Sequence[str],
        repository: str | None = None,
        reference: str | None = None,
        headers: Mapping[str, str] | None = None,
        content: Body | None = None,
        params: Mapping[str, str] | None = None,
        ok: Collection[int] = (200,),
        stream: bool = False,
        retry: bool = True,
    ) -> httpx.Response:
        """Send one API request; statuses in `ok` are returned, anything else raised.

        The body is bytes, or a factory that yields it afresh (with `Content-Length` in
        `headers`) so that a retry or a 401 refresh can resend it: large uploads stream from a
        seekable file that way (`hoist.registry.uploads`).
        """
        self.connect()
        url = self.url(path)
        if params:
            # merge, never replace: upload Locations carry state in their query string
            url = str(httpx.URL(url).copy_merge_params(dict(params)))
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            hdrs = dict(headers or {})
            auth = self._authorization(scopes, operation)
            if auth is not None and _origin(url) == _origin(self._base):
                hdrs["Authorization"] = auth
            try:
                resp = self._send(method, url, hdrs, content, stream)
            except httpx.TransportError as exc:
                if retry and is_retryable_exception(exc) and attempt < self.retry.attempts:
                    self._sleep(f"{method} {path}", attempt, self.retry.backoff(attempt), exc)
                    continue
                raise explain_network(self.registry, exc) from None
            if resp.status_code in ok:
                return resp
            if resp.status_code == 401 and not refreshed:
                # an expired token mid-push, or a repository that needs more than /v2/ did:
                # learn the (new) challenge, fetch a fresh token once, and carry on
                refreshed = True
                new = pick(parse_challenges(resp.headers.get_list("www-authenticate")))
                if new is not None:
                    self._challenge = new
                self._drop_token(scopes)
                ch = self._challenge
                if ch is not None and (auth is None or ch.scheme == "bearer"):
                    resp.close()
                    continue
            if resp.status_code in RETRYABLE_STATUS and retry and attempt < self.retry.attempts:
                delay = self.retry.delay(attempt, resp)
                resp.close()
                self._sleep(f"{method} {path}", attempt, delay, f"HTTP {resp.status_code}")
                continue
            if stream:
                _read_error_body(resp)
            raise self._error(resp, operation, repository, reference)

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: Body | None,
        stream: bool,
    ) -> httpx.Response:
        """Send, following redirects by hand so Authorization never leaves the registry."""
        assert self._http is not None
        for _ in range(_MAX_REDIRECTS):
            body = content() if callable(content) else content
            req = self._http.build_request(method, url, headers=headers, content=body)
            self.requests += 1
            resp = self._http.send(req, stream=stream)
            location = resp.headers.get("location")
            if resp.status_code not in _REDIRECTS or not location or method not in ("GET", "HEAD"):
                return resp
            resp.close()
            new_url = urljoin(str(req.url), location)
            if _origin(new_url) != _origin(url):
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            url = new_url
        raise RegistryError(
            f"{self.registry} redirected more than {_MAX_REDIRECTS} times",
            why="the registry or a proxy in front of it is misconfigured (a redirect loop)",
            fix="report it to the registry's operator",
        )

    def _error(
        self,
        resp: httpx.Response,
        operation: str,
        repository: str | None,
        reference: str | None,
    ) -> HoistError:
        code, message = parse_error_body(resp)
        return explain(
            self.situation(
                operation,
                repository=repository,
                reference=reference,
                status=resp.status_code,
                code=code,
                message=message,
            )
        )

    # --- API calls ---------------------------------------------------------------------

    def blob_exists(self, repository: str, digest: str, scopes: Sequence[str]) -> int | None:
        """`HEAD /v2/<name>/blobs/<digest>`: the size if present, None if not."""
        resp = self.request(
            "HEAD",
            f"/v2/{repository}/blobs/{digest}",
            operation="push",
            scopes=scopes,
            repository=repository,
            ok=(200, 404),
        )
        if resp.status_code == 404:
            return None
        try:
            return int(resp.headers.get("content-length", "-1"))
        except ValueError:
            return -1

    def get_blob(self, repository: str, digest: str, *, start: int = 0) -> httpx.Response:
        """A streamed `GET` of a blob (from `start` with a Range request); caller closes it."""
        headers = {"Range": f"bytes={start}-"} if start else {}
        return self.request(
            "GET",
            f"/v2/{repository}/blobs/{digest}",
            operation="pull",
            scopes=(repository_scope(repository, ["pull"]),),
            repository=repository,
            reference=f"{self.registry}/{repository}@{digest}",
            headers=headers,
            ok=(200, 206),
            stream=True,
        )

    def get_manifest(
        self, repository: str, identifier: str, *, scopes: Sequence[str] | None = None
    ) -> Manifest:
        """Fetch and parse a manifest, verifying its digest when pinned or announced."""
        ref = _ref_text(self.registry, repository, identifier)
        resp = self.request(
            "GET",
            f"/v2/{repository}/manifests/{identifier}",
            operation="pull",
            scopes=scopes or (repository_scope(repository, ["pull"]),),
            repository=repository,
            reference=ref,
            headers={"Accept": MANIFEST_ACCEPT},
            stream=True,
        )
        try:
            body = _read_capped(resp, MAX_MANIFEST_BYTES, self.registry, ref)
        except httpx.TransportError as exc:
            raise explain_network(self.registry, exc) from None
        finally:
            resp.close()
        media_type = resp.headers.get("content-type", "").split(";")[0].strip() or None
        try:
            manifest = Manifest.parse(body, media_type)
        except InvalidContentError as exc:
            raise RegistryError(
                f"{self.registry} sent an unusable manifest for {ref}: {exc.what}",
                why=exc.why or "the registry answered with something that is not a manifest",
                fix="check the name; if it is right, the registry or a proxy is broken",
            ) from None
        expected = identifier if identifier.startswith("sha") and ":" in identifier else None
        announced = resp.headers.get("docker-content-digest")
        for want in (expected, announced):
            if want and want != manifest.digest and want.startswith("sha256:"):
                raise RegistryError(
                    f"the manifest {self.registry} sent for {ref} does not match its digest",
                    why=f"expected {want}, the bytes hash to {manifest.digest}: corrupted in "
                    "transit or a misbehaving proxy",
                    fix="retry; if it persists, bypass any proxy (NO_PROXY)",
                )
        return manifest

    def head_manifest(self, repository: str, identifier: str) -> Descriptor | None:
        resp = self.request(
            "HEAD",
            f"/v2/{repository}/manifests/{identifier}",
            operation="pull",
            scopes=(repository_scope(repository, ["pull"]),),
            repository=repository,
            headers={"Accept": MANIFEST_ACCEPT},
            ok=(200, 404),
        )
        if resp.status_code == 404:
            return None
        digest = resp.headers.get("docker-content-digest")
        if not digest:
            return None
        try:
            return Descriptor(
                resp.headers.get("content-type", "").split(";")[0],
                Digest(digest),
                int(resp.headers.get("content-length", "0")),
            )
        except (InvalidContentError, ValueError):
            return None

    def put_manifest(
        self, repository: str, identifier: str, manifest: Manifest, scopes: Sequence[str]
    ) -> str | None:
        """PUT a manifest under a tag or its digest; returns the digest the registry reports."""
        resp = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{identifier}",
            operation="push",
            scopes=scopes,
            repository=repository,
            reference=_ref_text(self.registry, repository, identifier),
            headers={"Content-Type": manifest.media_type},
            content=manifest.data,
            ok=(200, 201, 202),
        )
        digest: str | None = resp.headers.get("docker-content-digest")
        return digest

    def list_tags(self, repository: str) -> list[str]:
        """Every tag, following `Link` pagination."""
        tags: list[str] = []
        path: str | None = f"/v2/{repository}/tags/list"
        params: dict[str, str] | None = {"n": "1000"}
        pages = 0
        while path and pages < 10000:
            pages += 1
            resp = self.request(
                "GET",
                path,
                operation="tags",
                scopes=(repository_scope(repository, ["pull"]),),
                repository=repository,
                params=params,
            )
            try:
                body = resp.json()
                page = body.get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(
                    f"{self.registry} answered the tag list of {repository} with something "
                    "that is not JSON",
                    fix="check the registry address",
                ) from None
            tags += [str(t) for t in page]
            path = _next_link(resp.headers.get("link"))
            params = None
        return tags


#: Bytes asked of the socket per read while receiving a response.
_SOCKET_READ = 1 << 20


def _larger_socket_reads() -> None:
    """Let httpcore read up to 1 MiB per `recv` instead of 64 KiB.

    Every piece received goes through h11's buffer and httpcore's generator, a few Python calls
    and copies each; with 64 KiB pieces that per-piece cost is most of the CPU a pull spends
    (about 30% less user time for 4 x 64 MiB on loopback with 1 MiB). It is a class attribute
    of httpcore (not public API), so it is set only where it exists and never made smaller.
    """
    import httpcore

    conn = getattr(httpcore, "HTTP11Connection", None)
    current = getattr(conn, "READ_NUM_BYTES", None)
    if conn is not None and isinstance(current, int) and current < _SOCKET_READ:
        conn.READ_NUM_BYTES = _SOCKET_READ


def _read_error_body(resp: httpx.Response) -> None:
    """Read at most 64 KiB of a streamed error answer (a hostile server may send gigabytes)."""
    buf = bytearray()
    try:
        for chunk in resp.iter_bytes():
            buf += chunk
            if len(buf) > 65536:
                break
    except httpx.HTTPError:
        pass
    finally:
        resp.close()
    resp._content = bytes(buf[:65536])


def _tls_only(base: str, resp: httpx.Response) -> bool:
    """A server that speaks only TLS answers a plain-HTTP request with 400 saying so."""
    return (
        base.startswith("http://")
        and resp.status_code == 400
        and "https" in resp.text[:500].lower()
    )


def _is_certificate_problem(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(n in text for n in ("certificate", "self-signed", "hostname mismatch"))


def _worth_retrying_connect(exc: BaseException) -> bool:
    text = str(exc).lower()
    return not any(
        n in text for n in ("ssl", "certificate", "name or service", "nodename", "refused")
    )


def _ref_text(registry: str, repository: str, identifier: str) -> str:
    sep = "@" if identifier.startswith("sha") and ":" in identifier else ":"
    return f"{registry}/{repository}{sep}{identifier}"


def _read_capped(resp: httpx.Response, cap: int, registry: str, ref: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    for chunk in resp.iter_bytes():
        total += len(chunk)
        if total > cap:
            raise RegistryError(
                f"{registry} sent a manifest for {ref} larger than {cap} bytes",
                why="registries limit manifests to 4 MiB; this answer is not a manifest",
                fix="check the registry address; a hostile or broken server sends this",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _next_link(header: str | None) -> str | None:
    """The URL of `Link: </v2/...?last=x&n=100>; rel="next"`."""
    if not header:
        return None
    for part in header.split(","):
        if 'rel="next"' in part or "rel=next" in part:
            start, end = part.find("<"), part.find(">")
            if 0 <= start < end:
                return part[start + 1 : end]
    return None


def parse_error_body(resp: httpx.Response) -> tuple[str | None, str | None]:
    """The first `{"errors":[{"code","message"}]}` entry, or a short excerpt of a garbage body."""
    try:
        raw = resp.content
    except httpx.ResponseNotRead:
        return None, None
    if not raw:
        return None, None
    try:
        body = json.loads(raw[:65536])
    except ValueError:
        text = raw[:200].decode("utf-8", "replace").strip()
        first = text.splitlines()[0] if text else ""
        return None, (first[:120] if first and not first.startswith("<") else None)
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            e = errors[0]
            code = e.get("code")
            msg = e.get("message")
            return (
                str(code).upper() if code else None,
                str(msg) if msg else None,
            )
        # token services answer {"details": "..."} or {"error": "..."}
        for key in ("details", "error_description", "error", "message"):
            if isinstance(body.get(key), str):
                return None, str(body.get(key))
    return None, None


__all__ = ["MANIFEST_ACCEPT", "NetworkError", "RegistryClient", "parse_error_body"]
