"""The trainer's exceptions; `train` turns them into a clear message and exit code 1."""

from catalog import CatalogError


class TrainerError(CatalogError):
    """Training, evaluation or prediction could not be done; the message says why."""


class WeightsError(TrainerError):
    """Weights could not be found, downloaded, verified or loaded."""
