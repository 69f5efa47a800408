"""The whole pipeline through the installed console scripts (issue 6).

A server on 127.0.0.1 plays Google Images: each class's search answers with a result
page in one of two Google markups (2019 `rg_meta` JSON, and `/imgres?imgurl=` links), and
serves the images it links to, among them planted exact and near duplicates, broken files,
an HTML page served as a JPEG and a 404. The test then runs crawl -> dedup -> quality ->
scripted review -> split -> export -> train -> evaluate -> predict, asserting the catalog's
rows and the files on disk after every step.
"""

from __future__ import annotations

import html
import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from imagegen import image_bytes, make_image
from PIL import Image

BIN = Path(sys.executable).parent
# query (as seeded in the catalog) -> class, markup, image seeds
CLASSES = {
    "Yeezy 350 sneaker": ("Yeezy_350", "rg_meta", range(0, 8)),
    "Yeezy 500 sneaker": ("Yeezy_500", "imgres", range(100, 108)),
    "Nike Air Max 1 sneaker": ("Air_Max_1", "rg_meta", range(200, 208)),
}
DISTINCT = 8


def _near_copy(seed: int) -> bytes:
    """The image of `seed`, shrunk to 85% and re-encoded at low quality: a near duplicate."""
    img = make_image(seed, (160, 120)).resize((136, 102), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=40)
    return buf.getvalue()


def _routes(seeds: range) -> dict[str, tuple[int, str, bytes]]:
    """path -> (status, content type, body) for one class's images and planted faults."""
    first = seeds[0]
    routes = {f"/img/{s}.jpg": (200, "image/jpeg", image_bytes(s, (160, 120))) for s in seeds}
    routes[f"/mirror/{first}.jpg"] = routes[f"/img/{first}.jpg"]  # exact duplicate, other URL
    routes[f"/near/{first}.jpg"] = (200, "image/jpeg", _near_copy(first))
    routes[f"/broken/{first}.jpg"] = (200, "image/jpeg", image_bytes(first + 50, (160, 120))[:600])
    routes[f"/html/{first}.jpg"] = (200, "image/jpeg", b"<html><body>not an image</body></html>")
    return routes  # /gone/<first>.jpg is linked but not served: a 404


def _links(seeds: range) -> list[str]:
    first = seeds[0]
    return [f"/img/{s}.jpg" for s in seeds] + [
        f"/mirror/{first}.jpg", f"/near/{first}.jpg", f"/broken/{first}.jpg", f"/html/{first}.jpg", f"/gone/{first}.jpg",
    ]


def _rg_meta_page(base: str, links: list[str]) -> str:
    tiles = []
    for rank, link in enumerate(links):
        meta = {"ou": base + link, "ow": 160, "oh": 120, "pt": f"shoe {rank}", "ru": f"{base}/shop/{rank}",
                "isu": "127.0.0.1", "ity": "jpg", "id": f"t{rank}:"}
        tiles.append(f'<div class="rg_bx rg_di rg_el"><a class="rg_l" href="#"><img class="rg_ic rg_i"></a>'
                     f'<div class="rg_meta notranslate">{html.escape(json.dumps(meta), quote=False)}</div></div>')
    return "<!doctype html><html><head><title>Google Search</title></head><body><div id='rg_s'>" + (
        "\n".join(tiles) + "</div>" + "<p>" + "padding " * 300 + "</p></body></html>")


def _imgres_page(base: str, links: list[str]) -> str:
    anchors = [
        f'<a class="rg_l" href="/imgres?imgurl={quote(base + link, safe="")}&amp;imgrefurl='
        f'{quote(f"{base}/shop/{rank}", safe="")}&amp;w=160&amp;h=120"><img alt="shoe {rank}"></a>'
        for rank, link in enumerate(links)
    ]
    return "<!doctype html><html><head><title>Google Search</title></head><body><div id='ires'>" + (
        "\n".join(anchors) + "</div><p>" + "padding " * 300 + "</p></body></html>")


class _Google(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, str, bytes]] = {}

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        if url.path == "/search":
            query = parse_qs(url.query)["q"][0]
            _, markup, seeds = CLASSES[query]
            base = f"http://127.0.0.1:{self.server.server_port}"
            page = (_rg_meta_page if markup == "rg_meta" else _imgres_page)(base, _links(seeds))
            return self._send(200, "text/html; charset=utf-8", page.encode())
        status, ctype, body = self.routes.get(url.path, (404, "text/plain", b"not found"))
        self._send(status, ctype, body)

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def google():
    _Google.routes = {path: r for _, _, seeds in CLASSES.values() for path, r in _routes(seeds).items()}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Google)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/search"
    finally:
        server.shutdown()
        server.server_close()


def _run(*args: str, ok: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200"}
    result = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout, env=env)
    if ok:
        assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _rows(db: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_crawl_curate_train_end_to_end(google, tmp_path):
    db = tmp_path / "catalog.db"
    cat = ("--catalog", str(db))

    # crawl each class from the local "Google"
    for _, (cls, _, seeds) in CLASSES.items():
        out = _run("crawl", "--class", cls, "--search-url", google, "--allow-private", "--delay", "0",
                   "--timeout", "5", *cat).stdout
        assert "stored" in out
    per_class = dict(_rows(db, "SELECT class, count(*) FROM images GROUP BY class"))
    assert per_class == {cls: DISTINCT + 1 for cls, _, _ in CLASSES.values()}  # 8 distinct + the near copy
    failures = dict(_rows(db, "SELECT url, error FROM fetches WHERE status != 'stored' AND url LIKE '%/broken/%'"))
    assert len(failures) == 3 and all(failures.values())
    failed_kinds = {url.split("/")[3] for (url,) in _rows(db, "SELECT url FROM fetches WHERE status NOT IN ('stored')")}
    assert {"broken", "html", "gone"} <= failed_kinds
    assert all(Path(tmp_path / p).is_file() for (p,) in _rows(db, "SELECT path FROM images"))
    assert _run("curate", "check", *cat).returncode == 0

    # a second crawl downloads nothing new
    again = _run("crawl", "--class", "Yeezy_350", "--search-url", google, "--allow-private", "--delay", "0", *cat)
    assert _rows(db, "SELECT count(*) FROM images")[0][0] == 3 * (DISTINCT + 1), again.stdout

    # dedup: each class's near copy joins its original, the original (larger) is kept
    _run("curate", "dedup", *cat)
    dups = _rows(db, "SELECT i.class, i.width, k.width FROM duplicates d JOIN images i ON i.id = d.image_id "
                     "JOIN images k ON k.id = d.duplicate_of")
    assert sorted(dups) == sorted((cls, 136, 160) for cls, _, _ in CLASSES.values())
    assert _rows(db, "SELECT count(*) FROM images WHERE status = 'duplicate'")[0][0] == 3

    # quality flags are recorded and change no status
    _run("curate", "quality", *cat)
    assert _rows(db, "SELECT count(*) FROM images WHERE status = 'pending'")[0][0] == 3 * DISTINCT

    # scripted review: accept, reject, relabel, undo
    ids = [i for (i,) in _rows(db, "SELECT id FROM images WHERE class = 'Yeezy_350' AND status = 'pending' ORDER BY id")]
    _run("curate", "accept", str(ids[0]), str(ids[1]), *cat)
    _run("curate", "reject", str(ids[2]), *cat)
    _run("curate", "relabel", str(ids[3]), "--to", "Yeezy_500", *cat)
    _run("curate", "reject", str(ids[4]), *cat)
    _run("curate", "undo", *cat)  # takes back the last rejection
    states = dict((i, (c, s)) for i, c, s in _rows(db, "SELECT id, class, status FROM images"))
    assert [states[i] for i in ids[:5]] == [
        ("Yeezy_350", "accepted"), ("Yeezy_350", "accepted"), ("Yeezy_350", "rejected"),
        ("Yeezy_500", "accepted"), ("Yeezy_350", "pending"),
    ]
    assert _rows(db, "SELECT count(*) FROM reviews")[0][0] >= 5

    # split 80/20 without leaks
    _run("curate", "split", "--seed", "7", *cat)
    subsets = dict(_rows(db, "SELECT subset, count(*) FROM splits WHERE name = 'default' GROUP BY subset"))
    usable = _rows(db, "SELECT count(*) FROM images WHERE status IN ('pending', 'accepted')")[0][0]
    assert subsets["train"] + subsets["test"] == usable and 3 <= subsets["test"] <= 8
    assert _run("curate", "leaks", "default", *cat).returncode == 0

    # export a Keras-ready tree that matches the split
    export = tmp_path / "export"
    _run("curate", "export", str(export), "--copy", *cat)
    exported = {sub: sum(1 for p in (export / sub).rglob("*") if p.is_file()) for sub in ("train", "test")}
    assert exported == {"train": subsets["train"], "test": subsets["test"]}
    assert (export / "manifest.csv").is_file()

    # train, evaluate, predict
    _run("train", "--backbone", "vgg16", "--weights", "none", "--epochs", "1", "--fine-tune-epochs", "1",
         "--size", "32", "--augment-passes", "1", "--batch-size", "8", *cat)
    [(run_id, status, metrics)] = _rows(db, "SELECT id, status, metrics FROM runs")
    assert status == "finished" and 0.0 <= json.loads(metrics)["top1"] <= 1.0
    predictions = _rows(db, "SELECT image_id, top_k FROM predictions WHERE run_id = ?", run_id)
    assert len(predictions) == subsets["test"]
    evaluated = _run("train", "evaluate", str(run_id), *cat).stdout
    assert f"run {run_id}: top-1" in evaluated
    image_id, top_k = predictions[0]
    [(path,)] = _rows(db, "SELECT path FROM images WHERE id = ?", image_id)
    predicted = _run("train", "predict", str(tmp_path / path), "--run", str(run_id), "--top", "3", *cat).stdout
    line = next(ln for ln in predicted.splitlines() if ln.startswith(str(tmp_path / path)))
    shown = line.split("\t")[1].split()[::2]  # "cls p  cls p  cls p" -> classes, best first
    assert shown == [cls for cls, _ in json.loads(top_k)[:3]]
    assert _run("curate", "check", *cat).returncode == 0
