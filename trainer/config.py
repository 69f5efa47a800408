"""What defines a training run, in one place: the library and the `train` options' defaults.

Kept free of Keras so the command line can read the defaults without loading a backend.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .backbones import RECOMMENDED_BACKBONE


@dataclass
class TrainConfig:
    """Everything that defines a run; stored as the run's `params`."""

    backbone: str = RECOMMENDED_BACKBONE
    weights: str = "imagenet"
    split: str | None = None
    epochs: int = 40
    fine_tune_epochs: int = 4
    fine_tune_from: str | None = None
    batch_size: int = 32
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-4
    val_fraction: float = 0.1
    patience: int = 8
    head_width: int = 64
    dropout: float = 0.0
    augment_passes: int = 5
    flip_tta: bool = True
    size: int | None = None
    seed: int = 0
    accepted_only: bool = False
    image_pass_budget: int = (
        10_000  # see `train.work_plan`: fewer passes and fine-tune samples for large sets
    )
    fine_tune_samples: int = 6_000
    exclude_flagged: bool = False

    @classmethod
    def from_params(cls, params: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in known})
