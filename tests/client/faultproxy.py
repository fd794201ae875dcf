"""A fault-injecting HTTP proxy on loopback, put between hoist and a real registry.

It forwards requests to the upstream registry unchanged, except where a rule says otherwise:
drop the connection halfway through a request body, answer 500 or 429 (with Retry-After)
instead of forwarding, redirect blob GETs to a second "object storage" origin, or put a Bearer
token service in front of an upstream that has no auth (so the token flow, expiry and refresh
can be exercised against a real registry). Every request is logged for assertions.

Three more actions model what the plain "drop" cannot: "cut" streams the first half of a
request body through to the upstream and then closes both connections (the upstream sees a
client vanish mid-body, as it would without a proxy); "drop-keep-half" drops the client halfway
but lets the upstream keep that half (as a registry that persists partial PATCH data and
reports it with `Range`), keeping the upload's Location current behind the client's back; and
("rewrite", fn) forwards a request and replaces the upstream's response body with fn(body).
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body_length: int


#: (method, path, count of matching requests so far) -> action or None
#: actions: ("drop",), ("cut",), ("drop-keep-half",), ("status", code, {headers}),
#: ("redirect",), ("garbage",), ("rewrite", fn)
Rule = Callable[[str, str, int], tuple[object, ...] | None]


@dataclass
class ProxyState:
    upstream: str  # host:port
    rules: list[Rule] = field(default_factory=list)
    log: list[Seen] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # bearer front
    bearer_users: dict[str, str] | None = None
    tokens: dict[str, float] = field(default_factory=dict)
    token_lifetime: int = 300
    token_requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    refresh_tokens: set[str] = field(default_factory=set)
    storage_host: str | None = None  # for redirects
    host: str = ""
    # upload UUID -> the upstream's current Location (path and query), for "drop-keep-half"
    upload_locations: dict[str, str] = field(default_factory=dict)

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: ProxyState

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self, limit: int | None = None) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if limit is not None:
            return self.rfile.read(min(length, limit))
        return self.rfile.read(length) if length else b""

    def _reply(self, code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        st = self.state
        path = self.path
        with st.lock:
            key = f"{self.command} {urlsplit(path).path}"
            st.log.append(
                Seen(
                    self.command,
                    path,
                    dict(self.headers.items()),
                    int(self.headers.get("Content-Length") or 0),
                )
            )
        if urlsplit(path).path == "/token":
            return self._token()
        if st.bearer_users is not None and not self._authorized():
            self._body()
            repo = _repo_of(path)
            scope = f',scope="repository:{repo}:pull,push"' if repo else ""
            return self._reply(
                401,
                {
                    "WWW-Authenticate": f'Bearer realm="http://{st.host}/token",service="fault"{scope}',
                    "Content-Type": "application/json",
                },
                b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
            )
        action = None
        for rule in st.rules:
            with st.lock:
                n = st.counts.get(key, 0)
            action = rule(self.command, path, n)
            if action:
                break
        with st.lock:
            st.counts[key] = st.counts.get(key, 0) + 1
        if action and action[0] == "drop":
            length = int(self.headers.get("Content-Length") or 0)
            self._body(limit=length // 2)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if action and action[0] == "status":
            self._body()
            code = int(action[1])  # type: ignore[call-overload]
            hdrs = dict(action[2]) if len(action) > 2 else {}  # type: ignore[call-overload]
            return self._reply(
                code,
                {"Content-Type": "application/json", **hdrs},
                b'{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}',
            )
        if action and action[0] == "redirect":
            self._body()
            return self._reply(307, {"Location": f"http://{st.storage_host}{path}"})
        if action and action[0] == "garbage":
            self._body()
            return self._reply(200, {"Content-Type": "text/html"}, b"<html>hello</html>")
        if action and action[0] == "cut":
            return self._cut()
        if action and action[0] == "drop-keep-half":
            return self._drop_keep_half()
        if action and action[0] == "rewrite":
            return self._forward(rewrite=action[1])  # type: ignore[arg-type]
        return self._forward()

    def _drop_client(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _upstream_headers(self) -> dict[str, str]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        if self.state.bearer_users is not None:
            headers.pop("Authorization", None)
        return headers

    def _cut(self) -> None:
        """Stream half the body to the upstream under the full Content-Length, then hang up."""
        length = int(self.headers.get("Content-Length") or 0)
        half = self._body(limit=length // 2)
        conn = http.client.HTTPConnection(self.state.upstream, timeout=60)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self._upstream_headers().items():
            conn.putheader(k, v)
        conn.endheaders()
        conn.send(half)
        time.sleep(0.2)  # let the upstream take in what it was sent before the link dies
        conn.close()
        self._drop_client()

    def _drop_keep_half(self) -> None:
        """Drop the client after half a PATCH; the upstream gets (and keeps) that half."""
        length = int(self.headers.get("Content-Length") or 0)
        half = self._body(limit=length // 2)
        start = int(self.headers.get("Content-Range", "0-0").split("-")[0])
        headers = self._upstream_headers()
        headers["Content-Length"] = str(len(half))
        headers["Content-Range"] = f"{start}-{start + len(half) - 1}"
        conn = http.client.HTTPConnection(self.state.upstream, timeout=60)
        conn.request(self.command, self._upstream_path(), body=half, headers=headers)
        resp = conn.getresponse()
        resp.read()
        self._track(resp.getheader("Location"), force=True)
        conn.close()
        self._drop_client()

    def _upstream_path(self) -> str:
        """The request path, with a tracked upload's state swapped for the current one (other
        query parameters, such as the final PUT's `digest`, kept)."""
        uuid = _upload_uuid(self.path)
        with self.state.lock:
            current = self.state.upload_locations.get(uuid) if uuid else None
        if current is None:
            return self.path
        cur = urlsplit(current)
        query = {**parse_qs(urlsplit(self.path).query), **parse_qs(cur.query)}
        return f"{cur.path}?{urlencode(query, doseq=True)}" if query else cur.path

    def _track(self, location: str | None, *, force: bool = False) -> None:
        if not location:
            return
        parts = urlsplit(location)
        uuid = _upload_uuid(parts.path)
        if uuid is None:
            return
        with self.state.lock:
            if force or uuid in self.state.upload_locations:
                query = f"?{parts.query}" if parts.query else ""
                self.state.upload_locations[uuid] = parts.path + query

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return False
        with self.state.lock:
            expiry = self.state.tokens.get(auth[7:])
        return expiry is not None and expiry > time.time()

    def _token(self) -> None:
        st = self.state
        if self.command == "POST":
            form = parse_qs(self._body().decode())
            st.token_requests.append(("POST", form))
            rt = (form.get("refresh_token") or [""])[0]
            if form.get("grant_type") != ["refresh_token"] or rt not in st.refresh_tokens:
                return self._reply(401, {}, b'{"details":"bad refresh token"}')
        else:
            query = parse_qs(urlsplit(self.path).query)
            st.token_requests.append(("GET", query))
            auth = self.headers.get("Authorization", "")
            users = st.bearer_users or {}
            if users:
                try:
                    user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                except Exception:
                    user, pw = "", ""
                if not auth.startswith("Basic ") or users.get(user) != pw:
                    return self._reply(401, {}, b'{"details":"incorrect username or password"}')
        token = f"tok-{time.monotonic_ns()}"
        with st.lock:
            st.tokens[token] = time.time() + st.token_lifetime
        body: dict[str, object] = {"token": token, "expires_in": st.token_lifetime}
        if "offline_token" in urlsplit(self.path).query:
            rt = f"refresh-{time.monotonic_ns()}"
            st.refresh_tokens.add(rt)
            body["refresh_token"] = rt
        return self._reply(200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    def _forward(self, rewrite: Callable[[bytes], bytes] | None = None) -> None:
        body = self._body()
        conn = http.client.HTTPConnection(self.state.upstream, timeout=60)
        headers = self._upstream_headers()
        conn.request(
            self.command, self._upstream_path(), body=body if body else None, headers=headers
        )
        resp = conn.getresponse()
        data = resp.read()
        self._track(resp.getheader("Location"))
        if rewrite is not None:
            data = rewrite(data)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in _HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def _upload_uuid(path: str) -> str | None:
    """The session id of `/v2/<name>/blobs/uploads/<uuid>` (None for other paths)."""
    p = urlsplit(path).path
    _, marker, rest = p.partition("/blobs/uploads/")
    return rest.strip("/") or None if marker else None


def _repo_of(path: str) -> str | None:
    p = urlsplit(path).path
    if not p.startswith("/v2/") or p == "/v2/":
        return None
    for marker in ("/blobs/", "/manifests/", "/tags/"):
        if marker in p:
            return p[4 : p.index(marker)]
    return None


@contextmanager
def fault_proxy(upstream: str, **kw: object) -> Iterator[ProxyState]:
    """Run the proxy on 127.0.0.1 with a kernel-chosen port; yields its state (`.host`)."""
    state = ProxyState(upstream=upstream, **kw)  # type: ignore[arg-type]
    handler = type("H", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state.host = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def storage_origin(upstream: str) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A second origin standing in for object storage: serves upstream blobs, logs headers."""
    seen: list[dict[str, str]] = []

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(dict(self.headers.items()))
            conn = http.client.HTTPConnection(upstream, timeout=60)
            conn.request("GET", self.path)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
