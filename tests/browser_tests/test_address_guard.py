"""The browser engine goes through the same address guard as every other download (issue 26).

A rendered page loads what it references. Here a page on 127.0.0.1 (allowed, as a test
server is) references images, a script and a frame on 127.0.0.2, 127.0.0.3 and [::1]
(loopback addresses nobody allowed), directly and through an allowed URL that redirects
there; a server listening on every loopback address records what reaches it.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crawler.browser.google import collect_from_context
from crawler.errors import CrawlerError

pytestmark = [pytest.mark.slow, pytest.mark.browser]


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []
    v6_port = 0  # the recorder on [::1], when the redirect test runs

    def do_GET(self) -> None:
        type(self).seen.append((self.headers.get("Host", ""), self.path))
        if self.path.startswith("/hop?to="):  # an allowed URL that redirects elsewhere
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/hop?to="))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/redirects"):
            port, v6 = self.server.server_address[1], type(self).v6_port
            hop = f"http://127.0.0.1:{port}/hop?to="
            body = (
                "<html><head><title>q - Google Search</title></head><body>"
                f'<img src="{hop}http://127.0.0.3:{port}/private-redirected.png">'
                f'<iframe src="{hop}http://127.0.0.3:{port}/private-redirected-frame"></iframe>'
                f'<img src="http://[::1]:{v6}/private-v6.png">'
                f'<img src="{hop}http://[::1]:{v6}/private-v6-redirected.png">'
                f'<img src="http://127.0.0.2:{port}/private-img.png">'
                f'<img src="{hop}http://127.0.0.1:{port}/allowed-redirected.png">'
                "</body></html>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
        elif self.path.startswith("/page"):
            port = self.server.server_address[1]
            body = (
                "<html><head><title>q - Google Search</title></head><body>"
                f'<img src="http://127.0.0.2:{port}/private-img.png">'
                f'<script src="http://127.0.0.3:{port}/private-script.js"></script>'
                f'<iframe src="http://127.0.0.2:{port}/private-frame"></iframe>'
                f'<img src="http://127.0.0.1:{port}/allowed.png">'
                "</body></html>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
        else:
            body = b""
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def recorder():
    _Recorder.seen = []
    server = ThreadingHTTPServer(("0.0.0.0", 0), _Recorder)  # every loopback address
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], _Recorder.seen
    server.shutdown()
    server.server_close()


def test_the_page_reaches_no_private_address_that_was_not_allowed(browser, recorder):
    port, seen = recorder
    url = f"http://127.0.0.1:{port}/page?q=x"
    with pytest.raises(CrawlerError):  # a page with no tiles: nothing to collect
        collect_from_context(browser, url, limit=5, timeout_s=3, allow_private={"127.0.0.1"})
    paths = [path for _, path in seen]
    assert "/page?q=x" in paths and "/allowed.png" in paths  # the allowed host was loaded
    assert not [p for p in paths if p.startswith("/private")], seen


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.fixture
def v6_recorder(recorder):
    """The recorder on [::1] too (its own port), writing to the same list."""
    try:
        server = _V6Server(("::1", 0), _Recorder)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    _Recorder.v6_port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recorder
    server.shutdown()
    server.server_close()


def test_redirect_hops_to_private_addresses_are_refused(browser, v6_recorder):
    """Issue 26: Playwright does not route the hops of an HTTP redirect, so an allowed URL
    that answered 302 to 127.0.0.3 or [::1] reached it. Every request now goes through the
    guard's proxy, which checks each hop's target before connecting."""
    port, seen = v6_recorder
    url = f"http://127.0.0.1:{port}/redirects?q=x"
    with pytest.raises(CrawlerError):  # a page with no tiles: nothing to collect
        collect_from_context(browser, url, limit=5, timeout_s=3, allow_private={"127.0.0.1"})
    paths = [path for _, path in seen]
    assert "/allowed-redirected.png" in paths  # a redirect to the allowed host is followed
    assert any(p.startswith("/hop?to=http://127.0.0.3") for p in paths)
    assert not [p for p in paths if p.startswith("/private")], seen


def test_a_result_page_that_redirects_to_a_private_address_is_refused(browser, recorder):
    port, seen = recorder
    url = f"http://127.0.0.1:{port}/hop?to=http://127.0.0.3:{port}/private-page"
    with pytest.raises(CrawlerError, match=r"127\.0\.0\.3.*private/loopback"):
        collect_from_context(browser, url, limit=5, timeout_s=3, allow_private={"127.0.0.1"})
    assert not [p for _, p in seen if p.startswith("/private")], seen


def test_a_loopback_search_url_is_refused_without_allow_private(browser, recorder):
    """Issue 26: google-browser opened a loopback --search-url that the plain engine refuses."""
    port, seen = recorder
    with pytest.raises(CrawlerError, match="private/loopback.*--allow-private HOST"):
        collect_from_context(browser, f"http://127.0.0.1:{port}/page?q=x", limit=5, timeout_s=3)
    assert seen == []


def test_a_network_error_reads_like_the_other_engines(browser):
    """Issue 26: google-browser showed Playwright's raw `Page.goto: net::ERR_...`."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CrawlerError) as caught:
        collect_from_context(
            browser,
            f"http://127.0.0.1:{port}/search?q=x",
            limit=5,
            timeout_s=3,
            allow_private={"127.0.0.1"},
        )
    message = str(caught.value)
    assert "Page.goto" not in message and "err_connection_refused" in message
    assert "crawl a result page saved from a browser with --page" in message
