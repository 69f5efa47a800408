"""Figures for a run: the confusion matrix and test images with their top-2 predictions."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window (CI has no display)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

MAX_FIGURE_IMAGES = 24


def confusion_png(confusion: dict, path: Path, *, title: str = "") -> Path:
    """Draw `{"classes", "matrix"}` (rows: true class) with counts in the cells."""
    classes, matrix = confusion["classes"], np.array(confusion["matrix"])
    n = len(classes)
    fig, ax = plt.subplots(figsize=(2 + 0.7 * n, 1.5 + 0.6 * n))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                        color="white" if matrix[i, j] > threshold else "black")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def predictions_png(images: np.ndarray, truths: list[str], top: list[list[tuple[str, float]]], path: Path) -> Path:
    """A grid of test images titled with their top-2 predictions, as the original notebook.

    A green title is a correct top-1, orange a correct top-2, red a miss.
    """
    count = min(len(images), MAX_FIGURE_IMAGES)
    cols = min(6, count) or 1
    rows = max(1, -(-count // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(count):
        ax = axes.ravel()[i]
        ax.imshow(images[i])
        (c1, p1), *rest = top[i]
        lines = [f"true: {truths[i]}", f"1: {c1} {p1:.2f}"] + [f"2: {c} {p:.2f}" for c, p in rest[:1]]
        names = [c1] + [c for c, _ in rest[:1]]
        color = "green" if c1 == truths[i] else "darkorange" if truths[i] in names else "red"
        ax.set_title("\n".join(lines), fontsize=8, color=color)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
