"""Images per second of the trainer's phases, per backbone, on whatever device the backend has.

    KERAS_BACKEND=torch python bench/gpu.py [--size 224] [--images 2048]
        [--backbones mobilenet_v2,efficientnet_lite0]
    KERAS_BACKEND=jax   python bench/gpu.py ...
    python bench/gpu.py --size 64 --images 64          # a quick check on a CPU (TensorFlow)
    python bench/gpu.py --devices 1; python bench/gpu.py --devices 8   # data-parallel scaling

Phases, each through the trainer's own code (issue 10):
- `features (JPEG)`: decode JPEG files in worker threads + augment (Keras layers, on the
  device) + the frozen bottom's forward pass + float16 maps written to disk
  (`features.feature_pass` without a pixel cache);
- `features (cached)`: the same from the uint8 decode cache, as every pass after the first;
- `fine-tune top`: forward + backward of the top on cached maps read from disk
  (`features.CachedRows`, as phase 2 trains);
- `fine-tune full`: one training step of the whole backbone + head on uint8 pixels
  (BatchNorm frozen), the plain recipe's cost.

Images are synthetic JPEGs (or ../shared/data/sneakers41 with --source sneakers41);
weights are random (`--weights none`, the speed is the same) unless given. TensorFlow is
not needed with KERAS_BACKEND=torch or jax, nor `tf.data`. Mixed precision (bfloat16 on
Ampere and newer) and large batches are on when a GPU is visible, as in training.

`--devices N`: data-parallel over the first N devices, as `train --devices N` (Keras'
DataParallel on JAX, a MirroredStrategy on TensorFlow; one device on torch); each line
then names the device count, and `--batch` is the global batch. Running it with 1 and
with N gives the scaling figure (images/s at N devices over images/s at 1).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras
import numpy as np
from PIL import Image

from trainer import backend
from trainer.backbones import build_backbone, get_backbone, parse_weights
from trainer.data import Example, fill_cache
from trainer.features import CachedRows, Halves, feature_pass
from trainer.model import build_classifier, build_head, split_backbone, top_classifier, unfreeze

LAYOUT = {"devices": 1}  # what backend.configure chose, set by main()
SNEAKERS41 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sneakers41"
CLASSES = 10


def synthetic_images(folder: Path, count: int, size: int) -> list[Example]:
    """`count` noisy JPEGs of about the sneaker photos' size, labelled round-robin."""
    rng = np.random.default_rng(0)
    out = []
    side = max(size, 160)
    for i in range(count):
        arr = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=85)
        path = folder / f"{i:06d}.jpg"
        path.write_bytes(buf.getvalue())
        out.append(Example(i, f"{i:064x}", "c", i % CLASSES, path))
    return out


def sneaker_images(count: int) -> list[Example]:
    files = sorted(SNEAKERS41.rglob("*.jpg"))[:count]
    if not files:
        raise SystemExit(f"no images under {SNEAKERS41}; use --source synthetic")
    files = (files * (count // len(files) + 1))[:count]
    return [Example(i, f"{i:064x}", "c", i % CLASSES, p) for i, p in enumerate(files)]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def report(name: str, phase: str, images: int, seconds: float, batch: int) -> None:
    policy = keras.mixed_precision.global_policy().name
    devices = LAYOUT["devices"]
    print(
        f"{keras.backend.backend():10} {name:20} {phase:18} {images / seconds:9.1f} images/s  "
        f"on {devices} device(s) "
        f"({images} images in {seconds:.1f} s, batch {batch}, {policy})",
        flush=True,
    )


def bench_backbone(
    name: str, weights: str | None, examples: list[Example], size: int, batch: int, work: Path
) -> None:
    with backend.strategy_scope():  # data-parallel over --devices, as training is
        bench_phases(name, weights, examples, size, batch, work)


def bench_phases(
    name: str, weights: str | None, examples: list[Example], size: int, batch: int, work: Path
) -> None:
    entry = get_backbone(name)
    base = build_backbone(name, weights, size)
    base.trainable = False
    bottom, top = split_backbone(base, entry.preprocess, size, entry.cut)
    member = Halves(bottom, top, {"backbone": name, "size": size})
    warm, pixels = examples[:batch], work / "pixels"
    # Warm-up (compilation) on the first batch: its own cache key, so it is not reused below.
    feature_pass([member], warm, size, None, work / "features", 1, batch)
    report(
        name,
        "features (JPEG)",
        len(examples),
        timed(lambda: feature_pass([member], examples, size, None, work / "features", 2, batch)),
        batch,
    )
    fill_cache(examples, size, pixels)
    maps = []
    seconds = timed(
        lambda: maps.extend(
            feature_pass([member], examples, size, pixels, work / "features", 3, batch)
        )
    )
    report(name, "features (cached)", len(examples), seconds, batch)

    unfreeze(top)
    model = top_classifier(top, build_head(int(top.output.shape[-1]), CLASSES))
    model.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy")
    labels = np.array([e.label for e in examples])
    data = CachedRows([maps], labels, batch, shuffle=True, pad_to=LAYOUT["devices"])
    epochs = EpochTimes()
    model.fit(data, epochs=2, verbose=0, callbacks=[epochs])
    report(name, "fine-tune top", len(examples), epochs.seconds[-1], batch)

    for layer in base.layers:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    full = build_classifier(
        base, build_head(int(top.output.shape[-1]), CLASSES), entry.preprocess, size
    )
    full.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).integers(0, 255, (batch, size, size, 3), dtype=np.uint8)
    y = labels[:batch] if len(labels) >= batch else np.resize(labels, batch)
    full.train_on_batch(x, y)  # compile
    steps = max(1, len(examples) // batch)
    report(
        name,
        "fine-tune full",
        steps * batch,
        timed(lambda: [full.train_on_batch(x, y) for _ in range(steps)]),
        batch,
    )


class EpochTimes(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.seconds.append(time.perf_counter() - self._t)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="mobilenet_v2,efficientnet_lite0")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="default: the trainer's inference batch (256 on a GPU, 64 on a CPU)",
    )
    parser.add_argument(
        "--weights", default="none", help="none, or one weights file for every backbone"
    )
    parser.add_argument("--source", choices=("synthetic", "sneakers41"), default="synthetic")
    parser.add_argument(
        "--devices", type=int, default=None, help="data-parallel over this many (default: all)"
    )
    args = parser.parse_args()
    info = backend.configure(devices=args.devices)
    LAYOUT.update(info)
    batch = args.batch or backend.inference_batch_size()
    backend.check_batch(min(batch, args.images))  # a global batch the devices split evenly
    print(
        f"keras {keras.__version__}, backend {info['backend']}, GPUs {info['gpus']}, "
        f"devices {info['layout']['devices']} ({info['layout']['engine']}), "
        f"policy {info['policy']}, "
        f"{os.cpu_count()} CPUs; {args.images} images at {args.size} px",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(tmp)
        (work / "jpeg").mkdir()
        examples = (
            synthetic_images(work / "jpeg", args.images, args.size)
            if args.source == "synthetic"
            else sneaker_images(args.images)
        )
        for name in args.backbones.split(","):
            bench_backbone(
                name,
                parse_weights(args.weights),
                examples,
                args.size,
                min(batch, args.images),
                work / name,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
