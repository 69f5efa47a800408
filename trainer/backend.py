"""Everything that depends on the Keras backend, behind a small interface.

The rest of the trainer uses `keras` and `keras.ops` only. Here: counting GPUs, turning
on mixed precision, and data-parallel distribution over the visible devices (Keras's
distribution API on JAX, a MirroredStrategy on TensorFlow, one device on PyTorch), on one
host or, on JAX, over several processes (`initialize_hosts`).

Data-parallel means: every device holds the whole model, each takes an equal part of
every global batch, and the gradients are averaged. The devices are the accelerators
when there are any, else the CPU devices the backend shows (one, unless a test splits
the CPU into virtual devices, as `tests/trainer_tests/test_distributed.py` does).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import keras
import numpy as np

from .errors import TrainerError

# The environment variables Keras' own `keras.distribution.initialize` reads.
HOST_VARIABLES = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)
# Seconds a process waits for a peer that stopped answering before it fails (JAX's
# coordination service; its default is 100 s).
HEARTBEAT_TIMEOUT_S = 30


@dataclass
class Layout:
    """How a run spreads over devices: what `configure` chose, recorded in the run's metrics."""

    engine: str = "none"  # none | keras.distribution.DataParallel | tf.distribute.MirroredStrategy
    devices: list[str] = field(default_factory=lambda: ["default"])
    processes: int = 1
    process_id: int = 0
    note: str | None = None

    @property
    def replicas(self) -> int:
        return len(self.devices)


_layout = Layout()
_engine: Any = None  # the DataParallel or MirroredStrategy of the current layout
_hosts_started = False


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


def initialize_hosts(
    coordinator: str | None = None, processes: int | None = None, process_id: int | None = None
) -> tuple[int, int]:
    """Join a run over several processes (JAX only); returns (processes, this process's id).

    The values come from the arguments, else from Keras' variables
    (`KERAS_DISTRIBUTION_JOB_ADDRESSES`: the coordinator's host:port first,
    `KERAS_DISTRIBUTION_NUM_PROCESSES`, `KERAS_DISTRIBUTION_PROCESS_ID`). Without either it
    is one process and nothing happens. Call it before anything runs on the backend; a
    second call is a no-op.
    """
    global _hosts_started
    env = os.environ
    if coordinator is None and env.get(HOST_VARIABLES[0]):
        coordinator = env[HOST_VARIABLES[0]].split(",")[0]
    if processes is None and env.get(HOST_VARIABLES[1]):
        processes = int(env[HOST_VARIABLES[1]])
    if process_id is None and env.get(HOST_VARIABLES[2]):
        process_id = int(env[HOST_VARIABLES[2]])
    if not processes or processes == 1:
        return 1, 0
    if keras.backend.backend() != "jax":
        raise TrainerError(
            f"a run over {processes} processes needs KERAS_BACKEND=jax "
            f"(this is {keras.backend.backend()}); unset {', '.join(HOST_VARIABLES)}"
        )
    if coordinator is None or process_id is None:
        raise TrainerError(
            f"a run over {processes} processes needs the coordinator's host:port and this "
            f"process's id: set {HOST_VARIABLES[0]} and {HOST_VARIABLES[2]}"
        )
    import jax

    if not _hosts_started:
        jax.distributed.initialize(
            coordinator,
            processes,
            process_id,
            heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_S,
            initialization_timeout=300,
        )
        _hosts_started = True
    return jax.process_count(), jax.process_index()


def process() -> tuple[int, int]:
    """(processes, this process's id) of the current layout."""
    return _layout.processes, _layout.process_id


def configure(mixed_precision: bool | None = None, devices: int | None = None) -> dict:
    """Set the dtype policy and the device layout for this process; returns what was chosen.

    `mixed_precision=None` turns it on exactly when a GPU is visible (CPUs gain nothing):
    bfloat16 on GPUs that compute in it (compute capability 8.0 and newer: no loss
    scaling needed, float32's range), float16 on older ones. `devices`: how many of this
    host's devices train the run (None: all of them); more than one is data-parallel, in
    effect inside `strategy_scope`.
    """
    global _layout, _engine
    gpus = gpu_count()
    use_mixed = gpus > 0 if mixed_precision is None else mixed_precision
    policy = "float32"
    if use_mixed:
        capability = gpu_capability()
        policy = "mixed_bfloat16" if capability and capability >= (8, 0) else "mixed_float16"
    keras.mixed_precision.set_global_policy(policy)
    _layout, _engine = _choose_layout(devices)
    return {
        "backend": keras.backend.backend(),
        "gpus": gpus,
        "mixed_precision": use_mixed,
        "policy": policy,
        "devices": _layout.replicas,
        "layout": asdict(_layout),
    }


def _choose_layout(devices: int | None) -> tuple[Layout, Any]:
    name = keras.backend.backend()
    if devices is not None and devices < 1:
        raise TrainerError(f"--devices must be 1 or more; received {devices}")
    if name == "jax":
        return _jax_layout(devices)
    if name == "tensorflow":
        return _tf_layout(devices)
    visible = gpu_count()
    if devices is not None and devices > 1:
        raise TrainerError(
            f"--devices {devices}: the {name} backend trains on one device here; "
            "use KERAS_BACKEND=jax or tensorflow to train on several"
        )
    note = f"{name} trains on one device; {visible} GPUs visible" if visible > 1 else None
    return Layout(devices=[f"{name}:0"], note=note), None


def _pick(kind: str, visible: list, devices: int | None) -> list:
    if devices is not None and devices > len(visible):
        raise TrainerError(
            f"--devices {devices}: only {len(visible)} {kind} device(s) visible "
            f"({', '.join(str(d) for d in visible)})"
        )
    return visible[: devices or len(visible)]


def _jax_layout(devices: int | None) -> tuple[Layout, Any]:
    import jax

    local = [d for d in jax.local_devices() if d.platform != "cpu"] or jax.local_devices()
    per_host = len(_pick(local[0].platform, local, devices))
    processes, process_id = jax.process_count(), jax.process_index()
    # Every process uses its first `per_host` devices; the mesh spans all of them.
    mesh = [
        d
        for p in range(processes)
        for d in [
            x for x in jax.devices() if x.process_index == p and x.platform == local[0].platform
        ][:per_host]
    ]
    layout = Layout(
        engine="keras.distribution.DataParallel" if len(mesh) > 1 else "none",
        devices=[f"{d.platform}:{d.id}" for d in mesh],
        processes=processes,
        process_id=process_id,
    )
    if len(mesh) == 1:
        return layout, None
    # The trainer gives each process its own shard (`shard`): Keras must not shard again.
    return layout, keras.distribution.DataParallel(devices=mesh, auto_shard_dataset=False)


def _tf_layout(devices: int | None) -> tuple[Layout, Any]:
    import tensorflow as tf

    visible = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    kind = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    chosen = [d.name for d in _pick(kind, visible, devices)]
    if len(chosen) == 1:
        return Layout(devices=chosen), None
    strategy = tf.distribute.MirroredStrategy(devices=chosen)
    return Layout(engine="tf.distribute.MirroredStrategy", devices=chosen), strategy


def check_batch(batch_size: int) -> int:
    """This process's part of a global batch of `batch_size`; an error when the devices
    cannot take equal parts of it (rather than dropping or repeating samples)."""
    replicas = _layout.replicas
    if batch_size % replicas:
        raise TrainerError(
            f"--batch-size {batch_size} does not split into equal parts over {replicas} devices: "
            f"give a multiple of {replicas} (each device takes batch-size / {replicas})"
        )
    return batch_size // _layout.processes


def share_run_id(run_id: int | None) -> int:
    """Process 0's run id in every process of a run over several (process 0 passes its own,
    the others None); in a run of one process, `run_id` itself."""
    if _layout.processes == 1:
        return int(run_id or 0)
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.int32(run_id or 0)))


def gather(x):
    """`x` (an array or a tuple of them) joined along its rows with every other process's, in
    process order; itself in a run of one process. Every process must call it alike."""
    if _layout.processes == 1:
        return x
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(x, tiled=True)


def inference_batch_size() -> int:
    """Batch size for forward passes only (feature caching): large on a GPU, which is idle on
    small batches."""
    return 256 if gpu_count() else 64


@contextlib.contextmanager
def strategy_scope() -> Iterator[None]:
    """Build, compile and train models inside this, so they are data-parallel over the devices
    `configure` chose (a MirroredStrategy on TensorFlow, Keras' DataParallel on JAX)."""
    if _engine is None:
        yield
    else:
        with _engine.scope():
            yield


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """For what one process does alone, such as saving the model: outside the distribution,
    new variables (Keras' saving makes some) are this process's own; inside it every process
    would have to create them together, and process 0 would wait for the others for ever."""
    if keras.backend.backend() != "jax" or _engine is None:
        yield
        return
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


def predict_batch(model: keras.Model, x) -> np.ndarray:
    """`model` on one batch in inference mode, each row computed once.

    Over several devices the batch is split between them (padded to a multiple of their
    count, the padding dropped from the result): TensorFlow's `predict_on_batch` on a
    mirrored model would run the whole batch on every device and return each copy.
    """
    k = _layout.replicas if _engine is not None else 1
    if k == 1 or _layout.processes > 1:  # each process computes its own shard's rows
        return keras.ops.convert_to_numpy(model.predict_on_batch(x))
    x = keras.ops.convert_to_numpy(x)
    n, pad = len(x), -len(x) % k
    if pad:
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
    with strategy_scope():
        return np.asarray(model.predict(x, batch_size=len(x), verbose=0))[:n]


def seed_everything(seed: int) -> None:
    """Python, NumPy and backend random generators, for reproducible runs."""
    keras.utils.set_random_seed(seed)
