"""Figures for a run: the confusion matrix and test images with their top-2 predictions.

Both stay readable at 50+ classes: the matrix is row-normalised (a cell is the
share of the true class's images), its size and fonts are capped, and past
`MAX_LABELLED_CLASSES` only the most confused classes are drawn; the most-confused pairs are
listed beside it. The predictions grid samples across classes, mistakes first.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window (CI has no display)
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from catalog import atomic_write
from clikit.text import plain

MAX_FIGURE_IMAGES = 24
MAX_LABELLED_CLASSES = 60  # beyond this, tick labels no longer fit: draw the most confused ones
ANNOTATE_UP_TO = 20  # cell values are written only while they fit
MAX_MATRIX_INCHES = 10.0
FIGURE_PAIRS = 20
LABEL_CHARS = 24
OUTCOME_COLOURS = ("green", "darkorange", "red")
OUTCOME_LABELS = ("right", "right in the top 2", "wrong")
MAX_BAR_CLASSES = 80  # per_class.png: beyond this, the weakest classes only


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total (a row without images stays 0)."""
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)


def confused_pairs(confusion: dict, top: int = 10) -> list[dict]:
    """The `top` most frequent mistakes: {true, predicted, count, rate}; rate is of the true
    class's images.

    Ordered by count, then rate, then names, so equal counts come out the same every time.
    """
    classes, matrix = confusion["classes"], np.array(confusion["matrix"])
    rates = normalise_rows(matrix)
    pairs = [
        {
            "true": classes[i],
            "predicted": classes[j],
            "count": int(matrix[i, j]),
            "rate": round(float(rates[i, j]), 4),
        }
        for i, j in zip(*np.nonzero(matrix), strict=True)
        if i != j
    ]
    pairs.sort(key=lambda p: (-p["count"], -p["rate"], p["true"], p["predicted"]))
    return pairs[:top]


def most_confused_classes(matrix: np.ndarray, keep: int) -> list[int]:
    """Indices of the `keep` classes with the most mistakes made or received, in label order."""
    off = matrix - np.diag(np.diag(matrix))
    involvement = off.sum(axis=0) + off.sum(axis=1)
    order = np.argsort(-involvement, kind="stable")[:keep]
    return sorted(int(i) for i in order)


def confusion_png(confusion: dict, path: Path, *, title: str = "") -> Path:
    """Draw `{"classes", "matrix"}` (rows: true class) row-normalised, with the most-confused
    pairs listed."""
    classes, matrix = confusion["classes"], np.array(confusion["matrix"])
    shown = list(range(len(classes)))
    if len(classes) > MAX_LABELLED_CLASSES:
        shown = most_confused_classes(matrix, MAX_LABELLED_CLASSES)
        title = f"{title}\nthe {len(shown)} most confused of {len(classes)} classes".strip()
    rates = normalise_rows(matrix)[np.ix_(shown, shown)]
    names = [_short_label(classes[i]) for i in shown]
    n = len(shown)
    side = min(MAX_MATRIX_INCHES, 2.5 + 0.2 * n)
    font = max(5.0, min(9.0, 360 / max(n, 1)))
    fig, (ax, side_ax) = plt.subplots(
        1,
        2,
        figsize=(side + 6.5, side + 2.5),
        gridspec_kw={"width_ratios": [side, 6.0]},  # the pairs list: 55 monospace characters
        layout="constrained",
    )
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="share of the true class")
    ax.set_xticks(range(n), names, rotation=90, fontsize=font)
    ax.set_yticks(range(n), names, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= ANNOTATE_UP_TO:
        for i, j in zip(*np.nonzero(rates), strict=True):
            ax.text(
                j,
                i,
                f"{rates[i, j]:.0%}",
                ha="center",
                va="center",
                fontsize=font,
                color="white" if rates[i, j] > 0.5 else "black",
            )
    # A figure title, wrapped to the figure: an axes title wider than its axes is cut off.
    fig.suptitle(_wrap(title, int((side + 6.5) * 11)), fontsize=9)
    _pairs_panel(side_ax, confused_pairs(confusion, FIGURE_PAIRS))
    _save(fig, path, 100)
    return path


def per_class_png(per_class: dict[str, dict], path: Path, *, title: str = "") -> Path:
    """Per-class precision and recall as paired horizontal bars, support in the labels.

    Past `MAX_BAR_CLASSES` classes only the weakest (lowest of precision and recall) are drawn.
    """
    names = list(per_class)
    if len(names) > MAX_BAR_CLASSES:
        weakest = sorted(
            names, key=lambda c: (min(per_class[c]["precision"], per_class[c]["recall"]), c)
        )
        keep = set(weakest[:MAX_BAR_CLASSES])
        title = f"{title}\nthe {MAX_BAR_CLASSES} weakest of {len(names)} classes".strip()
        names = [c for c in names if c in keep]
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.32 * len(names)), layout="constrained")
    for offset, key, color in ((-0.2, "precision", "tab:blue"), (0.2, "recall", "tab:orange")):
        values = [per_class[c][key] for c in names]
        ax.barh(y + offset, values, height=0.4, color=color, label=key)
    labels = [f"{_short_label(c)} (n={per_class[c]['support']})" for c in names]
    ax.set_yticks(y, labels, fontsize=9)
    ax.invert_yaxis()  # label order top to bottom, as in the confusion matrix
    ax.set_xlim(0, 1)
    ax.set_xlabel("on the test subset (n = test images of the class)")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside upper right", ncols=2, fontsize=9)  # outside: never over a bar
    ax.set_title(_wrap(title, 60), fontsize=9)
    _save(fig, path, 100)
    return path


def _pairs_panel(ax, pairs: list[dict]) -> None:
    ax.axis("off")
    lines = [
        f"{p['count']:>4} {p['rate']:>4.0%}  {_short_label(p['true'], 20)} -> "
        f"{_short_label(p['predicted'], 20)}"
        for p in pairs
    ]
    text = "most confused (n, share of true class)\n\n" + (
        "\n".join(lines) if lines else "no mistakes"
    )
    ax.text(0, 1, text, va="top", ha="left", family="monospace", fontsize=9, transform=ax.transAxes)


def _wrap(text: str, chars: int) -> str:
    """Each line of `text` wrapped at `chars` characters (a class or split name is not split);
    a split name is data: controls are shown as escapes and `$` does not start mathtext."""
    text = plain(text, newlines=True).replace("$", r"\$")
    return "\n".join(
        textwrap.fill(line, chars, break_long_words=False) for line in text.split("\n")
    )


def _short_label(name: str, chars: int = LABEL_CHARS) -> str:
    return name if len(name) <= chars else name[: chars - 1] + "…"


def figure_sample(
    truths: list[str], top: list[list[tuple[str, float]]], count: int = MAX_FIGURE_IMAGES
) -> list[int]:
    """Which images the predictions grid shows: mistakes first, each group taken round-robin
    across classes.

    The first images of a test set are often all of one class; this shows as many classes as fit.
    """
    groups: list[dict[str, list[int]]] = [
        defaultdict(list),
        defaultdict(list),
    ]  # mistakes, then correct
    for i, (truth, ranked) in enumerate(zip(truths, top, strict=True)):
        groups[ranked[0][0] == truth][truth].append(i)
    chosen: list[int] = []
    for by_class in groups:
        queues = [by_class[c] for c in sorted(by_class)]
        depth = 0
        while len(chosen) < count and any(len(q) > depth for q in queues):
            chosen += [q[depth] for q in queues if len(q) > depth][: count - len(chosen)]
            depth += 1
    return chosen


def outcome_labels(top: list[list[tuple[str, float]]]) -> list[str]:
    """The outcomes the predictions grid tells apart: with two classes the second guess is
    always the other class, so "right in the top 2" says nothing and is left out."""
    classes = {c for ranked in top for c, _ in ranked}
    return [label for label in OUTCOME_LABELS if len(classes) > 2 or label != OUTCOME_LABELS[1]]


def predictions_png(
    images: np.ndarray, truths: list[str], top: list[list[tuple[str, float]]], path: Path
) -> Path:
    """A grid of test images titled with their top-2 predictions, as the original notebook.

    A green title is a correct top-1, orange a correct top-2, red a miss; a legend says so.
    With two classes the second guess is the other class: titles show the first only, and
    a miss is a miss.
    """
    labels = outcome_labels(top)
    shown = 2 if OUTCOME_LABELS[1] in labels else 1
    chosen = figure_sample(truths, top)
    count = len(chosen)
    cols = min(6, count) or 1
    rows = max(1, -(-count // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.8 * rows + 0.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), chosen, strict=False):
        ax.imshow(images[i])
        (c1, p1), *rest = top[i]
        lines = [f"true: {_short_label(truths[i])}", f"1: {_short_label(c1)} {p1:.2f}"]
        lines += [f"2: {_short_label(c)} {p:.2f}" for c, p in rest[: shown - 1]]
        names = [c1] + [c for c, _ in rest[: shown - 1]]
        color = (
            OUTCOME_COLOURS[0]
            if c1 == truths[i]
            else OUTCOME_COLOURS[1]
            if truths[i] in names
            else OUTCOME_COLOURS[2]
        )
        ax.set_title("\n".join(lines), fontsize=10, color=color)
    # The colours need a legend to be read.
    handles = [
        Patch(color=c, label=label)
        for c, label in zip(OUTCOME_COLOURS, OUTCOME_LABELS, strict=True)
        if label in labels
    ]
    fig.legend(handles=handles, loc="upper center", ncols=len(handles), fontsize=10, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    _save(fig, path, 80)
    return path


def _save(fig: plt.Figure, path: Path, dpi: int) -> None:
    """Write the figure as a PNG through a temporary file and close it: a reader never sees
    half a figure."""
    try:
        with atomic_write(path) as fh:
            fig.savefig(fh, format="png", dpi=dpi)
    finally:
        plt.close(fig)
