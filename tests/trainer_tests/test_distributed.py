"""Data-parallel training over two virtual CPU devices, on JAX and on TensorFlow (issue 32).

A backend fixes its device count when it starts, so each case runs in a fresh Python
process: JAX sees two CPU devices through `--xla_force_host_platform_device_count=2` in
XLA_FLAGS (set before jax is imported), TensorFlow through two logical CPU devices
(`tf.config.set_logical_device_configuration`, before TensorFlow initialises). The child
prints one JSON line; the test reads it.

What is compared: the same tiny model and data trained on one device and on two, through
the trainer's own `backend.configure` / `strategy_scope` / `CachedRows` (15 samples in
batches of 4: the last batch is short and padded). Same number of steps; the final
weights, predictions and loss within TOLERANCE (float32 sums in another order; nothing
else differs: the padded rows carry weight 0 and the real rows' weights are scaled so the
batch loss is that of its real rows); Keras' per-epoch losses within EPOCH_LOSS_TOLERANCE.
A run that is not data-parallel (one replica) or that splits batches wrongly (a dropped or
doubled row, gradients averaged instead of summed) fails these asserts.

The JAX cases need the `jax` package (in the `test` extra); without it they skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # starts a backend in a child process per case

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-4  # final weights, predictions and loss, one device against two
# Keras' per-epoch loss is a mean over batches weighted by their row count, padding
# included: the short batch (3 rows padded to 4) weighs a little more over two devices.
EPOCH_LOSS_TOLERANCE = 0.05
HAS_JAX = importlib.util.find_spec("jax") is not None
BACKENDS = [
    "tensorflow",
    pytest.param(
        "jax", marks=pytest.mark.skipif(not HAS_JAX, reason="jax is not installed (.[jax])")
    ),
]

# Two virtual CPU devices before the backend starts; then the trainer's modules.
PRELUDE = """
import json, os, sys
from pathlib import Path
sys.path[:0] = [{root!r}, {tests!r}]
if os.environ["KERAS_BACKEND"] == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from trainer import backend
from trainer.errors import TrainerError
"""

COMPARE = """
from trainer.features import CachedRows

work = Path(sys.argv[1])
rng = np.random.default_rng(0)
x = rng.normal(size=(15, 6)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 0)
np.save(work / "x.npy", x)


class Steps(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1


def fit(devices):
    info = backend.configure(devices=devices)
    batch = backend.check_batch(4)
    data = CachedRows([[work / "x.npy"]], y, batch, weights={0: 1.0, 1: 2.0, 2: 0.5},
                      shuffle=True, seed=1, pad_to=info["devices"], workers=1)
    with backend.strategy_scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        steps = Steps()
        # shuffle=False: Keras would also reorder the batches with Python's random, whose
        # state differs between the two runs; CachedRows shuffles its rows itself.
        history = model.fit(data, epochs=3, verbose=0, callbacks=[steps], shuffle=False)
        replicas = (model.distribute_strategy.num_replicas_in_sync
                    if keras.backend.backend() == "tensorflow"
                    else len(model.weights[0].value.sharding.device_set))
        predicted = backend.predict_batch(model, x)
    weight = np.array([1.0, 2.0, 0.5])[y]
    final = float(-(weight * np.log(predicted[np.arange(len(y)), y])).sum() / len(y))
    try:
        backend.check_batch(7)
        ragged = None
    except TrainerError as exc:
        ragged = str(exc)
    return {"loss": history.history["loss"], "steps": steps.steps, "replicas": replicas,
            "weights": [w.tolist() for w in model.get_weights()], "layout": info["layout"],
            "predicted": predicted.tolist(), "final": final, "ragged": ragged}


print(json.dumps({"one": fit(1), "two": fit(2)}))
"""

TRAIN = """
from trainer_tests.traingen import build_catalog
from catalog import open_catalog
from catalog.runs import list_runs
from trainer.config import make_job
from trainer.evaluate import load_run_model
from trainer.train import train

path = Path(sys.argv[1]) / "catalog.db"
build_catalog(path)
with open_catalog(path) as cat:
    job = make_job("mobilenet_v2", weights="none", epochs=1, size=32, batch_size=8,
                   augment_passes=1, fine_tune_epochs=1)
    try:
        train(cat, job.with_request(batch_size=7))
        ragged = None
    except TrainerError as exc:
        ragged = str(exc)
    run = train(cat, job)
    model, classes = load_run_model(cat, run)
    probs = model.predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0)
    print(json.dumps({"status": run["status"], "device": run["metrics"]["device"],
                      "runs": len(list_runs(cat)), "ragged": ragged,
                      "probs": [list(map(float, p)) for p in probs], "classes": classes}))
"""


def run_child(script: str, backend: str, work: Path, timeout: int = 900) -> dict:
    """`script` after PRELUDE in a fresh Python with two virtual CPU devices; its JSON line."""
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "",  # virtual CPU devices only, even on a GPU machine
    }
    code = PRELUDE.format(root=str(ROOT), tests=str(ROOT / "tests")) + textwrap.dedent(script)
    done = subprocess.run(
        [sys.executable, "-c", code, str(work)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(lines[-1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_devices_train_as_one_device_does(backend, tmp_path):
    """Same steps, losses and weights on one device and on two; batches split between them."""
    result = run_child(COMPARE, backend, tmp_path)
    one, two = result["one"], result["two"]
    assert one["replicas"] == 1 and two["replicas"] == 2
    assert one["layout"]["engine"] == "none"
    assert (
        two["layout"]["engine"]
        == {
            "jax": "keras.distribution.DataParallel",
            "tensorflow": "tf.distribute.MirroredStrategy",
        }[backend]
    )
    assert len(two["layout"]["devices"]) == 2
    assert one["steps"] == two["steps"] == 3 * 4  # 15 samples in batches of 4, 3 epochs
    np.testing.assert_allclose(two["loss"], one["loss"], atol=EPOCH_LOSS_TOLERANCE)
    assert one["loss"][-1] < one["loss"][0] - 0.1  # it learned something worth comparing
    assert abs(two["final"] - one["final"]) < TOLERANCE
    for a, b in zip(one["weights"], two["weights"], strict=True):
        np.testing.assert_allclose(np.array(b), np.array(a), atol=TOLERANCE)
    # Each row once: 15 rows in (padded to 16), 15 predictions out (TensorFlow's own
    # predict_on_batch on a mirrored model returns every device's copy: 30).
    assert np.array(two["predicted"]).shape == (15, 3)
    np.testing.assert_allclose(two["predicted"], one["predicted"], atol=TOLERANCE)
    assert one["ragged"] is None
    assert "--batch-size 7 does not split into equal parts over 2 devices" in two["ragged"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_trainer_runs_data_parallel_and_records_its_layout(backend, tmp_path):
    """train() on two devices: one finished run row with the layout, a loadable model; a
    global batch the devices cannot split is refused before any run row is written."""
    result = run_child(TRAIN, backend, tmp_path)
    assert result["status"] == "finished" and result["runs"] == 1
    device = result["device"]
    assert device["devices"] == 2 and device["backend"] == backend
    assert device["layout"]["processes"] == 1 and len(device["layout"]["devices"]) == 2
    assert "--batch-size 7 does not split" in result["ragged"]
    probs = np.array(result["probs"])
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


TWO_PROCESSES = """
from catalog import open_catalog
from catalog.runs import list_runs
from trainer.config import make_job
from trainer.train import train

path = Path(sys.argv[1]) / "catalog.db"
with open_catalog(path) as cat:
    job = make_job("mobilenet_v2", weights="none", epochs=1, size=32, batch_size=8,
                   augment_passes=1, fine_tune_epochs=1)
    run = train(cat, job)
    print(json.dumps({"id": run["id"], "runs": len(list_runs(cat)),
                      "process": int(os.environ["KERAS_DISTRIBUTION_PROCESS_ID"])}))
"""


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed (.[jax])")
def test_two_processes_on_localhost_train_one_run(tmp_path):
    """JAX over two processes on 127.0.0.1 (one CPU device each, Gloo collectives): each trains
    its shard in step, process 0 alone writes the one run row and the model."""
    import socket

    from trainer_tests.traingen import build_catalog

    build_catalog(tmp_path / "catalog.db")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = PRELUDE.format(root=str(ROOT), tests=str(ROOT / "tests")) + textwrap.dedent(
        TWO_PROCESSES
    )
    children = []
    for process_id in range(2):
        env = {
            **os.environ,
            "KERAS_BACKEND": "jax",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "CUDA_VISIBLE_DEVICES": "",
            "XLA_FLAGS": "",
            "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}",
            "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
            "KERAS_DISTRIBUTION_PROCESS_ID": str(process_id),
        }
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", code, str(tmp_path)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    try:
        for child in children:
            out, err = child.communicate(timeout=1200)
            lines = [line for line in out.splitlines() if line.startswith("{")]
            assert child.returncode == 0 and lines, out[-3000:] + err[-3000:]
            outputs.append(json.loads(lines[-1]))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert [o["process"] for o in outputs] == [0, 1]
    assert outputs[0]["id"] == outputs[1]["id"]  # process 1 was told process 0's run
    from catalog import open_catalog
    from catalog.runs import get_run, list_runs

    with open_catalog(tmp_path / "catalog.db") as cat:
        assert len(list_runs(cat)) == 1
        run = get_run(cat, outputs[0]["id"])
        assert run["status"] == "finished"
        layout = run["metrics"]["device"]["layout"]
        assert layout["processes"] == 2 and layout["engine"] == "keras.distribution.DataParallel"
        assert len(layout["devices"]) == 2
        assert (cat.root / run["artifacts"]["model"]).is_file()
