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


def gpu_capability() -> tuple[int, int] | None:
    """The first GPU's CUDA compute capability, where the backend tells it; else None."""
    name = keras.backend.backend()
    try:
        if name == "torch":
            import torch

            if not torch.cuda.is_available():
                return None
            major, minor = torch.cuda.get_device_capability(0)
            return major, minor
        if name == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            value = getattr(gpus[0], "compute_capability", None) if gpus else None
            if not value:
                return None
            major, minor = (int(v) for v in str(value).split(".")[:2])
            return major, minor
        if name == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
            return details.get("compute_capability")
    except (ImportError, RuntimeError, ValueError, IndexError):
        return None
    return None


def configure(mixed_precision: bool | None = None) -> dict:
    """Set the dtype policy and distribution for this process; returns what was chosen.

    `mixed_precision=None` turns it on exactly when a GPU is visible (CPUs gain nothing):
    bfloat16 on GPUs that compute in it (compute capability 8.0 and newer: no loss
    scaling needed, float32's range), float16 on older ones.
    """
    gpus = gpu_count()
    use_mixed = gpus > 0 if mixed_precision is None else mixed_precision
    policy = "float32"
    if use_mixed:
        capability = gpu_capability()
        policy = "mixed_bfloat16" if capability and capability >= (8, 0) else "mixed_float16"
    keras.mixed_precision.set_global_policy(policy)
    if gpus > 1 and keras.backend.backend() == "jax":
        keras.distribution.set_distribution(keras.distribution.DataParallel())
    return {
        "backend": keras.backend.backend(),
        "gpus": gpus,
        "mixed_precision": use_mixed,
        "policy": policy,
    }


def inference_batch_size() -> int:
    """Batch size for forward passes only (feature caching): large on a GPU, which is idle on
    small batches."""
    return 256 if gpu_count() else 64


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
