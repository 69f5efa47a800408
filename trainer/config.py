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
    # Fine-tuning defaults chosen by cross-validation on the train parts of sneakers10 and
    # sneakers41 (bench/tune.py, issue 11): 6 epochs at 3e-4 with a 20,000 image-pass budget
    # and 9,000 samples per epoch beat 4 epochs at 1e-4 with 10,000 / 6,000 on both.
    fine_tune_epochs: int = 6
    fine_tune_from: str | None = None
    # auto: `deep` (each member cut at its registry `deep_cut`, one stage earlier) when the
    # split has at least plan.DEEP_PER_CLASS training images per class, else `standard`;
    # the learning rate left at None follows the depth (plan.FINE_TUNE_RATES). The run
    # stores the resolved values.
    fine_tune_depth: str = "auto"
    batch_size: int = 32
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float | None = None
    val_fraction: float = 0.1
    patience: int = 8
    head_width: int = 64
    dropout: float = 0.0
    augment_passes: int = 5
    flip_tta: bool = True
    size: int | None = None
    seed: int = 0
    accepted_only: bool = False
    # See `plan.work_plan`: fewer passes and fine-tune samples per epoch for large sets.
    image_pass_budget: int = 20_000
    fine_tune_samples: int = 9_000
    exclude_flagged: bool = False
    label_smoothing: float = 0.0
    fine_tune_schedule: str = "constant"
    # Phase 2 keeps an exponential moving average of the weights with this momentum and
    # the run keeps the average (Keras' optimizer EMA); 0: the weights of the epoch with the
    # best validation loss.
    fine_tune_ema: float = 0.0

    @classmethod
    def from_params(cls, params: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in known})
