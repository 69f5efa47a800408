"""The test suite itself cannot reach the network (issue 6): only loopback is allowed."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests


@pytest.mark.parametrize("host", ["8.8.8.8", "10.0.0.1", "169.254.169.254", "2001:4860:4860::8888"])
def test_connections_off_loopback_are_refused_before_sending(host):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with (
        socket.socket(family, socket.SOCK_STREAM) as sock,
        pytest.raises(OSError, match="blocked in tests"),
    ):
        sock.connect((host, 80))


def test_public_names_do_not_resolve():
    with pytest.raises(socket.gaierror, match="blocked in tests"):
        socket.getaddrinfo("www.google.com", 443)


def test_requests_to_the_internet_fail_fast():
    with pytest.raises(requests.ConnectionError):
        requests.get("https://www.google.com/search?q=x", timeout=5)


def test_loopback_still_works():
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert requests.get(f"http://127.0.0.1:{server.server_port}/", timeout=5).text == "hello"
        assert requests.get(f"http://localhost:{server.server_port}/", timeout=5).text == "hello"
    finally:
        server.shutdown()
        server.server_close()
