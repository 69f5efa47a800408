"""Honest advice around training (issue 16): a warning before training from scratch on a
small set, and `--backbone all` that trains every member it can and lists the failures.

Imports no Keras: the warning is printed before the backend loads.

Example:
    >>> scratch_warning(cat, "vgg16", "none", None)   # doctest: +SKIP
    'vgg16 would train from random weights on 385 training images ...'
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from catalog import USABLE_STATUSES, Catalog, class_subset_counts, default_split, split_names

from .backbones import members, run_specs
from .config import TrainConfig

# Below this many training images random initialisation learns little: vgg16 from scratch
# on sneakers10 (about 300 train images) reached top-1 0.122 after 14 minutes, chance 0.10.
SCRATCH_ENOUGH = 5000
OFFLINE_BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


def scratch_warning(
    cat: Catalog, backbone: str, weights: str, split: str | None, *, accepted_only: bool = False
) -> str | None:
    """A warning when some backbone would start from random weights on a small split, else None."""
    scratch = sorted(
        {
            entry.name
            for spec in run_specs(backbone, weights)
            for entry, w in members(spec, weights)
            if w == "none"
        }
    )
    images = train_images(cat, split, accepted_only=accepted_only)
    if not scratch or images is None or images >= SCRATCH_ENOUGH:
        return None
    return (
        f"{', '.join(scratch)} would train from random weights (--weights none) on {images} "
        "training images; "
        f"below about {SCRATCH_ENOUGH} expect little better than chance (vgg16 from scratch on "
        "sneakers10: "
        "top-1 0.12, chance 0.10, after 14 minutes). The EfficientNet-Lite backbones load "
        "ImageNet weights "
        f"offline: `train --backbone {OFFLINE_BACKBONES[0]}` (or "
        f"{', '.join(OFFLINE_BACKBONES[1:])})."
    )


def train_images(cat: Catalog, split: str | None, *, accepted_only: bool = False) -> int | None:
    """How many usable train images the split training would use has; None when it does not
    exist."""
    name = split if split is not None else default_split(cat)
    if name is None or name not in split_names(cat):
        return None  # training itself says there is no such split
    statuses = ("accepted",) if accepted_only else USABLE_STATUSES
    return sum(c["train"] for c in class_subset_counts(cat, name, statuses).values())


@dataclass
class Failure:
    """A backbone of `--backbone all` that could not be trained, and why."""

    backbone: str
    error: str


def train_each(
    cat: Catalog, cfg: TrainConfig, *, verbose: int = 0
) -> tuple[list[dict], list[Failure]]:
    """Train every spec `cfg.backbone` names (three for `all`); one failing does not stop the rest.

    Each failed run is recorded `failed` by `train`; its error is returned here to be reported
    after the others ran. Ctrl-C still stops everything.
    """
    from .train import train  # loads Keras: the caller imports it when the backend is ready

    runs, failures = [], []
    for spec in run_specs(cfg.backbone, cfg.weights):
        try:
            runs.append(train(cat, replace(cfg, backbone=spec), verbose=verbose))
        except Exception as exc:  # noqa: BLE001 - a bulk loop records each item's failure and goes on
            failures.append(
                Failure(
                    spec,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                )
            )
    return runs, failures
