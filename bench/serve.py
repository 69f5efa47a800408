"""`curate serve` on a catalog of 50,000 generated images: page times and the server's memory.

    python bench/serve.py [--images 50000] [--workdir DIR] [--keep]

Builds a catalog through `catalog.add_image` (tiny distinct JPEGs, ten classes, a search
engine and query on most, a quality flag on 5%, a split), then starts the real
`curate serve --no-open` in its own process and measures over HTTP on 127.0.0.1:
- the first gallery page (100 images): its HTML the first time the server is asked, and
  the page with its 100 thumbnails made (cold) and served from the cache (warm);
- a page of 100 more (what "Load more" fetches) with its 100 thumbnails, after they are
  cached, at offset 100 and at offset 49,900;
- a filtered page (status pending, flagged) and the duplicate-groups page;
- in Chromium when one is found: the first page's load with every thumbnail drawn, and a
  "Load 100 more" click until its 100 new thumbnails are drawn;
- the server's resident memory (VmRSS and its peak VmHWM) at the end.
The bars (issue 30): first page under 1 s, 100 more under 300 ms, memory under 500 MB.
"""

from __future__ import annotations

import argparse
import http.client
import io
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from catalog import (
    DuplicateMark,
    Provenance,
    add_image,
    assign_split,
    class_names,
    mark_duplicates,
    open_catalog,
    transaction,
    update_image,
)

BIN = Path(sys.executable).parent
ENGINES = ("google", "bing", "duckduckgo", None)


def tiny_jpeg(rng: np.random.Generator, k: int) -> bytes:
    """A distinct 48x40 JPEG: coarse random colours (so thumbnails differ) and k in its noise."""
    coarse = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    img = Image.fromarray(coarse, "RGB").resize((48, 40), Image.Resampling.BILINEAR)
    arr = np.asarray(img).copy()
    arr[0, :4, 0] = np.frombuffer(k.to_bytes(4, "big"), dtype=np.uint8)  # unique bytes
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "JPEG", quality=80)
    return buf.getvalue()


def build(path: Path, n: int) -> float:
    started = time.perf_counter()
    rng = np.random.default_rng(30)
    cat = open_catalog(path)
    classes = class_names(cat)
    ids: list[int] = []
    for k in range(n):
        engine = ENGINES[k % len(ENGINES)]
        class_name = classes[k % len(classes)]
        prov = Provenance(
            origin="download" if engine else "import",
            engine=engine,
            query=f"{class_name} sneaker" if engine else None,
            rank=k // len(classes),
        )
        ids.append(add_image(cat, tiny_jpeg(rng, k), class_name, prov).image["id"])
        if (k + 1) % 5000 == 0:
            print(f"  {k + 1:,} images added ({time.perf_counter() - started:.0f} s)", flush=True)
    with transaction(cat):
        for image_id in ids[::20]:
            update_image(cat, image_id, flags=["blurry"])
    marks = [DuplicateMark(ids[i + 10], ids[i], 3, "phash") for i in range(0, n - 10, 50)]
    mark_duplicates(cat, marks)
    assign_split(cat, "default", [(i, "test" if i % 5 == 0 else "train") for i in ids])
    cat.close()
    return time.perf_counter() - started


class Client:
    """One keep-alive HTTP connection, as a browser tab uses."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def get(self, path: str) -> bytes:
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        return body

    def timed(self, path: str, with_thumbs: bool = False) -> tuple[float, bytes]:
        t = time.perf_counter()
        body = self.get(path)
        if with_thumbs:
            for sha in re.findall(rb"/thumb/([0-9a-f]{64})", body):
                self.get("/thumb/" + sha.decode())
        return time.perf_counter() - t, body


def rss(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    values = {k: int(v.split()[0]) / 1024 for k, v in re.findall(r"(VmRSS|VmHWM):\s+(.*)", status)}
    return values["VmRSS"], values["VmHWM"]


def best(client: Client, path: str, with_thumbs: bool, repeat: int = 5) -> float:
    return min(client.timed(path, with_thumbs)[0] for _ in range(repeat))


def measure(url: str, pid: int) -> dict[str, float]:
    client = Client(url)
    out: dict[str, float] = {}
    out["first page HTML, first request"], body = client.timed("/")
    assert body.count(b'class="cell ') == 100, "the first page holds 100 cells"
    out["first page + 100 thumbnails, cold (made now)"], _ = client.timed("/", True)
    out["first page + 100 thumbnails, cached"] = best(client, "/", True)
    out["first page HTML, warm (median of 5)"] = statistics.median(
        client.timed("/")[0] for _ in range(5)
    )
    for offset in (100, 49_900):
        path = f"/cells?offset={offset}&limit=100"
        client.timed(path, True)  # make its thumbnails
        out[f"100 more at offset {offset:,} + thumbnails, cached"] = best(client, path, True)
        out[f"100 more at offset {offset:,}, HTML only"] = best(client, path, False)
    out["filtered page (pending, flagged) HTML"] = best(client, "/?status=pending&flag=any", False)
    out["duplicate groups page HTML"] = best(client, "/groups", False)
    out["rss_mb"], out["peak_rss_mb"] = rss(pid)
    return out


def in_chromium(url: str) -> dict[str, float]:
    """Load event with every thumbnail drawn, and a "Load 100 more" click until drawn."""
    try:
        from playwright.sync_api import sync_playwright

        from crawler.browser import find_browser
    except ImportError:
        return {}
    chromium = find_browser()
    if chromium is None:
        return {}
    all_drawn = "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 5000})  # every cell on screen
        page.goto(url)  # once, so the browser's own start is not counted
        t = time.perf_counter()
        page.reload()
        page.wait_for_function(all_drawn)
        out["Chromium: first page drawn (thumbnails cached on the server)"] = (
            time.perf_counter() - t
        )
        t = time.perf_counter()
        page.click("#more")
        page.wait_for_function(
            f"() => document.querySelectorAll('.cell').length >= 200 && ({all_drawn})()"
        )
        out["Chromium: Load 100 more, drawn"] = time.perf_counter() - t
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the catalog afterwards")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-serve-"))
    path = work / "catalog.db"
    try:
        if not path.exists():
            print(f"building {args.images:,} images in {work} ...", flush=True)
            print(f"built in {build(path, args.images):.0f} s", flush=True)
        proc = subprocess.Popen(
            [str(BIN / "curate"), "serve", "--no-open", "--catalog", str(path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().split()[2]
            figures = measure(url, proc.pid)
            chromium = in_chromium(url)
            figures["rss_mb"], figures["peak_rss_mb"] = rss(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
        print(f"\ncurate serve on {args.images:,} images ({url})")
        for name, seconds in {**figures, **chromium}.items():
            if name.endswith("_mb"):
                continue
            print(f"  {name:<58} {seconds * 1000:8.0f} ms")
        print(
            f"  server memory: {figures['rss_mb']:.0f} MB resident,"
            f" peak {figures['peak_rss_mb']:.0f} MB"
        )
        first = figures["first page HTML, first request"]
        more = figures["100 more at offset 100 + thumbnails, cached"]
        print(
            f"bars: first page {first * 1000:.0f} ms (< 1000), 100 more {more * 1000:.0f} ms"
            f" (< 300), memory {figures['peak_rss_mb']:.0f} MB (< 500)"
        )
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
