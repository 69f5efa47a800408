"""`train export` (issue 31): size, load time, speed and top-1 of the Keras model and each export.

    python bench/export.py [--catalog PATH --run ID] [--data DIR] [--max-per-class N]
        [--train-args "..."] [--workdir DIR] [--formats NAME,...]

--formats: any of onnx, litert, saved_model, litert-float16, litert-int8 (default: all).

Without --catalog: ../shared/data/sneakers10 is imported, deduplicated and split into a fresh
catalog as a user would (bench/train.py's `prepare`), and plain `train` trains the
recommended configuration on it (long on a CPU). With --catalog and --run: that run is
exported and measured, nothing is trained.

Each format is exported with the library call `train export` makes (its own check against
Keras included), then measured in a child process of its own, as a script using the model
would run: the seconds to import the runtime and load the model, images/s on the run's test
images in batches of 32 (after one warm-up batch), the median ms of one image alone, and the
top-1 on the test images. Each export's probabilities are compared with the Keras model's
(same top-1 class, largest difference). The CPU may be shared with other work: the load
average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VARIANTS = {  # name -> (format, quantisation)
    "onnx": ("onnx", None),
    "litert": ("litert", None),
    "saved_model": ("saved_model", None),
    "litert-float16": ("litert", "float16"),
    "litert-int8": ("litert", "int8"),
}
BATCH = 32
SINGLES = 20  # one-image calls timed for the latency


def measure(kind: str, path: Path, data: Path, out: Path) -> None:
    """In a child process: load `path` (the Keras model, or an export) and time it on `data`."""
    started = time.perf_counter()
    if kind == "keras":
        from trainer.quiet import import_keras

        keras = import_keras()
        from trainer import layers  # noqa: F401  (the saved model's custom layers)

        model = keras.saving.load_model(path, compile=False)

        def run(x: np.ndarray) -> np.ndarray:
            return np.asarray(model.predict_on_batch(x.astype(np.float32)))
    else:
        from trainer.exported import load_exported

        exported = load_exported(path)
        run = exported.run
    load = time.perf_counter() - started
    arrays = np.load(data)
    pixels, labels = arrays["pixels"], arrays["labels"]
    run(pixels[:BATCH])  # warm-up: graph tracing, memory planning
    started = time.perf_counter()
    probs = np.concatenate([run(pixels[i : i + BATCH]) for i in range(0, len(pixels), BATCH)])
    rate = len(pixels) / (time.perf_counter() - started)
    singles = []
    for i in range(min(SINGLES, len(pixels))):
        started = time.perf_counter()
        run(pixels[i : i + 1])
        singles.append(time.perf_counter() - started)
    np.save(out, probs.astype(np.float32))
    print(
        json.dumps(
            {
                "load_s": load,
                "images_per_s": rate,
                "ms_one": 1000 * float(np.median(singles)),
                "top1": float((probs.argmax(1) == labels).mean()),
            }
        )
    )


def child(kind: str, path: Path, data: Path, work: Path) -> tuple[dict, np.ndarray]:
    """`measure` in a fresh Python: what a script using the model pays, imports included."""
    out = work / f"probs-{kind}.npy"
    cmd = [sys.executable, __file__, "--measure", kind, str(path), str(data), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"measuring {kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), np.load(out)


def prepare_run(args: argparse.Namespace, work: Path) -> tuple[Path, int]:
    """A catalog and a finished run of the recommended configuration on sneakers10."""
    sys.path.insert(0, str(ROOT / "bench"))
    from train import keras_env, prepare, subset  # bench/train.py, beside this file

    data = args.data
    if args.max_per_class:
        data = subset(data, work / "data", args.max_per_class)
    catalog = work / "catalog.db"
    print(f"import, dedup, split {data}: {prepare(data, catalog):.0f} s", flush=True)
    cmd = [str(Path(sys.executable).parent / "train"), *shlex.split(args.train_args)]
    started = time.perf_counter()
    env = keras_env(work)
    done = subprocess.run([*cmd, "--catalog", str(catalog)], env=env, text=True)
    if done.returncode:
        raise SystemExit(f"train failed (exit {done.returncode})")
    print(f"train: {time.perf_counter() - started:.0f} s", flush=True)
    from catalog import latest_finished_run, open_catalog

    with open_catalog(catalog) as cat:
        return catalog, int(latest_finished_run(cat)["id"])


def test_arrays(catalog: Path, run_id: int, work: Path) -> tuple[Path, dict, Path]:
    """The run's test pixels and labels in one .npz for the children; (it, run, model file)."""
    from trainer.quiet import import_keras

    import_keras()
    from catalog import get_run, open_catalog
    from trainer.data import cache_dir, pixels
    from trainer.evaluate import run_test_examples

    with open_catalog(catalog) as cat:
        run = get_run(cat, run_id)
        classes = json.loads((cat.root / run["artifacts"]["labels"]).read_text())
        size = classes["input_size"]
        examples = run_test_examples(cat, run, classes["classes"])
        images = pixels(examples, size, cache_dir(cat))
        model = cat.root / run["artifacts"]["model"]
    data = work / "test.npz"
    np.savez(data, pixels=images, labels=np.array([e.label for e in examples]))
    return data, run, model


def main() -> int:
    args = parse_args()
    if args.measure:
        kind, path, data, out = args.measure
        measure(kind, Path(path), Path(data), Path(out))
        return 0
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-export-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.catalog:
        catalog, run_id = args.catalog, args.run
    else:
        catalog, run_id = prepare_run(args, work)
    data, run, keras_file = test_arrays(catalog, run_id, work)
    n = len(np.load(data)["labels"])
    print(
        f"run {run_id} ({run['backbone']}, {run['params'].get('size')} px) on {n} test images; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )
    rows = [
        row(
            "keras",
            keras_file,
            file_bytes(keras_file),
            None,
            *child("keras", keras_file, data, work),
        )
    ]
    reference = rows[0]["probs"]
    from catalog import open_catalog
    from trainer.export import export_run

    for name in args.formats.split(","):
        fmt, quantize = VARIANTS[name]
        with open_catalog(catalog) as cat:
            result = export_run(cat, run_id, fmt, out=work / name, quantize=quantize, check=False)
        measured, probs = child(name, result.folder, data, work)
        rows.append(row(name, result.model, result.bytes, result.seconds, measured, probs))
        print_row(rows[-1], reference)
    print()
    print_table(rows, reference)
    return 0


def row(name, path, size, export_s, measured, probs) -> dict:
    return {
        "name": name,
        "path": path,
        "mb": size / 1e6,
        "export_s": export_s,
        **measured,
        "probs": probs,
    }


def file_bytes(path: Path) -> int:
    return path.stat().st_size


def print_row(r: dict, reference: np.ndarray) -> None:
    same = int((r["probs"].argmax(1) == reference.argmax(1)).sum())
    print(
        f"{r['name']}: {r['mb']:.1f} MB, exported in {r['export_s']:.0f} s, loads in "
        f"{r['load_s']:.1f} s, {r['images_per_s']:.1f} images/s, top-1 {r['top1']:.3f}, "
        f"same top-1 as Keras on {same} of {len(reference)}",
        flush=True,
    )


def print_table(rows: list[dict], reference: np.ndarray) -> None:
    keras_top1 = rows[0]["top1"]
    print(
        "| model | MB | export s | load s | images/s (batch 32) | ms (1 image) | top-1 | vs Keras "
        "| same top-1 | max abs diff |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        same = int((r["probs"].argmax(1) == reference.argmax(1)).sum())
        diff = float(np.abs(r["probs"] - reference).max())
        export_s = "-" if r["export_s"] is None else f"{r['export_s']:.0f}"
        print(
            f"| {r['name']} | {r['mb']:.1f} | {export_s} | {r['load_s']:.1f} | "
            f"{r['images_per_s']:.1f} | {r['ms_one']:.0f} | {r['top1']:.3f} | "
            f"{r['top1'] - keras_top1:+.3f} | {same}/{len(reference)} | {diff:.2g} |"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, help="an existing catalog (with --run)")
    parser.add_argument("--run", type=int, help="the finished run of --catalog to export")
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "sneakers10")
    parser.add_argument("--max-per-class", type=int, default=0, help="smoke runs: fewer images")
    parser.add_argument("--train-args", default="", help="options for `train` (default: none)")
    parser.add_argument("--formats", default=",".join(VARIANTS))
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if bool(args.catalog) != bool(args.run):
        parser.error("--catalog and --run go together")
    unknown = set(args.formats.split(",")) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown formats {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    return args


if __name__ == "__main__":
    sys.exit(main())
