"""The browser's address-guard proxy without a browser: what it forwards, what it refuses
(issue 26). A server on every loopback address records what reaches it."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from crawler.browser.proxy import ERROR_HEADER, REFUSED_HEADER, GuardProxy


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps connections alive unless told otherwise
    seen: list[str] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        if self.path.startswith("/hop?to="):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/hop?to="))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = f"{self.headers['Host']} {self.path} {self.headers.get('Connection')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder():
    _Recorder.seen = []
    server = ThreadingHTTPServer(("0.0.0.0", 0), _Recorder)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], _Recorder.seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxied():
    """A requests session through a proxy that may reach 127.0.0.1 only."""
    with GuardProxy() as proxy:
        proxy.allow({"127.0.0.1"})
        session = requests.Session()
        session.trust_env = False
        address = f"http://127.0.0.1:{proxy.port}"
        session.proxies = {"http": address, "https": address}
        yield proxy, session
        session.close()


def test_an_allowed_host_is_reached_in_origin_form_with_connection_close(recorder, proxied):
    port, seen = recorder
    proxy, session = proxied
    answer = session.get(f"http://127.0.0.1:{port}/ok?a=1", timeout=10)
    assert answer.status_code == 200 and answer.headers["Connection"] == "close"
    assert answer.text == f"127.0.0.1:{port} /ok?a=1 close"
    assert seen == ["/ok?a=1"] and proxy.refused == []


def test_private_hosts_are_refused_before_connecting(recorder, proxied):
    port, seen = recorder
    proxy, session = proxied
    for host in ("127.0.0.2", "127.0.0.3", "[::1]"):
        answer = session.get(f"http://{host}:{port}/private", timeout=10)
        assert answer.status_code == 403, host
        assert "private/loopback/link-local" in answer.headers[REFUSED_HEADER]
    assert seen == [] and len(proxy.refused) == 3


def test_a_redirect_hop_is_a_new_request_and_is_checked_again(recorder, proxied):
    """Two requests on one kept-alive client connection: the second one, to a private
    host, is checked too (the proxy answers one request per connection)."""
    port, seen = recorder
    proxy, session = proxied
    answer = session.get(
        f"http://127.0.0.1:{port}/hop?to=http://127.0.0.3:{port}/private", timeout=10
    )
    assert answer.status_code == 403 and [r.status_code for r in answer.history] == [302]
    assert seen == [f"/hop?to=http://127.0.0.3:{port}/private"]
    assert proxy.refused == [f"http://127.0.0.3:{port}/private"]


def test_connect_tunnels_are_checked_by_host_and_port(recorder, proxied):
    port, seen = recorder
    proxy, _ = proxied

    def connect(target: str) -> bytes:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
            first = sock.recv(4096)
            if first.startswith(b"HTTP/1.1 200"):
                sock.sendall(f"GET /tunnelled HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
                while b"/tunnelled" not in first and (chunk := sock.recv(4096)):
                    first += chunk  # the answer's head and body may come apart
            return first

    assert connect(f"127.0.0.3:{port}").startswith(b"HTTP/1.1 403")
    assert connect(f"[::1]:{port}").startswith(b"HTTP/1.1 403")
    tunnelled = connect(f"127.0.0.1:{port}")
    assert tunnelled.startswith(b"HTTP/1.1 200 Connection Established") and b"/tunnelled" in (
        tunnelled
    )
    assert seen == ["/tunnelled"]


def test_an_unreachable_host_is_a_502_naming_the_error(proxied):
    proxy, session = proxied
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer = session.get(f"http://127.0.0.1:{port}/", timeout=10)
    assert answer.status_code == 502
    assert answer.headers[ERROR_HEADER] == "err_connection_refused"
    assert proxy.failures == {f"127.0.0.1:{port}": "err_connection_refused"}
