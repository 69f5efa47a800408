"""A local stand-in for a Google Images result page that only works with JavaScript.

`/search?q=...` is an empty shell: the tiles are built by the page's script after load,
from `/async/tiles` answers in Google's `ischj` JSON format. The shell also has a cookie
consent overlay (which blocks every click until accepted), a "Show more results" button,
and a preview pane that shows a tile's original only after a click (`/async/preview`).
Every fifth tile has no original URL in the data, as when Google renders only thumbnails.

Queries choose the behaviour: anything else is a normal result set of TOTAL tiles;
"captcha" redirects to /sorry/; "captcha-later" serves a captcha after the first batch;
"stuck-consent" has a consent form with no accept button; "empty" has no results;
"no-preview" has previews that never show an original;
"hang" never answers its first batch (for Ctrl-C tests).
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from imagegen import image_bytes

TOTAL = 25
BATCH = 10
AUTO_BATCHES = 2  # batches that load by scrolling; later ones need the "more" button


def has_original(tile_id: int) -> bool:
    """Whether a tile's original URL is in the script data (else only its preview shows it)."""
    return tile_id % 5 != 4


SHELL = """<!doctype html>
<html><head><meta charset="utf-8"><title>%(q)s - Google Search</title>
<style>
  #islrg { margin-right: 320px; }
  #islrg div { display: inline-block; width: 180px; height: 600px; margin: 4px; cursor: pointer; }
  #islrg img { width: 160px; height: 120px; }
  #consent { position: fixed; inset: 0; background: #fff; z-index: 10; }
  #preview { position: fixed; right: 0; top: 0; width: 300px; background: #eee; }
</style></head>
<body>
<div id="consent" role="dialog" aria-modal="true">
  <h1>Before you continue to Google</h1>
  <p>We use cookies and data to deliver and maintain Google services.</p>
  <button id="manage">More options</button>
  %(accept)s
</div>
<div id="islrg"></div>
<input type="button" id="more" class="mye4qd" value="Show more results" hidden>
<div id="end" hidden>Looks like you've reached the end</div>
<div id="preview" hidden><img id="preview-img" alt="preview"><a id="preview-link">Visit</a></div>
<script>
const q = new URLSearchParams(location.search).get("q");
const grid = document.getElementById("islrg"), more = document.getElementById("more");
let start = 0, batches = 0, loading = false, done = false;
async function load() {
  if (loading || done) return;
  loading = true;
  const text = await (await fetch(`/async/tiles?q=${encodeURIComponent(q)}&start=${start}`)).text();
  const data = JSON.parse(text.replace(/^\\)\\]\\}'\\n/, ""));
  if (data.redirect) { location.href = data.redirect; return; }
  for (const item of data.ischj.metadata) addTile(item);
  start += data.ischj.metadata.length; batches += 1; loading = false;
  done = !data.more;
  more.hidden = done || batches < %(auto)d;
  document.getElementById("end").hidden = !done;
}
function addTile(item) {
  const tile = document.createElement("div");
  tile.dataset.lpage = item.result.referrer_url;
  const img = document.createElement("img");
  img.src = item.thumbnail.url; img.alt = item.result.page_title;
  tile.append(img);
  tile.addEventListener("click", () => preview(item.id, img.src));
  grid.append(tile);
}
async function preview(id, thumb) {
  const pane = document.getElementById("preview"), img = document.getElementById("preview-img");
  pane.hidden = false; img.src = thumb;  // like Google: the thumbnail first, then the original
  const info = await (await fetch(`/async/preview?id=${id}&q=${encodeURIComponent(q)}`)).json();
  setTimeout(() => {
    img.src = info.url; document.getElementById("preview-link").href = info.page;
  }, 50);
}
document.getElementById("accept")?.addEventListener(
  "click", () => document.getElementById("consent").remove());
more.addEventListener("click", load);
addEventListener("scroll", () => {
  if (batches < %(auto)d && innerHeight + scrollY >= document.body.scrollHeight - 10) load();
});
addEventListener("load", load);
</script>
</body></html>
"""

SORRY = """<!doctype html><html><head><title>Sorry...</title></head><body>
<p>Our systems have detected unusual traffic from your computer network.</p>
<form id="captcha-form" action="/sorry/index" method="post"><div class="g-recaptcha"></div></form>
</body></html>"""


class Site:
    """Builds URLs and answers for one server; `requests` records every path asked for."""

    def __init__(self) -> None:
        self.base = ""
        self.requests: list[str] = []
        self.release = threading.Event()  # lets "hang" answers go when the server stops

    def original(self, tile_id: int) -> str:
        return f"{self.base}/img/{tile_id}.jpg"

    def originals(self) -> list[str]:
        return [self.original(i) for i in range(TOTAL)]

    def search_url(self) -> str:
        return f"{self.base}/search"

    def tile(self, tile_id: int) -> dict:
        item = {
            "id": tile_id,
            "thumbnail": {"url": f"{self.base}/thumb/{tile_id}.jpg"},
            "result": {
                "referrer_url": f"{self.base}/page/{tile_id}.html",
                "page_title": f"Sneaker {tile_id}",
            },
        }
        if has_original(tile_id):
            item["original_image"] = {"url": self.original(tile_id), "width": 160, "height": 120}
        return item

    def tiles(self, q: str, start: int) -> dict:
        if q == "hang":
            self.release.wait(60)
        if q == "captcha-later" and start > 0:
            return {"redirect": "/sorry/index?continue=/search"}
        total = 0 if q == "empty" else TOTAL
        ids = range(start, min(start + BATCH, total))
        return {"ischj": {"metadata": [self.tile(i) for i in ids]}, "more": start + BATCH < total}


def make_handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def send(self, status: int, body: bytes, kind: str, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            site.requests.append(self.path)
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            path, q = parts.path, query.get("q", "")
            if path == "/search" and q == "captcha":
                self.send(302, b"", "text/html", {"Location": "/sorry/index?continue=/search"})
            elif path == "/search":
                accept = "" if q == "stuck-consent" else '<button id="accept">Accept all</button>'
                html = SHELL % {"q": q, "accept": accept, "auto": AUTO_BATCHES}
                self.send(200, html.encode(), "text/html; charset=utf-8")
            elif path.startswith("/sorry/"):
                self.send(429, SORRY.encode(), "text/html; charset=utf-8")
            elif path == "/async/tiles":
                body = ")]}'\n" + json.dumps(site.tiles(q, int(query.get("start", 0))))
                self.send(200, body.encode(), "application/json; charset=utf-8")
            elif path == "/async/preview" and q == "no-preview":
                self.send(404, b"not found", "text/plain")  # the pane keeps the thumbnail
            elif path == "/async/preview":
                tile_id = int(query["id"])
                info = {"url": site.original(tile_id), "page": f"{site.base}/page/{tile_id}.html"}
                self.send(200, json.dumps(info).encode(), "application/json")
            elif path.startswith(("/img/", "/thumb/")):
                tile_id = int(path.rsplit("/", 1)[1].split(".")[0])
                size = (160, 120) if path.startswith("/img/") else (64, 48)
                self.send(200, image_bytes(tile_id, size), "image/jpeg")
            else:
                self.send(404, b"not found", "text/plain")

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A browser killed mid-request (the Ctrl-C tests) leaves broken pipes: expected.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class SiteServer:
    """The site on 127.0.0.1, on a free port, in a background thread."""

    def __init__(self) -> None:
        self.site = Site()
        self.httpd = _QuietServer(("127.0.0.1", 0), make_handler(self.site))
        self.site.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Site:
        self.thread.start()
        return self.site

    def __exit__(self, *exc: object) -> None:
        self.site.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
