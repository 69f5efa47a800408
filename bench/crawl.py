"""Benchmark: crawl throughput against a local server that adds latency to every image.

Prints images/s for (1) a plain sequential `requests` loop, (2) the Fetcher alone with N
workers and (3) a whole crawl (search page, download, Pillow validation, store, catalog
rows), each against the latency-bound limit workers / latency, measured in the same run.

The latency bounds the download; the whole crawl is further bounded by the one thread
that writes catalog rows (in batches, one transaction each) and by parsing the result page.
Steady state shows with more images: `--images 1600`.

Example: python bench/crawl.py --workers 16 --latency 0.05 --images 480
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from catalog import open_catalog
from crawler.crawl import CrawlOptions, crawl_class
from crawler.fetch import Fetcher


def make_jpeg(seed: int) -> bytes:
    """A 160x120 textured JPEG (about 10 KB, a typical thumbnail)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), "RGB").resize(
        (160, 120)
    )
    buf = io.BytesIO()
    coarse.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def serve(port_queue: multiprocessing.Queue, latency: float, count: int) -> None:
    """Run in a separate process so the server does not share the client's GIL."""
    images = [make_jpeg(i) for i in range(count)]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real image hosts do
        # Headers and body go out in two writes; without this, Nagle + delayed ACK add 40 ms.
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/search"):
                body = search_page(self.server.server_address[1], count, "ijn=0" in self.path)
                ctype = "text/html"
            else:
                time.sleep(latency)
                body, ctype = images[int(self.path.rsplit("/", 1)[1].split(".")[0])], "image/jpeg"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def search_page(port: int, count: int, first: bool) -> bytes:
    """A 2019-style Google page listing every image (the first page), then an empty page."""
    tiles = []
    for i in range(count if first else 0):
        meta = {
            "ou": f"http://127.0.0.1:{port}/img/{i}.jpg",
            "ow": 160,
            "oh": 120,
            "pt": f"image {i}",
            "ru": f"https://shop.example.com/{i}",
        }
        tiles.append(
            f'<div class="rg_bx" data-ri="{i}"><div class="rg_meta">{json.dumps(meta)}</div></div>'
        )
    return f"<html><body>{''.join(tiles)}{' ' * 4000}</body></html>".encode()


def sequential(base: str, urls: list[str]) -> float:
    """images/s of a plain loop: one requests.Session, one GET after another."""
    with requests.Session() as session:
        started = time.perf_counter()
        for url in urls:
            response = session.get(base + url, timeout=10)
            response.raise_for_status()
            _ = response.content
        return len(urls) / (time.perf_counter() - started)


def fetcher_only(base: str, urls: list[str], workers: int) -> float:
    with Fetcher(
        requests.Session(),
        max_workers=workers,
        per_host=workers,
        per_host_delay=0.0,
        allow_private=True,
    ) as fetcher:
        started = time.perf_counter()
        results = list(fetcher.fetch_many(base + url for url in urls))
        elapsed = time.perf_counter() - started
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    return len(urls) / elapsed


def whole_crawl(base: str, count: int, workers: int) -> tuple[float, float, int]:
    """(images/s of the whole crawl, images/s of its download + store phase, images stored)."""
    with tempfile.TemporaryDirectory() as tmp, open_catalog(Path(tmp) / "bench.db") as cat:
        fetcher = Fetcher(
            requests.Session(),
            max_workers=workers,
            per_host=workers,
            per_host_delay=0.0,
            allow_private=True,
        )
        with fetcher:
            started = time.perf_counter()
            report = crawl_class(
                cat, "Yeezy_350", CrawlOptions(limit=count, search_url=base + "/search"), fetcher
            )
            elapsed = time.perf_counter() - started
    return report.stored / elapsed, report.stored / report.download_seconds, report.stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every image")
    parser.add_argument("--images", type=int, default=480, help="images for the concurrent runs")
    parser.add_argument("--sequential-images", type=int, default=60)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each concurrent measure; the best is kept "
        "(other processes share this machine's cores)",
    )
    args = parser.parse_args()

    ports: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve, args=(ports, args.latency, args.images), daemon=True
    )
    server.start()
    try:
        base = f"http://127.0.0.1:{ports.get(timeout=60)}"
        urls = [f"/img/{i}.jpg" for i in range(args.images)]
        limit = args.workers / args.latency
        seq = sequential(base, urls[: args.sequential_images])
        fetched = max(fetcher_only(base, urls, args.workers) for _ in range(args.repeat))
        crawled, phase, stored = max(
            whole_crawl(base, args.images, args.workers) for _ in range(args.repeat)
        )
    finally:
        server.terminate()
    print(
        f"latency {args.latency * 1000:.0f} ms/image, {args.workers} workers: "
        f"limit {limit:.0f} images/s "
        f"(concurrent figures: best of {args.repeat})"
    )
    print(
        f"sequential requests loop : {seq:7.1f} images/s ({seq / (1 / args.latency):.0%} "
        f"of its own limit {1 / args.latency:.0f}/s)"
    )
    print(
        f"Fetcher.fetch_many       : {fetched:7.1f} images/s = {fetched / limit:.0%} of limit, "
        f"{fetched / seq:.1f}x sequential"
    )
    print(
        f"crawl, download phase    : {phase:7.1f} images/s = {phase / limit:.0%} of limit, "
        f"{phase / seq:.1f}x sequential "
        "(download, validate, store, catalog rows)"
    )
    print(
        f"crawl, whole             : {crawled:7.1f} images/s = {crawled / limit:.0%} of limit, "
        f"{crawled / seq:.1f}x sequential "
        f"(+ fetching and parsing the {stored}-result page)"
    )
    print(f"machine load average     : {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
