"""The trainer's exceptions; `train` turns them into a clear message and exit code 1.

`TrainerError` is the trainer's own base, not a `CatalogError`; the CLI
translates both.
"""


class TrainerError(Exception):
    """Training, evaluation or prediction could not be done; the message says why."""


class WeightsError(TrainerError):
    """Weights could not be found, downloaded, verified or loaded."""
