"""Everything that depends on the Keras backend, behind a small interface.

The rest of the trainer uses `keras` and `keras.ops` only. Here: counting GPUs, turning
on mixed precision, and data-parallel distribution over all visible GPUs (Keras's
distribution API on JAX, a MirroredStrategy on TensorFlow, one device on PyTorch).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras


def gpu_count() -> int:
    """How many GPUs the active backend can see."""
    name = keras.backend.backend()
    try:
        if name == "tensorflow":
            import tensorflow as tf

            return len(tf.config.list_physical_devices("GPU"))
        if name == "jax":
            import jax

            return sum(d.platform == "gpu" for d in jax.devices())
        if name == "torch":
            import torch

            return torch.cuda.device_count()
    except (ImportError, RuntimeError):
        return 0
    return 0


def configure(mixed_precision: bool | None = None) -> dict:
    """Set the dtype policy and distribution for this process; returns what was chosen.

    `mixed_precision=None` turns it on exactly when a GPU is visible (CPUs gain nothing).
    """
    gpus = gpu_count()
    use_mixed = gpus > 0 if mixed_precision is None else mixed_precision
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    if gpus > 1 and keras.backend.backend() == "jax":
        keras.distribution.set_distribution(keras.distribution.DataParallel())
    return {"backend": keras.backend.backend(), "gpus": gpus, "mixed_precision": use_mixed}


@contextlib.contextmanager
def strategy_scope() -> Iterator[None]:
    """Build and compile models inside this, so TensorFlow mirrors them over all GPUs."""
    if keras.backend.backend() == "tensorflow" and gpu_count() > 1:
        import tensorflow as tf

        with tf.distribute.MirroredStrategy().scope():
            yield
    else:
        yield


def seed_everything(seed: int) -> None:
    """Python, NumPy and backend random generators, for reproducible runs."""
    keras.utils.set_random_seed(seed)
