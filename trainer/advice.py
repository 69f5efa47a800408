"""Honest advice around training: a warning before training from scratch on a small set,
and `--backbone all` that trains every backbone it can and lists the failures.

Imports no Keras: the warning is printed before the backend loads.

Example:
    >>> scratch_warning(cat, jobs_for(RunRequest("vgg16", "none")))   # doctest: +SKIP
    'vgg16 would train from random weights on 385 training images ...'
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog import USABLE_STATUSES, Catalog, class_subset_counts, default_split, split_names

from .config import Job

# Below this many training images random initialisation learns little (bench/RESULTS.md:
# vgg16 from scratch on sneakers10 scored barely above chance).
SCRATCH_ENOUGH = 5000
OFFLINE_BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


def scratch_warning(cat: Catalog, jobs: list[Job]) -> str | None:
    """A warning when some backbone would start from random weights on a small split, else None."""
    scratch = sorted({m.name for job in jobs for m in job.spec.members if m.weights == "none"})
    if not scratch:
        return None
    request = jobs[0].request
    images = train_images(cat, request.split, accepted_only=request.accepted_only)
    if not scratch or images is None or images >= SCRATCH_ENOUGH:
        return None
    return (
        f"{', '.join(scratch)} would train from random weights (--weights none) on {images} "
        "training images; "
        f"below about {SCRATCH_ENOUGH} expect little better than chance. "
        "The EfficientNet-Lite backbones load ImageNet weights "
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
    cat: Catalog, jobs: list[Job], *, verbose: int = 0
) -> tuple[list[dict], list[Failure]]:
    """Train every job (three for `--backbone all`); one failing does not stop the rest.

    Each failed run is recorded `failed` by `train`; its error is returned here to be reported
    after the others ran. Ctrl-C still stops everything.
    """
    from .train import train  # loads Keras: the caller imports it when the backend is ready

    runs, failures = [], []
    for job in jobs:
        try:
            runs.append(train(cat, job, verbose=verbose))
        except Exception as exc:
            failures.append(
                Failure(
                    job.spec.text,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                )
            )
    return runs, failures
