"""What defines a training run: the user's request, the spec parsed from it, and the recipe.

`RunRequest` holds what a user chooses (the `train` options); `recipe.Recipe` how the
backbones are trained. A `Job` is both, with the spec parsed once; it is what travels from
the command line down to `train`. A run stores its request's fields flat in `params` and
the recipe under `params["recipe"]`; runs stored before the split (everything flat) load
the same way.

Kept free of Keras so the command line can read the defaults without loading a backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .backbones import RECOMMENDED_BACKBONE
from .errors import TrainerError
from .recipe import Recipe, recipe_for
from .spec import Spec, parse_spec, run_specs


@dataclass(frozen=True)
class RunRequest:
    """What the user asks for; the `train` options besides --set, --resume and --catalog."""

    backbone: str = RECOMMENDED_BACKBONE
    weights: str = "imagenet"
    split: str | None = None
    epochs: int = 40  # the head's at most, on cached features (early stopping)
    batch_size: int = 32
    size: int | None = None  # None: the recipe's deep size or the spec's own
    seed: int = 0
    accepted_only: bool = False
    exclude_flagged: bool = False
    flip_tta: bool = True
    devices: int | None = None  # None: every visible device (data-parallel over several)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RunRequest:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in known})


@dataclass(frozen=True)
class Job:
    """One run to train: the request, its parsed spec, and the recipe it trains with."""

    request: RunRequest
    spec: Spec
    recipe: Recipe

    def params(self) -> dict[str, Any]:
        """What the run row stores."""
        return {**asdict(self.request), "recipe": asdict(self.recipe)}

    def with_request(self, **changes: Any) -> Job:
        return replace(self, request=replace(self.request, **changes))

    def with_recipe(self, **changes: Any) -> Job:
        return replace(self, recipe=replace(self.recipe, **changes))


def jobs_for(request: RunRequest, settings: Mapping[str, Any] | None = None) -> list[Job]:
    """The runs a request asks for (three for `--backbone all`), each spec parsed once and
    its recipe taken from the registry with `settings` applied; every one is checked (a
    `fine_tune_from` that does not fit its spec too) before anything trains."""
    jobs = []
    for spec in run_specs(request.backbone, request.weights):
        recipe = recipe_for(spec.names, settings)
        spec.cuts(recipe.fine_tune_from, deep=False)
        jobs.append(Job(replace(request, backbone=spec.text), spec, recipe))
    return jobs


def job_from_params(params: Mapping[str, Any]) -> Job:
    """A stored run's job, for resuming it."""
    request = RunRequest.from_params(params)
    return Job(request, parse_spec(request.backbone, request.weights), Recipe.from_params(params))


def make_job(backbone: str = RECOMMENDED_BACKBONE, **values: Any) -> Job:
    """One job from request and recipe fields by name, for scripts and benchmarks; a field
    of neither is an error, as with `--set`.

    Example:
        >>> make_job("efficientnet_lite0", weights="none", epochs=3, fine_tune_epochs=0)
    """
    asked = {f.name for f in fields(RunRequest)}
    request = RunRequest(backbone, **{k: v for k, v in values.items() if k in asked})
    settings = {k: v for k, v in values.items() if k not in asked}
    unknown = set(settings) - {f.name for f in fields(Recipe)}
    if unknown:
        raise TrainerError(f"neither a request nor a recipe field: {', '.join(sorted(unknown))}")
    jobs = jobs_for(request, settings)
    if len(jobs) != 1:
        raise TrainerError(f"{backbone!r} names {len(jobs)} runs; make_job makes one")
    return jobs[0]
