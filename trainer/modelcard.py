"""MODEL.md, the model card `train export` writes beside an exported model.

It says what a user of the file needs without this project: the classes, the input
contract, how to run it (a script for the format's runtime), the run's test scores, what
became of the `unknown` rule, where the training images came from (from the catalog), and
that web-crawled images remain their owners' work.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from catalog import USABLE_STATUSES, Catalog, list_classes, split_images

# What each preprocessing mode does to the 0-255 pixels (trainer.layers.Preprocess).
MODE_TEXT = {
    "caffe": "RGB to BGR, then the ImageNet channel means subtracted",
    "tf": "x / 127.5 - 1",
    "lite": "(x - 127) / 128",
    "none": "left as they are",
}
# Per format: the one-line install and a script that classifies files named on its command line.
INSTALL = {
    "onnx": "pip install onnxruntime numpy pillow",
    "litert": "pip install ai-edge-litert numpy pillow",
    "saved_model": "pip install tensorflow numpy pillow",
}
_HEAD = """\
import json
import sys
from pathlib import Path

import numpy as np
{runtime}
from PIL import Image, ImageOps

here = Path(__file__).parent
labels = json.loads((here / "labels.json").read_text())
size, classes = labels["input_size"], labels["classes"]


def read(path):
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), np.uint8)


"""
_LOOP = """


for path in sys.argv[1:]:
    probs = classify(read(path)[None])[0]
    best = int(probs.argmax())
    print(f"{path}\\t{classes[best]} {probs[best]:.3f}")
"""
# (the runtime's import, how it loads the model and classifies a uint8 batch)
_RUNNERS = {
    "onnx": (
        "import onnxruntime as ort",
        """\
session = ort.InferenceSession(str(here / "model.onnx"))
name = session.get_inputs()[0].name


def classify(pixels):
    return session.run(None, {name: pixels})[0]""",
    ),
    "litert": (
        "from ai_edge_litert.interpreter import Interpreter",
        """\
interpreter = Interpreter(model_path=str(here / "model.tflite"))
interpreter.allocate_tensors()
source = interpreter.get_input_details()[0]["index"]
target = interpreter.get_output_details()[0]["index"]


def classify(pixels):
    interpreter.set_tensor(source, pixels)
    interpreter.invoke()
    return interpreter.get_tensor(target)""",
    ),
    "saved_model": (
        "import tensorflow as tf",
        """\
serve = tf.saved_model.load(str(here / "saved_model")).signatures["serving_default"]


def classify(pixels):
    return serve(pixels=tf.constant(pixels))["output_0"].numpy()""",
    ),
}
_NAMES = {
    "onnx": "`model.onnx`: input `pixels`, output the only one (ONNX Runtime or any ONNX runtime)",
    "litert": "`model.tflite`: signature `serving_default`, input `pixels`, output `output_0`",
    "saved_model": "`saved_model/`: signature `serving_default`, input `pixels`, output `output_0`",
}


@dataclass
class CardFacts:
    """What the export knows that the catalog does not: the graph, the files, the check."""

    format: str
    quantize: str | None
    classes: list[str]
    size: int
    modes: list[str]
    flip: bool
    files: list[str]
    check: list[str] = field(default_factory=list)  # lines about the check on the test images


def script(fmt: str) -> str:
    """The card's script for `fmt`: classify the image files named on its command line."""
    runtime, runner = _RUNNERS[fmt]
    return _HEAD.replace("{runtime}", runtime) + runner + _LOOP


def model_card(cat: Catalog, run: dict, facts: CardFacts) -> str:
    """The text of MODEL.md for run `run` exported as `facts` says."""
    name = facts.format + (f" ({facts.quantize})" if facts.quantize else "")
    parts = [
        f"# Model card: run {run['id']} ({run['backbone']}), exported as {name}",
        f"A classifier of {len(facts.classes)} classes: "
        + ", ".join(f"`{c}`" for c in facts.classes)
        + f". Files: {', '.join(f'`{f}`' for f in facts.files)}.",
        _contract(run, facts),
        _usage(facts.format),
        _scores(run, facts),
        _unknown(run),
        _training(run),
        _provenance(cat, run),
        _rights(),
    ]
    return "\n\n".join(parts) + "\n"


def _contract(run: dict, facts: CardFacts) -> str:
    members = run["backbone"].split("+")
    steps = ["the pixels cast to float32"]
    for member, mode in zip(members, facts.modes, strict=False):
        steps.append(f"for `{member}`: {MODE_TEXT.get(mode, mode)}")
    if len(members) > 1:
        steps.append(f"the {len(members)} backbones' pooled features joined for one head")
    if facts.flip:
        steps.append("the probabilities of the image and of its mirror image averaged")
    s = facts.size
    return "\n".join(
        [
            "## Input and output",
            "",
            f"- **Input**: a batch of RGB images, `uint8` 0-255, shape `(N, {s}, {s}, 3)` "
            "(batch, height, width, channels). Each image is squashed, not cropped, to "
            f"{s} x {s} px with bilinear resampling after its EXIF rotation is applied (how "
            "it was trained); grey, palette and CMYK images are converted to RGB first.",
            f"- **Output**: `(N, {len(facts.classes)})` float32 class probabilities that sum "
            "to 1, in the order of `classes` in `labels.json`.",
            f"- **Names**: {_NAMES[facts.format]}.",
            "- **Inside the model** (give it raw pixels, never scaled ones): "
            + "; ".join(steps)
            + ".",
            *_quantised(facts.quantize),
        ]
    )


def _quantised(quantize: str | None) -> list[str]:
    if quantize is None:
        return []
    weights = "float16" if quantize == "float16" else "int8 (dynamic range)"
    return [
        f"- **Quantised**: the weights are stored as {weights} after training; how far its "
        "answers move from the float model's is under the scores."
    ]


def _usage(fmt: str) -> str:
    return "\n".join(
        [
            "## Run it without this project",
            "",
            "Install the runtime, save the script below as `classify.py` in this folder, and "
            "give it image files:",
            "",
            "```bash",
            INSTALL[fmt],
            "python classify.py shoe1.jpg shoe2.png",
            "```",
            "",
            "```python",
            script(fmt).rstrip(),
            "```",
            "",
            "With this project installed, `train predict --model FOLDER FILES...` prints the "
            "same answers (the top 3 classes each).",
        ]
    )


def _scores(run: dict, facts: CardFacts) -> str:
    m = run["metrics"]
    top3 = f", top-3 {m['top3']:.3f}" if "top3" in m else ""
    lines = [
        "## Scores on the test split",
        "",
        f"The Keras model of run {run['id']}: top-1 {m.get('top1', 0):.3f}{top3} on "
        f"{m.get('test_images', 0)} test images of split `{run['split']}`, never seen in "
        "training.",
        "",
        "| class | precision | recall | test images |",
        "|---|---:|---:|---:|",
    ]
    for name, c in (m.get("per_class") or {}).items():
        lines.append(
            f"| {_cell(name)} | {c['precision']:.2f} | {c['recall']:.2f} | {c['support']} |"
        )
    if facts.check:
        lines += ["", "This export, run with its own runtime on the same test images:", ""]
        lines += [f"- {line}" for line in facts.check]
    return "\n".join(lines)


def _unknown(run: dict) -> str:
    rule = run["metrics"].get("unknown")
    if not rule:
        held = f"Run {run['id']} has no `unknown` rule (trained by an older version)."
    elif rule.get("usable") is False:
        held = f"Run {run['id']} has no usable `unknown` rule: {rule.get('why', '')}."
    else:
        held = (
            f"With this project, `train predict` answers `unknown` for run {run['id']} when an "
            "image's cosine distance to the nearest training image, in the features of the "
            f"frozen ImageNet backbones, is above {rule['threshold']:.3f} (chosen on "
            f"{rule['source']})."
        )
    return "\n".join(
        [
            "## No `unknown` answer",
            "",
            held + " This export does not contain that rule: it has neither the frozen "
            "backbones' features nor the training images' features, so it names one of its "
            "classes for every image, a photo of a hot dog included. A high probability does "
            "not mean the image shows one of the classes.",
        ]
    )


def _training(run: dict) -> str:
    params = run.get("params") or {}
    shipped = (run["metrics"].get("shipped") or {}).get("why")
    lines = [
        "## Training",
        "",
        f"- backbone `{run['backbone']}`, weights `{run['weights']}`, input {params.get('size')} "
        f"px, flip test-time augmentation {'on' if params.get('flip_tta') else 'off'}",
        f"- split `{run['split']}`, trained from {run['started_at']} to {run['finished_at']}",
    ]
    if shipped:
        lines.append(f"- shipped model: {shipped}")
    return "\n".join(lines)


def _provenance(cat: Catalog, run: dict) -> str:
    """Per class: images by subset, engines, queries and dates, as the run saw the split."""
    accepted_only = (run.get("params") or {}).get("accepted_only", False)
    statuses = ("accepted",) if accepted_only else USABLE_STATUSES
    rows = [
        r
        for r in split_images(cat, run["split"], statuses=statuses)
        if r["added_at"] <= (run["started_at"] or r["added_at"])
    ]
    searched = {c["name"]: c["query"] for c in list_classes(cat)}
    lines = [
        "## Where the training data came from",
        "",
        f"The images of split `{run['split']}` (status "
        + (" or ".join(statuses))
        + f") added to the catalog before the run started, {len(rows)} in all. Statuses may "
        "have changed since; the run's own counts are in its row in the catalog.",
        "",
        "| class | train | test | came from | queries | added |",
        "|---|---:|---:|---|---|---|",
    ]
    by_class: dict[str, list[dict]] = {}
    for r in rows:
        by_class.setdefault(r["class"], []).append(r)
    for name in sorted(by_class):
        group = by_class[name]
        subsets = Counter(r["subset"] for r in group)
        sources = Counter(r["engine"] or r["origin"] for r in group)
        queries = Counter(r["query"] for r in group if r["query"])
        dates = sorted(r["added_at"][:10] for r in group)
        lines.append(
            f"| {_cell(name)} | {subsets['train']} | {subsets['test']} | "
            f"{_counts(sources)} | {_queries(queries, searched.get(name))} | "
            f"{dates[0]} to {dates[-1]} |"
        )
    return "\n".join(lines)


def _counts(counter: Counter) -> str:
    return ", ".join(f"{_cell(str(k))} {n}" for k, n in counter.most_common())


def _queries(queries: Counter, searched: str | None, shown: int = 3) -> str:
    if not queries:
        return f"(none recorded; the class's query: {_cell(searched)})" if searched else "-"
    top = [f'"{_cell(q)}"' for q, _ in queries.most_common(shown)]
    more = len(queries) - shown
    return ", ".join(top) + (f" and {more} more" if more > 0 else "")


def _rights() -> str:
    return "\n".join(
        [
            "## Rights",
            "",
            "Images found by web search engines remain their owners' work, under their "
            "owners' terms: they were gathered to train this classifier, and the catalog keeps "
            "each image's source and page address (`images.source_url`, `images.page_url`). "
            "The model does not contain the images, but it was made from them: before you "
            "publish it, sell it or build a product on it, check that the use is allowed where "
            "you are (copyright and database rights, the sites' terms), or train on images you "
            "have the rights to.",
        ]
    )


def _cell(text: str | None) -> str:
    """Text safe in a Markdown table cell."""
    return (text or "").replace("|", "\\|").replace("\n", " ")
