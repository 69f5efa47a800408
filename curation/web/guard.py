"""The web app's defences, as one ASGI middleware in front of every route.

- **Host check** (DNS rebinding): a page on `evil.example` whose name a resolver points at
  127.0.0.1 reaches this server with `Host: evil.example`; only the names this server was
  started for are answered.
- **Writes** (every method but GET and HEAD) need the per-session token in the `X-Token`
  header (a page on another site cannot read it, so it cannot post here: CSRF), and are
  refused when the browser says they come from another origin (`Origin`,
  `Sec-Fetch-Site`).
- **Request bodies** are capped: a write whose body is larger is refused before the app
  sees it.
- **Response headers**: a Content-Security-Policy that allows only this server's own
  scripts, styles and images (no inline script), no framing, no MIME sniffing, no referrer.

Example:
    >>> app = Guard(app, token=secrets.token_urlsafe(32), hosts={"127.0.0.1"})  # doctest: +SKIP
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024  # a decision names at most a few thousand ids
TOKEN_HEADER = "x-token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = ("GET", "HEAD")
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def host_name(host_header: str) -> str:
    """The name part of a Host header, lower case: `[::1]:8000` -> `::1`, `a.b:80` -> `a.b`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    """Whether a listening address or name only reaches this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Guard:
    """Refuse foreign hosts, cross-site or token-less writes and oversize bodies."""

    def __init__(
        self, app: ASGIApp, *, token: str, hosts: Iterable[str], max_body: int = MAX_BODY
    ) -> None:
        self.app = app
        self.token = token.encode()
        self.hosts = {h.lower().strip("[]") for h in hosts}
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if host_name(host) not in self.hosts:
            await _refuse(send, 400, "this server answers only for its own address (Host)")
            return
        if scope["method"] not in SAFE_METHODS:
            why = self._write_refused(headers, host)
            if why is not None:
                await _refuse(send, 403, why)
                return
            length = headers.get("content-length", "0")
            body = (
                await _read_body(receive, self.max_body)
                if length.isdigit() and int(length) <= self.max_body
                else None
            )
            if body is None:
                await _refuse(send, 413, f"request body larger than {self.max_body} bytes")
                return
            receive = _replay(body)
        await self.app(scope, receive, _with_headers(send))

    def _write_refused(self, headers: Headers, host: str) -> str | None:
        origin = headers.get("origin")
        if origin is not None and origin.lower() != f"http://{host}".lower():
            return "a write from another origin"
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return "a write from another site"
        given = headers.get(TOKEN_HEADER, "").encode()
        if not given or not hmac.compare_digest(given, self.token):
            return "a write without this session's token: reload the page"
        return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
        await send(message)

    return sending


async def _refuse(send: Send, status: int, why: str) -> None:
    body = json.dumps({"error": why}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
