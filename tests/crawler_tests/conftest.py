"""Fixtures for crawler tests: the fault server on 127.0.0.1 and a fetcher allowed to reach it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from crawler_tests.crawlserver import Server, fault_routes, make_fetcher

from crawler.fetch import Fetcher


@pytest.fixture
def http_server() -> Iterator[Server]:
    """A ThreadingHTTPServer on 127.0.0.1, port 0, serving `fault_routes` (tests add more)."""
    server = Server()
    server.routes.update(fault_routes(server))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    f = make_fetcher()
    yield f
    f.close()
