"""Fixtures for crawler tests: the fault server on 127.0.0.1 and a fetcher allowed to reach it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crawler_tests.crawlserver import Server, make_fetcher, serving_faults

from crawler.fetch import Fetcher


@pytest.fixture
def http_server() -> Iterator[Server]:
    """A ThreadingHTTPServer on 127.0.0.1, port 0, serving `fault_routes` (tests add more)."""
    with serving_faults() as server:
        yield server


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    f = make_fetcher()
    yield f
    f.close()
