"""`train export`: a run's model as ONNX, LiteRT or a TensorFlow SavedModel, checked against Keras.

The exported model takes raw RGB `uint8` pixels at the run's input size and returns class
probabilities: the cast, each backbone's scaling, the ensemble and flip averaging are all in
its graph (the run's model already holds them; the export adds the cast). Keras 3's own
`Model.export` writes every format, on the TensorFlow backend. Beside the model go
`labels.json` and MODEL.md (`modelcard`). The export is then run with its own runtime
(`exported`) on the run's test images and compared with the Keras model, which also gives
the accuracy change of a quantised LiteRT model.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from catalog import Catalog, write_text_atomic

from .data import cache_dir, fill_cache, image_batches
from .errors import TrainerError
from .evaluate import load_run_model, run_test_examples
from .exported import (
    FLOAT_TOLERANCE,
    MODEL_NAMES,
    ExportedModel,
    check_export_request,
    load_exported,
)
from .layers import HorizontalFlip, Preprocess
from .modelcard import CardFacts, model_card
from .predict import choose_run
from .quiet import filtered_stderr

KERAS_FORMATS = {"onnx": "onnx", "litert": "litert", "saved_model": "tf_saved_model"}
# TensorFlow's converters log each step from C++ (W0000/I0000 lines) and Python; dropped.
_CONVERTER_NOTES = ("W0000 ", "I0000 ", "WARNING: All log messages")


@dataclass
class ExportCheck:
    """The export run with its runtime on the run's test images, against the Keras model."""

    runtime: str
    images: int
    same_top1: int
    max_difference: float  # the largest |p_export - p_keras| over images and classes
    top1: float  # the export's top-1 against the true classes
    keras_top1: float

    def agrees(self) -> bool:
        """Same top-1 everywhere and probabilities within the float tolerance."""
        return self.same_top1 == self.images and self.max_difference <= FLOAT_TOLERANCE

    def lines(self) -> list[str]:
        """The check for people: agreement with Keras, then the accuracy change."""
        change = self.top1 - self.keras_top1
        return [
            f"run with {self.runtime} on {self.images} test images: the same top-1 class as the "
            f"Keras model on {self.same_top1} of {self.images}, probabilities within "
            f"{self.max_difference:.2g}",
            f"top-1 {self.top1:.3f} (the Keras model: {self.keras_top1:.3f}, change {change:+.3f})",
        ]


@dataclass
class ExportResult:
    """What `export_run` wrote: the folder, the model in it, its size, time, check."""

    run: dict
    format: str
    quantize: str | None
    folder: Path
    model: Path
    bytes: int
    seconds: float
    size: int
    classes: list[str]
    check: ExportCheck | None


def export_run(
    cat: Catalog,
    run_id: int | None,
    fmt: str,
    *,
    out: Path | None = None,
    quantize: str | None = None,
    check: bool = True,
) -> ExportResult:
    """Export run `run_id` (default: the run `train predict` uses) as `fmt` into `out`.

    `out` defaults to `runs/<id>/export/<fmt>[-<quantize>]/` beside the catalog. `quantize`
    (LiteRT only): `float16` weights, or `int8` dynamic-range weights. With `check`, the
    export is run with its own runtime on the run's test images and compared with Keras.

    Example:
        >>> export_run(cat, 3, "onnx").check.same_top1
        200
    """
    check_export_request(fmt, quantize)
    if keras.backend.backend() != "tensorflow":
        raise TrainerError(
            "train export needs Keras' TensorFlow backend, which writes all three formats; "
            f"KERAS_BACKEND is {keras.backend.backend()!r}"
        )
    run = choose_run(cat, run_id)
    model, classes = load_run_model(cat, run)
    size = int(model.input_shape[1])
    folder = out or default_folder(cat, run, fmt, quantize)
    started = time.monotonic()
    path = write_model(uint8_model(model), folder, fmt, quantize)
    seconds = time.monotonic() - started
    write_text_atomic(folder / "labels.json", json.dumps(labels(classes, size, fmt), indent=1))
    result = ExportResult(
        run, fmt, quantize, folder, path, disk_bytes(path), seconds, size, classes, None
    )
    if check:
        result.check = compare(cat, run, model, classes, load_exported(path))
    modes, flip = graph_facts(model)
    files = [path.name + ("/" if path.is_dir() else ""), "labels.json", "MODEL.md"]
    checked = result.check.lines() if result.check else []
    facts = CardFacts(fmt, quantize, classes, size, modes, flip, files, checked)
    write_text_atomic(folder / "MODEL.md", model_card(cat, run, facts))
    return result


def default_folder(cat: Catalog, run: dict, fmt: str, quantize: str | None = None) -> Path:
    """`runs/<id>/export/<fmt>[-<quantize>]` beside the catalog."""
    run_dir = cat.root / Path(run["artifacts"]["model"]).parent
    return run_dir / "export" / (fmt + (f"-{quantize}" if quantize else ""))


def uint8_model(model: keras.Model) -> keras.Model:
    """`model` behind a uint8 input: callers give raw pixels, the graph casts them."""
    size = int(model.input_shape[1])
    pixels = keras.Input((size, size, 3), dtype="uint8", name="pixels")
    wrapped = keras.Model(pixels, model(keras.ops.cast(pixels, "float32")), name="exported")
    wrapped(np.zeros((1, size, size, 3), np.uint8))  # ONNX export refuses a model never called
    return wrapped


def write_model(model: keras.Model, folder: Path, fmt: str, quantize: str | None = None) -> Path:
    """`model.export` into a temporary folder beside the target, then moved in place: a
    failed export leaves an earlier one whole."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MODEL_NAMES[fmt]
    staging = folder / f".export-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        with _quiet():
            model.export(
                str(staging / target.name),
                format=KERAS_FORMATS[fmt],
                verbose=False,
                **converter_options(quantize),
            )
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        (staging / target.name).rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def converter_options(quantize: str | None) -> dict:
    """The LiteRT converter's settings for a post-training quantisation (none: float32)."""
    if quantize is None:
        return {}
    import tensorflow as tf

    options: dict = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if quantize == "float16":
        options["target_spec"] = {"supported_types": [tf.float16]}
    return options  # int8: dynamic range, weights in int8 and no calibration images


def labels(classes: list[str], size: int, fmt: str) -> dict:
    """labels.json of an export: the run's (classes, input_size) and the input contract."""
    return {
        "classes": classes,
        "input_size": size,
        "input": {"dtype": "uint8", "shape": [None, size, size, 3], "channels": "RGB"},
        "output": "probabilities",
        "format": fmt,
    }


def graph_facts(model: keras.Model) -> tuple[list[str], bool]:
    """(each member's preprocessing mode, whether flip averaging is in the graph)."""
    modes = [layer.mode for layer in model.layers if isinstance(layer, Preprocess)]
    flip = any(isinstance(layer, HorizontalFlip) for layer in model.layers)
    return modes, flip


def compare(
    cat: Catalog, run: dict, model: keras.Model, classes: list[str], exported: ExportedModel
) -> ExportCheck:
    """Run `exported` and the Keras model on the run's test images, batch by batch."""
    examples = run_test_examples(cat, run, classes)
    if not examples:
        raise TrainerError(f"split {run['split']!r} has no test images to check the export on")
    size, folder = int(model.input_shape[1]), cache_dir(cat)
    fill_cache(examples, size, folder)
    ours, theirs = [], []
    for batch in image_batches(examples, size, folder, 32):
        ours.append(np.asarray(model.predict_on_batch(batch.astype(np.float32)), np.float32))
        theirs.append(exported.predict(batch))
    keras_probs, export_probs = np.concatenate(ours), np.concatenate(theirs)
    true = np.array([e.label for e in examples])
    return ExportCheck(
        runtime=exported.runtime,
        images=len(examples),
        same_top1=int((keras_probs.argmax(1) == export_probs.argmax(1)).sum()),
        max_difference=float(np.abs(keras_probs - export_probs).max()),
        top1=float((export_probs.argmax(1) == true).mean()),
        keras_top1=float((keras_probs.argmax(1) == true).mean()),
    )


def disk_bytes(path: Path) -> int:
    """The size of a model file, or of a SavedModel folder and everything in it."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The converters' notes off stderr (C++ lines, Python loggers, warnings); errors kept."""
    loggers = [logging.getLogger(name) for name in ("tf2onnx", "tensorflow", "absl")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with filtered_stderr(_CONVERTER_NOTES), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
