"""Fault rounds for issue 13: a full disk (a real small tmpfs) and Ctrl-C twice during a crawl.

    python bench/faults_io.py --rounds 20          # as root: it mounts tmpfs file systems

Each round, in a fresh folder:
1. disk full, import: `curate import` of ~4.5 MB of images into a catalog on a 3 MB tmpfs
   must stop with one "disk full while writing" line and exit 1; the tmpfs is then grown
   (mount -o remount), the same import re-run must finish, and `curate check` be clean;
2. disk full, crawl: the same with `crawl` from a local 127.0.0.1 server;
3. Ctrl-C twice: a crawl against a server whose images take 60 s gets SIGINT, then a
   second one 50 ms later (odd rounds; even rounds only if the first has not ended it
   within 0.5 s, which is then a failure); it must exit 130 within 3 s; a re-run against
   a fast server must finish and `curate check` be clean.
Every command's output is searched for tracebacks; `curate check` counts rows without
files (missing-file), files that do not hash to their name (corrupt-file, half-written)
and temporary files left behind. Prints a line a round and a summary; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
CURATE = [sys.executable, "-c", "from curation.cli import app; app()"]
CRAWL = [sys.executable, "-c", "from crawler.cli import app; app()"]
N_IMAGES = 80


def noise_png(seed: int) -> bytes:
    """A 130x130 PNG of noise (about 50 KB, incompressible): a few fill a small tmpfs."""
    rng = random.Random(seed)
    img = Image.frombytes(
        "RGB", (130, 130), bytes(rng.getrandbits(8) for _ in range(130 * 130 * 3))
    )
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


class Site(BaseHTTPRequestHandler):
    """/search: a 2019-style Google page; /img/N.png: an image, after `delay` seconds when slow."""

    images: dict[int, bytes] = {}
    slow = False

    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_port}"
        if self.path.startswith("/search"):
            if "ijn=0" not in self.path:
                return self._reply(b"<html>" + b" " * 3000 + b"</html>", "text/html")
            tiles = "".join(
                '<div class="rg_bx"><div class="rg_meta">'
                f"{json.dumps({'ou': f'{base}/img/{i}.png', 'pt': str(i)})}"
                "</div></div>"
                for i in self.images
            )
            return self._reply(
                f"<html><body>{tiles}<p>{'padding ' * 300}</p></body></html>".encode(), "text/html"
            )
        number = self.path.rsplit("/", 1)[-1].split(".")[0]
        if self.slow and number.isdigit() and int(number) >= 3:
            time.sleep(60)
        data = self.images.get(int(number)) if number.isdigit() else None
        if data is None:
            self.send_error(404)
            return
        self._reply(data, "image/png")

    def _reply(self, body: bytes, ctype: str) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the crawler went away (Ctrl-C)

    def log_message(self, *args: object) -> None:
        pass


def run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout)


class Round:
    """One round's findings: problems (text) and counters."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.counts: Counter[str] = Counter()

    def command(
        self, what: str, result: subprocess.CompletedProcess, expect: int, needle: str = ""
    ) -> None:
        output = result.stdout + result.stderr
        if "Traceback" in output:
            self.counts["tracebacks"] += 1
            self.problems.append(f"{what}: traceback: {output[-600:]}")
        if result.returncode != expect:
            self.problems.append(
                f"{what}: exit {result.returncode}, expected {expect}: {output[-400:]}"
            )
        if needle and needle not in output:
            self.problems.append(f"{what}: {needle!r} not in: {output[-400:]}")

    def check(self, what: str, db: Path) -> None:
        """`curate check` must be clean; count rows without files, half-written and temp files."""
        temps = list(db.parent.glob("images/*/.tmp-*"))
        self.counts["temp-files"] += len(temps)
        result = run([*CURATE, "check", "--catalog", str(db)])
        for line in result.stdout.splitlines():
            kind = line.split(" ", 1)[0]
            if kind in ("missing-file", "corrupt-file", "orphan-file", "temp-file"):
                self.counts[kind] += 1
        self.command(f"{what}: curate check", result, 0, "ok")


def mount(folder: Path, size: str) -> str | None:
    """Mount a tmpfs of `size` at `folder`; the error text when that is not permitted."""
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    return (
        None
        if result.returncode == 0
        else (result.stderr.strip() or f"mount exited {result.returncode}")
    )


def grow(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=64m", str(folder)], check=True)


def unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def disk_full(work: Path, name: str, command: list[str], done: str, rnd: Round) -> None:
    """`command ... --catalog DB` on a 3 MB tmpfs: one line and exit 1; grown, a re-run finishes."""
    disk = work / f"tmpfs-{name}"
    error = mount(disk, "3m")
    if error:
        rnd.problems.append(f"tmpfs: mount not permitted: {error}")
        return
    try:
        db = disk / "c.db"
        args = [*command, "--catalog", str(db)]
        rnd.command(f"{name} on a full disk", run(args), 1, "disk full while writing")
        grow(disk)
        rnd.command(f"{name} re-run", run(args), 0, done)
        rnd.check(name, db)
    finally:
        unmount(disk)


def ctrl_c_twice(work: Path, server: str, rnd: Round, twice: bool) -> None:
    db = work / "ctrlc" / "c.db"
    db.parent.mkdir()
    args = [
        *CRAWL,
        "--class",
        "Yeezy_350",
        "--search-url",
        f"{server}/search",
        "--allow-private",
        "127.0.0.1",
        "--delay",
        "0",
        "--workers",
        "4",
        "--per-host",
        "4",
        "--timeout",
        "30",
        "--limit",
        str(N_IMAGES),
        "--catalog",
        str(db),
    ]
    Site.slow = True
    try:
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
        )
        time.sleep(4)  # the fast images are stored, the slow ones in flight
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        # Odd rounds press Ctrl-C twice in quick succession; even rounds press it again only
        # when the first has not ended the crawl after 0.5 s (what the first alone achieves).
        while proc.poll() is None and time.monotonic() - started < (0.05 if twice else 0.5):
            time.sleep(0.01)
        if proc.poll() is None:
            rnd.counts["second-ctrl-c-sent" if twice else "first-ctrl-c-too-slow"] += 1
            proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        took = time.monotonic() - started
    finally:
        Site.slow = False
    rnd.counts["ctrl-c-ms"] = round(took * 1000)
    rnd.command(
        "crawl after Ctrl-C twice",
        subprocess.CompletedProcess(args, proc.returncode, out, err),
        130,
    )
    if took > 3 or rnd.counts["first-ctrl-c-too-slow"]:
        rnd.problems.append(f"Ctrl-C twice: exit took {took:.1f} s")
    rnd.command("crawl re-run after Ctrl-C", run(args), 0)
    rnd.check("Ctrl-C", db)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    Site.images = {i: noise_png(i) for i in range(N_IMAGES)}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    server = f"http://127.0.0.1:{httpd.server_port}"
    totals: Counter[str] = Counter()
    ctrl_c_ms: list[int] = []
    passed, started = 0, time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="faults-io-") as tmp:
        dataset = Path(tmp) / "dataset" / "Yeezy_350"
        dataset.mkdir(parents=True)
        for i, data in Site.images.items():
            (dataset / f"{i}.png").write_bytes(data)
        for number in range(1, args.rounds + 1):
            work = Path(tmp) / f"round-{number}"
            work.mkdir()
            rnd = Round()
            t0 = time.perf_counter()
            disk_full(work, "import", [*CURATE, "import", str(dataset.parent)], "0 failed", rnd)
            disk_full(
                work,
                "crawl",
                [
                    *CRAWL,
                    "--class",
                    "Yeezy_350",
                    "--search-url",
                    f"{server}/search",
                    "--allow-private",
                    "127.0.0.1",
                    "--delay",
                    "0",
                    "--limit",
                    str(N_IMAGES),
                ],
                f"{N_IMAGES} hits parsed",
                rnd,
            )
            ctrl_c_twice(work, server, rnd, twice=number % 2 == 1)
            ctrl_c_ms.append(rnd.counts.pop("ctrl-c-ms", 0))
            totals.update(rnd.counts)
            ok = not rnd.problems
            passed += ok
            counts = (
                ", ".join(f"{k} {v}" for k, v in sorted(rnd.counts.items()))
                + f", Ctrl-C exit {ctrl_c_ms[-1]} ms"
            )
            print(
                f"round {number}: {'ok' if ok else 'FAILED'} "
                f"in {time.perf_counter() - t0:.0f} s ({counts})",
                flush=True,
            )
            for problem in rnd.problems:
                print(f"  {problem}", flush=True)
    httpd.shutdown()
    lost = totals["missing-file"] + totals["corrupt-file"]
    print(
        f"faults_io: {passed}/{args.rounds} rounds passed; "
        f"tracebacks {totals['tracebacks']}, files lost {lost} "
        f"(rows without files {totals['missing-file']}, half-written {totals['corrupt-file']}), "
        f"temp files left {totals['temp-files']}, orphans at the end {totals['orphan-file']}; "
        f"Ctrl-C: exit {max(ctrl_c_ms, default=0)} ms at most after the first "
        "(odd rounds press it again 50 ms later); "
        f"{(time.perf_counter() - started) / max(args.rounds, 1):.0f} s a round"
    )
    return 0 if passed == args.rounds else 1


if __name__ == "__main__":
    sys.exit(main())
