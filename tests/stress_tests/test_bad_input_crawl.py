"""The bad-input corpus served to the crawler (issue 6): each case a recorded reason or a row."""

from __future__ import annotations

import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

import pytest
from badcorpus import cases
from typer.testing import CliRunner

from catalog import open_catalog
from crawler.cli import app as crawl_app

CASES = {case.filename: case for case in cases()}


class _Server(BaseHTTPRequestHandler):
    def do_GET(self):
        path = unquote(urlsplit(self.path).path)
        base = f"http://127.0.0.1:{self.server.server_port}"
        if path == "/search":
            tiles = "".join(
                '<div class="rg_bx"><div class="rg_meta notranslate">'
                + html.escape(
                    json.dumps(
                        {"ou": f"{base}/bad/{quote(name)}", "pt": name, "ru": f"{base}/p/{n}"}
                    ),
                    quote=False,
                )
                + "</div></div>"
                for n, name in enumerate(CASES)
            )
            body, ctype = (
                f"<html><body>{tiles}<p>{'padding ' * 300}</p></body></html>".encode(),
                "text/html",
            )
        elif path.startswith("/bad/") and path[5:] in CASES:
            # Every body claims to be a JPEG: the crawler must decide by decoding, not by the
            # header.
            body, ctype = CASES[path[5:]].data, "image/jpeg"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}/search"
    finally:
        srv.shutdown()
        srv.server_close()


def test_crawling_the_corpus_records_a_reason_or_a_row_for_each(server, tmp_path):
    db = tmp_path / "c.db"
    result = CliRunner().invoke(
        crawl_app,
        [
            "--class",
            "Yeezy_350",
            "--search-url",
            server,
            "--allow-private",
            "127.0.0.1",
            "--delay",
            "0",
            "--catalog",
            str(db),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    with open_catalog(db) as cat:
        fetches = {unquote(r["url"].rsplit("/", 1)[1]): r for r in cat.table("fetches").rows}
        images = {r["sha256"]: r for r in cat.table("images").rows}
    assert set(fetches) == set(CASES)
    for name, case in CASES.items():
        row = fetches[name]
        if case.outcome == "ok":
            assert row["status"] == "stored", (name, row)
            image = images[row["sha256"]]
            assert (image["format"], image["width"], image["height"]) == (
                case.format,
                *case.size,
            ), name
        else:
            assert row["status"] == "failed" and row["error"].startswith(case.outcome), (
                name,
                row["error"],
            )
    stored = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent.parent.name == "images"]
    assert len(stored) == sum(c.outcome == "ok" for c in CASES.values())
