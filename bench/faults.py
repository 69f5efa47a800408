"""Fault run for the store (issue 13): `check --fix` must never lose a file, round after round.

    python bench/faults.py --rounds 20
    # the same run against other code:
    python bench/faults.py --rounds 3 --code /path/to/older/checkout

Each round, in fresh folders, with the console scripts as separate processes:

1. two catalogs in one folder: import different (partly overlapping) image sets into
   a.db and b.db, run `curate check --fix` on a.db; every file of b.db must still be
   there and `curate check` must be clean for both;
2. `curate check --fix` in a loop while two `curate import`s write into the catalog;
3. `curate check --fix` in a loop while `crawl` downloads from a local 127.0.0.1 server
   (tests/fakegoogle.py) into a catalog, and `curate import` into another catalog in
   the same folder.

A file is lost when a row's file is gone or `check --fix` had to mark it missing. Prints
one line per round and a summary with files lost, tracebacks and rounds passed; exits
non-zero on any loss, traceback or failed command.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakegoogle import serve_google  # noqa: E402
from imagegen import image_bytes  # noqa: E402

BIN = Path(sys.executable).parent
MISSING_REASON = "file missing from the store"


@dataclass
class Tally:
    lost: int = 0
    tracebacks: int = 0
    failures: list[str] = field(default_factory=list)
    sweeps: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    lost_by: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.tracebacks or self.failures)


class Runner:
    """Runs the console scripts against the code under test and keeps the tally."""

    def __init__(self, code: Path, tally: Tally):
        self.env = {**os.environ, "PYTHONPATH": str(code)}
        self.tally = tally

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [str(BIN / args[0]), *args[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=self.env,
        )

    def finish(self, proc: subprocess.Popen, what: str, ok_codes: tuple[int, ...] = (0,)) -> str:
        out, _ = proc.communicate(timeout=300)
        if "Traceback" in out:
            self.tally.tracebacks += 1
            self.tally.failures.append(f"{what}: traceback: {out.strip().splitlines()[-1]}")
        elif proc.returncode not in ok_codes:
            self.tally.failures.append(f"{what}: exit {proc.returncode}: {out.strip()[-300:]}")
        return out

    def run(self, *args: str, ok_codes: tuple[int, ...] = (0,)) -> str:
        return self.finish(self.start(*args), " ".join(args[:2]), ok_codes)

    def sweep_while(self, db: Path, writers: list[subprocess.Popen]) -> None:
        """`curate check --fix` over and over until every writer has finished."""
        while any(w.poll() is None for w in writers):
            # Exit 1 is allowed mid-race only for problems it reports and leaves alone.
            self.run("curate", "check", "--fix", "--catalog", str(db), ok_codes=(0, 1))
            self.tally.sweeps += 1


def make_dataset(folder: Path, seeds: range, class_name: str = "Yeezy_350") -> Path:
    for seed in seeds:
        path = folder / class_name / f"{seed}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image_bytes(seed, (64, 48)))
    return folder


def lost_files(db: Path) -> int:
    """Rows whose file is gone, or that `check --fix` marked missing."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT path, status, reason FROM images").fetchall()
    return sum(
        1
        for rel, status, reason in rows
        if not (db.parent / rel).is_file() or reason == MISSING_REASON
    )


def settle(run: Runner, tally: Tally, dbs: list[Path]) -> None:
    for db in dbs:
        tally.lost += lost_files(db)
        run.run("curate", "check", "--catalog", str(db))  # must be clean: exit 0


def two_catalogs(run: Runner, tally: Tally, work: Path, datasets: dict[str, Path]) -> None:
    a, b = work / "a.db", work / "b.db"
    run.run("curate", "import", str(datasets["a"]), "--catalog", str(a))
    run.run("curate", "import", str(datasets["b"]), "--catalog", str(b))
    run.run("curate", "check", "--fix", "--catalog", str(a))
    settle(run, tally, [a, b])


def race_import(run: Runner, tally: Tally, work: Path, datasets: dict[str, Path]) -> None:
    """One catalog alone in its folder: only the race can lose files here."""
    a = work / "a.db"
    writers = [
        run.start("curate", "import", str(datasets["big-a"]), "--catalog", str(a)),
        run.start("curate", "import", str(datasets["big-b"]), "--catalog", str(a)),
    ]
    run.sweep_while(a, writers)
    for proc in writers:
        run.finish(proc, "curate import (racing check --fix)")
    settle(run, tally, [a])


def race_crawl(
    run: Runner, tally: Tally, work: Path, datasets: dict[str, Path], search_url: str
) -> None:
    a, b = work / "a.db", work / "b.db"
    run.run("curate", "import", str(datasets["b"]), "--catalog", str(b))
    crawl = run.start(
        "crawl",
        "--class",
        "Yeezy_350",
        "--search-url",
        search_url,
        *allow_private_args(run),
        "--delay",
        "0",
        "--workers",
        "2",
        "--catalog",
        str(a),
    )
    importer = run.start("curate", "import", str(datasets["a"]), "--catalog", str(b))
    run.sweep_while(a, [crawl, importer])
    run.finish(crawl, "crawl (racing check --fix)")
    run.finish(importer, "curate import (racing check --fix)")
    settle(run, tally, [a, b])


_ALLOW: list[str] = []


def allow_private_args(run: Runner) -> list[str]:
    """`--allow-private` as a flag, or as `--allow-private HOST` where the CLI takes a list."""
    if not _ALLOW:
        help_text = subprocess.run(
            [str(BIN / "crawl"), "--help"],
            capture_output=True,
            text=True,
            env={**run.env, "COLUMNS": "200"},
            errors="replace",
        ).stdout
        _ALLOW.extend(
            ["--allow-private"]
            if "--no-allow-priv" in help_text
            else ["--allow-private", "127.0.0.1"]
        )
    return _ALLOW


def one_round(code: Path, search_url: str, images: int, race_images: int) -> Tally:
    tally = Tally()
    run = Runner(code, tally)
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        tmp_path = Path(tmp)
        datasets = {  # a quarter of b's images are also in a: shared files
            "a": make_dataset(tmp_path / "set-a", range(0, images)),
            "b": make_dataset(tmp_path / "set-b", range(images - images // 4, 2 * images)),
            # Longer imports for the race: more sweeps land while files are in flight.
            "big-a": make_dataset(tmp_path / "big-a", range(10_000, 10_000 + race_images)),
            "big-b": make_dataset(tmp_path / "big-b", range(20_000, 20_000 + race_images)),
        }
        for name, scenario in (("two-catalogs", two_catalogs), ("race-import", race_import)):
            (tmp_path / name).mkdir()
            timed(tally, name, scenario, run, tally, tmp_path / name, datasets)
        (tmp_path / "race-crawl").mkdir()
        timed(
            tally,
            "race-crawl",
            race_crawl,
            run,
            tally,
            tmp_path / "race-crawl",
            datasets,
            search_url,
        )
    return tally


def timed(tally: Tally, name: str, scenario, *args) -> None:
    started, lost_before = time.perf_counter(), tally.lost
    scenario(*args)
    tally.seconds[name] = time.perf_counter() - started
    tally.lost_by[name] = tally.lost - lost_before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--images", type=int, default=40, help="images per imported set")
    parser.add_argument(
        "--race-images", type=int, default=150, help="images per import racing check --fix"
    )
    parser.add_argument(
        "--code", type=Path, default=ROOT, help="checkout whose packages the commands import"
    )
    args = parser.parse_args()
    lost = tracebacks = passed = sweeps = 0
    started = time.perf_counter()
    with serve_google() as search_url:
        for round_no in range(1, args.rounds + 1):
            t0 = time.perf_counter()
            tally = one_round(args.code.resolve(), search_url, args.images, args.race_images)
            lost, tracebacks, sweeps = (
                lost + tally.lost,
                tracebacks + tally.tracebacks,
                sweeps + tally.sweeps,
            )
            passed += tally.ok
            print(
                f"round {round_no}: {'ok' if tally.ok else 'FAILED'}: {tally.lost} files lost, "
                f"{tally.tracebacks} tracebacks, {tally.sweeps} check --fix runs, "
                f"{time.perf_counter() - t0:.1f} s ("
                + ", ".join(
                    f"{name} {secs:.1f} s, {tally.lost_by[name]} lost"
                    for name, secs in tally.seconds.items()
                )
                + ")",
                flush=True,
            )
            for failure in tally.failures[:5]:
                print(f"  {failure}", flush=True)
    elapsed = time.perf_counter() - started
    print(
        f"faults: {lost} files lost, {tracebacks} tracebacks, "
        f"{passed}/{args.rounds} rounds passed, "
        f"{sweeps} check --fix runs racing writers, {elapsed / max(args.rounds, 1):.1f} s a round"
    )
    return 0 if passed == args.rounds else 1


if __name__ == "__main__":
    sys.exit(main())
