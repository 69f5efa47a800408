"""Run the web app: a socket on a free port (loopback unless told), uvicorn on it, the URL
handed to the caller (which prints it and opens a browser), until Ctrl-C.

Example:
    >>> serve(Path("catalog.db"), on_ready=print)   # doctest: +SKIP
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable, Iterable
from pathlib import Path

import uvicorn

from catalog import open_catalog

from ..errors import CurationError
from .app import create_app
from .guard import LOOPBACK_NAMES, is_loopback

DEFAULT_HOST = "127.0.0.1"


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> set[str]:
    """The Host names the server answers: loopback names, plus the address it listens on and
    this machine's name when that is not loopback, plus `extra`."""
    hosts = {*LOOPBACK_NAMES, *extra}
    if not is_loopback(host):
        if host not in ("0.0.0.0", "::", ""):
            hosts.add(host)
        hosts.add(socket.gethostname())
    return {h.lower().strip("[]") for h in hosts}


def listen(host: str = DEFAULT_HOST, port: int = 0) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 takes a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets that say they are
    # TCP, and without it every response on a kept-alive connection waited 40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def serve(
    catalog_path: Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    allow_hosts: Iterable[str] = (),
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the catalog at `catalog_path` until interrupted (Ctrl-C stops it cleanly).

    The catalog is opened (and migrated) once first, so a bad path fails here with a
    CatalogError rather than on the first page. A fresh token guards this session's writes.
    """
    open_catalog(catalog_path).close()
    token = secrets.token_urlsafe(32)
    app = create_app(catalog_path, token=token, hosts=allowed_hosts(host, allow_hosts))
    try:
        sock = listen(host, port)
    except OSError as exc:
        raise CurationError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,  # request line and headers
    )
    server = uvicorn.Server(config)
    if on_ready is not None:
        on_ready(url_of(sock, host))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn shut down cleanly, then re-raised Ctrl-C: the way to stop it, not an error
    finally:
        sock.close()
