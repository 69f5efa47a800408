"""How a configuration is trained: the recipe, apart from what the user asks for.

A run request (`config.RunRequest`) is what a user chooses: backbones, weights, split,
filters, seed, size, batch size. A recipe is how those backbones are trained: rates,
depths, cuts, epochs per phase, augmentation passes, budgets, the head. Recipes are
registry data keyed by the set of members (member order never matters), and `plan`
reads the recipe's fields; no rule anywhere compares backbone names.

`train --set KEY=VALUE` overrides one field; `parse_settings` checks every key and value
when the arguments are parsed, before any backend loads. The measurements behind the
defaults are in bench/RESULTS.md (bench/tune.py).

No Keras here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import TrainerError

DEPTHS = ("auto", "standard", "deep")


def _field(default: Any, help: str, **rule: Any) -> Any:
    """A recipe field with its help line and the rule `--set` checks (`kind`, `low`,
    `high`, `choices`, `optional`)."""
    return field(default=default, metadata={"help": help, **rule})


@dataclass(frozen=True)
class Recipe:
    """Everything about how a run trains that is not the user's request."""

    learning_rate: float = _field(1e-3, "head learning rate (Adam)", kind=float, low=0.0)
    fine_tune_epochs: int = _field(
        6, "epochs with the top of the backbone unfrozen (0: the head alone)", kind=int, low=0
    )
    fine_tune_depth: str = _field(
        "auto",
        "standard, deep (one stage more where the backbone has a deep cut) or auto: deep from "
        "deep_per_class training images per class",
        kind=str,
        choices=DEPTHS,
    )
    deep_per_class: int = _field(
        50, "training images per class from which auto goes deep", kind=int, low=1
    )
    fine_tune_learning_rate: float | None = _field(
        None,
        "fine-tune learning rate (none: standard_rate or deep_rate by depth)",
        kind=float,
        low=0.0,
        optional=True,
    )
    standard_rate: float = _field(3e-4, "fine-tune rate of a standard depth", kind=float, low=0.0)
    deep_rate: float = _field(6e-4, "fine-tune rate of a deep fine-tune", kind=float, low=0.0)
    deep_size: int | None = _field(
        None,
        "input size of a deep fine-tune when no --size is given (none: the backbones' own)",
        kind=int,
        low=32,
        optional=True,
    )
    fine_tune_from: str | None = _field(
        None,
        "the layer each backbone is fine-tuned after, one per backbone joined by commas "
        "(none: the registry's cut)",
        kind=str,
        optional=True,
    )
    val_fraction: float = _field(
        0.1, "part of train held out for early stopping", kind=float, low=0.0, high=0.9
    )
    patience: int = _field(
        8, "early stopping: epochs without a better validation loss", kind=int, low=1
    )
    head_width: int = _field(64, "units of the head's hidden Dense layer", kind=int, low=1)
    dropout: float = _field(0.0, "dropout before the output layer", kind=float, low=0.0, high=0.95)
    augment_passes: int = _field(5, "feature passes: 1 plain + N-1 augmented", kind=int, low=1)
    image_pass_budget: int = _field(
        20_000,
        "above this many images x passes x backbones, fewer augmentation passes (0: no limit)",
        kind=int,
        low=0,
    )
    fine_tune_samples: int = _field(
        9_000,
        "at most this many samples per fine-tune epoch, shared by the backbones (0: all)",
        kind=int,
        low=0,
    )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Recipe:
        """A stored recipe: a run's `params["recipe"]`, or an older run's flat params (which
        held the recipe's fields beside the request's); unknown keys are ignored."""
        source = params.get("recipe", params)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in source.items() if k in known})


# The recipes, keyed by the set of members; every other spec trains with `Recipe()`.
# The recommended ensemble upscales to 288 px for a deep fine-tune (bench/RESULTS.md,
# "deep-s288"): the photos this tool gathers are small, and the deep cut's maps grow with it.
RECIPES: dict[frozenset[str], Recipe] = {
    frozenset({"mobilenet_v2", "efficientnet_lite0"}): Recipe(deep_size=288),
}


def recipe_for(names: Iterable[str], settings: Mapping[str, Any] | None = None) -> Recipe:
    """The registry's recipe for these members, with `settings` (checked values) applied."""
    base = RECIPES.get(frozenset(names), Recipe())
    return replace(base, **dict(settings or {}))


def recipe_fields() -> list[tuple[str, str]]:
    """(name, help) of every field `--set` accepts, in declaration order."""
    return [(f.name, f.metadata["help"]) for f in fields(Recipe)]


def parse_settings(items: Iterable[str]) -> dict[str, Any]:
    """`["key=value", ...]` -> {key: typed value}; the error names the bad item and the keys.

    Example:
        >>> parse_settings(["fine_tune_epochs=0", "fine_tune_learning_rate=none"])
        {'fine_tune_epochs': 0, 'fine_tune_learning_rate': None}
    """
    by_name = {f.name: f for f in fields(Recipe)}
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in by_name:
            raise TrainerError(
                f"--set takes KEY=VALUE with KEY one of {', '.join(by_name)} "
                f"(`train recipe` lists them). Received: {item!r}"
            )
        settings[key] = _value(key, text.strip(), by_name[key].metadata)
    return settings


def _value(key: str, text: str, rule: Mapping[str, Any]) -> Any:
    if rule.get("optional") and text.lower() in ("none", ""):
        return None
    kind = rule["kind"]
    try:
        value = kind(text)
    except ValueError:
        raise TrainerError(
            f"--set {key} takes {'an integer' if kind is int else 'a number'}"
            f"{' or none' if rule.get('optional') else ''}. Received: {text!r}"
        ) from None
    choices = rule.get("choices")
    if choices and value not in choices:
        raise TrainerError(f"--set {key} is one of {', '.join(choices)}. Received: {text!r}")
    low, high = rule.get("low"), rule.get("high")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise TrainerError(f"--set {key} is {bounds}. Received: {text!r}")
    if kind is str and not value:
        raise TrainerError(f"--set {key} needs a value. Received: {text!r}")
    return value
