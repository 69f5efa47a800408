"""bench/train.py: no backend in its own process; smoke subsets (issues 10, 11)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_bench_train_and_scale_import_no_backend(tmp_path):
    """Issue 10: `bench/train.py --scale` imported Keras at the top, so the parent process,
    which only builds files and watches `train`, printed TensorFlow's notes and held its memory."""
    code = (
        f"import sys; sys.path.insert(0, {str(BENCH)!r}); import train, scale;"
        f"train.keras_env(__import__('pathlib').Path({str(tmp_path)!r}));"
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]" and done.stderr == ""


def test_max_per_class_copies_the_first_files_of_each_class(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_train", BENCH / "train.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for cls, count in (("a", 5), ("b", 2)):
        (tmp_path / "src" / cls).mkdir(parents=True)
        for i in range(count):
            (tmp_path / "src" / cls / f"{i}.jpg").write_bytes(b"x")
    (tmp_path / "src" / "notes.txt").write_text("not a class")
    out = bench.subset(tmp_path / "src", tmp_path / "out", 3)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "a/0.jpg",
        "a/1.jpg",
        "a/2.jpg",
        "b/0.jpg",
        "b/1.jpg",
    ]
