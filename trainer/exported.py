"""Run an exported model with its own runtime (onnxruntime, LiteRT, TensorFlow), without Keras.

`train export` writes a model that takes raw RGB uint8 pixels and returns class
probabilities, with `labels.json` beside it. `train predict --model PATH` answers with it
through this module, which never imports Keras: what it checks is the file a user ships,
read the way the model card (MODEL.md) tells them to read it.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from catalog import IMAGE_MAX_BYTES, InputFileError, InvalidImage, read_input_file, validate_image

from .errors import TrainerError
from .quiet import NOTES, filtered_stderr

EXTRA = 'pip install -e ".[export]"'
# The model each format writes into the export folder, beside labels.json and MODEL.md.
MODEL_NAMES = {"onnx": "model.onnx", "litert": "model.tflite", "saved_model": "saved_model"}
FORMATS = tuple(MODEL_NAMES)
QUANTISATIONS = ("float16", "int8")
# The modules exporting needs besides Keras' TensorFlow backend, and running the result.
NEEDS = {
    "onnx": ("tf2onnx", "onnx", "onnxruntime"),
    "litert": ("ai_edge_litert",),
    "saved_model": ("tensorflow",),
}
# A float export whose probabilities move further from the Keras model's is broken.
FLOAT_TOLERANCE = 1e-3
CHUNK = 64  # files decoded and classified at a time
# LiteRT's interpreter announces its CPU delegate on stderr each time it loads a model.
_LITERT_NOTES = ("Created TensorFlow Lite XNNPACK delegate",)


class MissingRuntime(TrainerError):
    """A package a format needs is not installed; the message names the extra."""


@dataclass
class ExportedModel:
    """An exported model loaded with its runtime: `predict(uint8 NHWC) -> probabilities`."""

    path: Path
    format: str
    runtime: str
    classes: list[str]
    size: int
    run: Callable[[np.ndarray], np.ndarray] = field(repr=False)

    def predict(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """(N, size, size, 3) uint8 -> (N, classes) float32 probabilities, batch by batch."""
        images = np.ascontiguousarray(images, dtype=np.uint8)
        parts = [self.run(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        if not parts:
            return np.zeros((0, len(self.classes)), np.float32)
        return np.concatenate([np.asarray(p, np.float32) for p in parts])


@dataclass
class ExportedPrediction:
    """The top-k (class, probability) pairs for one file, or why it has none (no `unknown`)."""

    path: Path
    top_k: list[tuple[str, float]]
    error: str | None = None
    distance: float | None = None  # an exported model has no `unknown` rule: always None
    unknown: bool = False


def check_export_request(fmt: str, quantize: str | None = None) -> None:
    """Refuse an unknown format or quantisation, or a missing package, before anything loads."""
    if fmt not in FORMATS:
        raise TrainerError(f"use --format onnx, litert or saved_model. Received: format={fmt!r}")
    if quantize is not None and quantize not in QUANTISATIONS:
        raise TrainerError(
            f"use --quantize {' or '.join(QUANTISATIONS)}. Received: quantize={quantize!r}"
        )
    if quantize is not None and fmt != "litert":
        raise TrainerError(f"--quantize is for --format litert only. Received: format={fmt!r}")
    missing = [m for m in NEEDS[fmt] if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingRuntime(f"--format {fmt} needs {', '.join(missing)}: {EXTRA}")


def find_model(path: Path) -> tuple[str, Path]:
    """(format, model path) for an export folder, or for the model file or SavedModel in it."""
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return "saved_model", path
    if path.is_dir():
        found = [
            (f, path / name)
            for f, name in MODEL_NAMES.items()
            if (path / name).is_file() or (path / name / "saved_model.pb").is_file()
        ]
        if len(found) == 1:
            return found[0]
    elif path.suffix == ".onnx":
        return "onnx", path
    elif path.suffix == ".tflite":
        return "litert", path
    raise TrainerError(
        f"{path} is not a model `train export` wrote: give its folder, or the model.onnx, "
        "model.tflite or saved_model in it"
    )


def read_labels(model: Path) -> tuple[list[str], int]:
    """(classes, input size) from the labels.json beside `model`."""
    labels = model.parent / "labels.json"
    try:
        data = json.loads(labels.read_text())
        return list(data["classes"]), int(data["input_size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainerError(f"cannot read {labels} (the classes of {model.name}): {exc}") from None


def load_exported(path: Path) -> ExportedModel:
    """The exported model at `path` (a folder or a model file), loaded with its own runtime.

    Example:
        >>> model = load_exported(Path("runs/3/export/onnx"))
        >>> model.predict(np.zeros((1, model.size, model.size, 3), np.uint8)).shape
        (1, 10)
    """
    fmt, model = find_model(path)
    classes, size = read_labels(model)
    loader = {"onnx": _onnx, "litert": _litert, "saved_model": _saved_model}[fmt]
    runtime, run = loader(model)
    return ExportedModel(model, fmt, runtime, classes, size, run)


def _onnx(path: Path) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingRuntime(f"running an ONNX model needs onnxruntime: {EXTRA}") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no notes about unused initialisers
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return f"onnxruntime {ort.__version__}", lambda x: session.run(None, {name: x})[0]


def _litert(path: Path) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    try:
        from ai_edge_litert import __version__ as version
        from ai_edge_litert.interpreter import Interpreter

        runtime = f"LiteRT {version}"
    except ImportError:
        raise MissingRuntime(f"running a LiteRT model needs ai-edge-litert: {EXTRA}") from None
    with filtered_stderr(_LITERT_NOTES):
        interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count() or 1)
        interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]

    def run(x: np.ndarray) -> np.ndarray:
        if tuple(interpreter.get_input_details()[0]["shape"]) != x.shape:
            interpreter.resize_tensor_input(source, x.shape)  # the batch size changed
            interpreter.allocate_tensors()
        interpreter.set_tensor(source, x)
        interpreter.invoke()
        return interpreter.get_tensor(target).copy()

    return runtime, run


def _saved_model(path: Path) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    try:
        with filtered_stderr(NOTES):
            import tensorflow as tf
    except ImportError:
        raise MissingRuntime(f"running a SavedModel needs TensorFlow: {EXTRA}") from None
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]

    def run(x: np.ndarray) -> np.ndarray:
        (out,) = serve(pixels=tf.constant(x)).values()
        return out.numpy()

    return f"TensorFlow {tf.__version__}", run


def read_pixels(path: Path, size: int) -> np.ndarray:
    """An image file as (size, size, 3) uint8 RGB, exactly as `trainer.data.decode` reads it
    (EXIF rotation, squashed to a square, bilinear), without importing Keras."""
    try:
        with Image.open(path) as opened:
            img: Image.Image = ImageOps.exif_transpose(opened)
            if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
                # convert("RGB") would clip 16-bit values at 255 and give a white image.
                grey = np.asarray(img, dtype=np.float32) / 257.0
                img = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), "L")
            rgb = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise TrainerError(f"cannot read image {path}: {exc}") from exc


def ranked(probs: np.ndarray, classes: list[str], k: int) -> list[list[tuple[str, float]]]:
    """Per row, the k best (class, probability) pairs, best first (ties: lower label first),
    as `trainer.evaluate.top_k` ranks them."""
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [
        [(classes[j], float(row[j])) for j in idx] for row, idx in zip(probs, order, strict=True)
    ]


def predict_exported(
    model_path: Path,
    paths: list[Path],
    *,
    top: int = 3,
    on_progress: Callable[[int], object] | None = None,
) -> tuple[ExportedModel, list[ExportedPrediction]]:
    """Classify each file with the exported model at `model_path`; unreadable files get an
    error and the others are still answered.

    Example:
        >>> model, preds = predict_exported(Path("export/onnx"), [Path("shoe.jpg")])
        >>> preds[0].top_k[0]
        ('Yeezy_350', 0.97)
    """
    if top < 1:
        raise TrainerError(f"--top must be at least 1. Received: top={top}")
    model = load_exported(model_path)
    results = [ExportedPrediction(p, []) for p in paths]
    k = min(top, len(model.classes))
    for start in range(0, len(results), CHUNK):
        chunk = results[start : start + CHUNK]
        for result in chunk:
            result.error = _unreadable(result.path)
        readable = [r for r in chunk if r.error is None]
        if readable:
            images = np.stack([read_pixels(r.path, model.size) for r in readable])
            for result, best in zip(
                readable, ranked(model.predict(images), model.classes, k), strict=True
            ):
                result.top_k = best
        if on_progress:
            on_progress(len(chunk))
    return model, results


def _unreadable(path: Path) -> str | None:
    """Why a file cannot be classified (the catalog's own validation), or None."""
    try:
        validate_image(read_input_file(path, IMAGE_MAX_BYTES), min_side=1)
    except (InvalidImage, InputFileError) as exc:
        return str(exc)
    return None
