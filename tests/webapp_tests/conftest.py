"""Fixtures for `curate serve`: a filled catalog, the app in-process (HTTP tests), the real
server on 127.0.0.1 in a thread, and a Chromium driven by Playwright (browser tests)."""

from __future__ import annotations

import copy
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from webapp_tests.webcat import build

TOKEN = "test-token-0123456789"


@pytest.fixture(scope="session")
def built_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The catalog `webcat.build` makes, built once per session (tests get copies)."""
    path = tmp_path_factory.mktemp("webcat") / "catalog.db"
    return path, build(path)


@pytest.fixture
def web_catalog(built_catalog, tmp_path: Path) -> tuple[Path, dict]:
    """(catalog path, what `webcat.build` made): a fresh copy of the built catalog's folder."""
    source, info = built_catalog
    folder = tmp_path / "catalog"
    shutil.copytree(source.parent, folder)
    return folder / source.name, copy.deepcopy(info)


@pytest.fixture
def client(web_catalog):
    """A TestClient on the app, speaking to it as http://127.0.0.1 would."""
    from starlette.testclient import TestClient

    from curation.web import create_app

    app = create_app(web_catalog[0], token=TOKEN, hosts={"127.0.0.1", "localhost", "::1"})
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


@dataclass
class LiveServer:
    url: str
    path: Path
    info: dict


def run_server(path: Path) -> Iterator[str]:
    """The real server (uvicorn on a socket of its own, a free port) in a thread; its URL."""
    import uvicorn

    from curation.web import create_app
    from curation.web.server import allowed_hosts, listen, url_of

    sock = listen("127.0.0.1", 0)
    app = create_app(path, token=TOKEN, hosts=allowed_hosts("127.0.0.1"))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        yield url_of(sock, "127.0.0.1")
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def live(web_catalog) -> Iterator[LiveServer]:
    path, info = web_catalog
    for url in run_server(path):
        yield LiveServer(url, path, info)


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium to drive; skips, saying what to install, when there is none."""
    pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed: pip install 'imageset[browser]'"
    )
    from crawler.browser import find_browser

    found = find_browser()
    if found:
        return found
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        bundled = playwright.chromium.executable_path
    if not Path(bundled).is_file():
        pytest.skip("no Chromium: apt-get install chromium (or playwright install chromium)")
    return bundled


@pytest.fixture(scope="module")
def browser(chromium: str):
    """One headless Chromium for a test module; each test opens its own contexts."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()
