"""Run the kill-and-resume tests many times in a row (issue 6: 20 passes in a row).

    python bench/kill_loop.py --count 20

Each round runs every `test_kill*` test (import, dedup, split, export, training), each of
which SIGKILLs a command mid-way, re-runs it and asserts with the integrity check that
nothing was lost, doubled or half-written. Prints the rounds passed and the time per round.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("-k", default="kill", help="pytest -k expression selecting the tests")
    args = parser.parse_args()
    passed = 0
    started = time.perf_counter()
    for round_no in range(1, args.count + 1):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-x",
                "-p",
                "no:cacheprovider",
                "-k",
                args.k,
                str(ROOT / "tests" / "stress_tests"),
                str(ROOT / "tests" / "crawler_tests"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        summary = (
            result.stdout.strip().splitlines()[-1]
            if result.stdout.strip()
            else result.stderr[-300:]
        )
        print(
            f"round {round_no}: {'ok' if result.returncode == 0 else 'FAILED'} ({summary})",
            flush=True,
        )
        if result.returncode != 0:
            print(result.stdout[-4000:])
            break
        passed += 1
    elapsed = time.perf_counter() - started
    print(
        f"kill-and-resume: {passed}/{args.count} rounds passed in a row, "
        f"{elapsed / max(passed, 1):.1f} s a round"
    )
    return 0 if passed == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
