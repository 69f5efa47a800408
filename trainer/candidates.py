"""Which model a run ships: the head on the frozen backbone, or the fine-tuned one.

The head trained in phase 1 is a finished model in its own right. A fine-tune can make it
worse: on a user's two-class street photos the default fine-tune fell to chance and never
came back, where the head alone was nearly perfect. So the head is a candidate like every
fine-tune epoch: both are scored on the validation images, the better one ships, and the
run records which and why. A fine-tune whose validation accuracy stays far below the
head's for `COLLAPSE_EPOCHS` epochs in a row is stopped instead of run to the end.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import keras
import numpy as np

from clikit.progress import Bar, bar

# How far below the head's validation accuracy a fine-tune epoch may fall, and for how many
# epochs in a row, before the fine-tune is stopped. Deep fine-tunes on many classes dip in
# their first epoch and recover in the next ones, so one bad epoch is not enough.
COLLAPSE_DROP = 0.2
COLLAPSE_EPOCHS = 3


@dataclass(frozen=True)
class Scores:
    """A candidate's validation accuracy and loss."""

    accuracy: float
    loss: float

    def beats(self, other: Scores) -> bool:
        """Higher accuracy; at equal accuracy, lower loss."""
        if abs(self.accuracy - other.accuracy) > 1e-9:
            return self.accuracy > other.accuracy
        return self.loss < other.loss


def validation_scores(model: keras.Model, val_ds) -> Scores:
    """`model`'s accuracy and loss on the validation batches (inference mode)."""
    result = model.evaluate(val_ds, verbose=0, return_dict=True)
    return Scores(round(float(result["accuracy"]), 4), round(float(result["loss"]), 4))


def choose(head: Scores | None, fine_tuned: Scores | None, stopped: str | None) -> dict:
    """The run's `shipped` record: which model ships (`head` or `fine-tune`) and why."""
    record: dict = {"stopped": stopped}
    if head is not None:
        record["head"] = asdict(head)
    if fine_tuned is not None:
        record["fine_tune"] = asdict(fine_tuned)
    if head is None or fine_tuned is None:
        why = "no validation images to compare the head with the fine-tune: the fine-tune ships"
        return {**record, "model": "fine-tune", "why": why}
    numbers = (
        f"validation accuracy {fine_tuned.accuracy:.3f} (loss {fine_tuned.loss:.3f}) fine-tuned, "
        f"{head.accuracy:.3f} (loss {head.loss:.3f}) head only"
    )
    if fine_tuned.beats(head):
        return {**record, "model": "fine-tune", "why": f"the fine-tune is better: {numbers}"}
    lead = f"the fine-tune was stopped ({stopped}); " if stopped else ""
    return {
        **record,
        "model": "head",
        "why": f"{lead}the head alone is as good or better: {numbers}",
    }


class CollapseStop(keras.callbacks.Callback):
    """Stop the fine-tune when its validation accuracy has stayed more than COLLAPSE_DROP
    below the head's for COLLAPSE_EPOCHS epochs in a row; `reason` then says so."""

    def __init__(self, head_accuracy: float) -> None:
        super().__init__()
        self.floor = head_accuracy - COLLAPSE_DROP
        self.below = 0
        self.reason: str | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        accuracy = (logs or {}).get("val_accuracy")
        if accuracy is None:
            return
        self.below = self.below + 1 if accuracy < self.floor else 0
        if self.below >= COLLAPSE_EPOCHS:
            self.reason = (
                f"validation accuracy below {self.floor:.3f} (the head's minus {COLLAPSE_DROP}) "
                f"for {self.below} epochs, {accuracy:.3f} after epoch {epoch + 1}"
            )
            self.model.stop_training = True


class EpochProgress(keras.callbacks.Callback):
    """A progress bar inside each fine-tune epoch: batches, rate and time left (Keras' own
    epoch lines come only at the end of an epoch, minutes apart on a CPU)."""

    def __init__(self, what: str, epochs: int, samples: int, batch_size: int) -> None:
        super().__init__()
        self.what, self.epochs, self.samples, self.batch_size = what, epochs, samples, batch_size
        self._bar: contextlib.AbstractContextManager[Bar] | None = None
        self._advance: Bar | None = None
        self._done = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._bar = bar(f"{self.what} {epoch + 1}/{self.epochs}", self.samples)
        self._advance, self._done = self._bar.__enter__(), 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._advance is not None:
            step = min(self.batch_size, self.samples - self._done)  # the last batch is short
            self._done += step
            self._advance(step)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._close()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
        self._bar = self._advance = None


class PreciseHeadStatistics(keras.callbacks.Callback):
    """Before each validation inside phase 2 and at its end, set the head BatchNorm's moving
    mean and variance to the exact statistics of the current features on training samples.

    The head trains with batch statistics, but validation and the saved model use the moving
    averages, which follow the features with momentum 0.99: about a hundred steps behind.
    While the fine-tune moves the features, a small dataset (a few dozen steps an epoch) is
    validated with statistics of features that no longer exist, and its validation
    accuracy falls to chance even where the training batches are still right.
    """

    def __init__(self, model: keras.Model, head: keras.Model, train_ds, batches: int) -> None:
        super().__init__()
        names = {layer.name for layer in model.layers}
        source = model.get_layer("features" if "features" in names else "gap_0")
        self.features = keras.Model(model.inputs, source.output)
        self.hidden = keras.Model(head.input, head.get_layer("head_dense").output)
        self.norm = head.get_layer("head_bn")
        self.train_ds, self.batches = train_ds, min(batches, len(train_ds))
        self.fitting = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.fitting = True

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self.fitting:  # not when `validation_scores` evaluates before or after fit
            self.update()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.fitting = False
        self.update()  # after EarlyStopping (listed before) put the best epoch's weights back

    def update(self) -> None:
        width = int(self.norm.moving_mean.shape[0])
        total, squares, count = np.zeros(width), np.zeros(width), 0
        for i in range(self.batches):
            x = self.train_ds[i][0]
            h = np.asarray(self.hidden.predict_on_batch(self.features.predict_on_batch(x)))
            h = h.astype(np.float64)
            total, squares, count = total + h.sum(0), squares + (h * h).sum(0), count + len(h)
        mean = total / count
        variance = np.maximum(squares / count - mean * mean, 0.0)
        self.norm.moving_mean.assign(mean.astype("float32"))
        self.norm.moving_variance.assign(variance.astype("float32"))
