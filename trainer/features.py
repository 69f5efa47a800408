"""Cached backbone activations, on disk: computed once per image and augmentation pass.

A frozen layer gives the same output every epoch, so running it every epoch (as the
original notebook did) wastes nearly all of the training time. The backbone is cut in
two: the frozen bottom runs once per image and pass, and its maps are kept; phase 1
pools the top's output once into features for the head, and phase 2 fine-tunes the top
on the kept maps. Pass 0 is the plain image; the others are augmented copies.

Nothing here holds a whole dataset in memory: images stream in batches, the
maps go batch by batch into one float16 .npy file per (cache key, pass), pooled features
are computed from those files in batches, and training reads shuffled batches back with
`CachedRows`. The files live under `cache/features/<key>/` beside the catalog, keyed by
everything that defines them (backbone, weights identity, cut, size, dtype policy,
backend, pass seed, the ordered list of image sha256s), so a re-run reuses them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from catalog import write_text_atomic
from clikit.progress import bar

from . import backend
from .arrays import NpyRows, NpyWriter
from .cache import KEY_FILE, stale_features_partials, sweep
from .data import Example, augmenter, image_batches

FEATURES_FILE = "features.json"  # in a run's folder: which cache files it trained on
MAPS_DTYPE = np.float16  # half the disk and reads of float32; the top computes in float32
FORMAT = 1  # bump when what a cached file means changes (augmentations, layout)


@dataclass
class Halves:
    """One backbone of a run, cut in two, and what defines its cached maps."""

    bottom: keras.Model
    top: keras.Model
    key: dict = field(default_factory=dict)


def pass_tag(pass_seed: int | None) -> str:
    """File-name tag of a pass: `plain`, or `aug<seed>` for an augmented one."""
    return "plain" if pass_seed is None else f"aug{pass_seed}"


def pass_seeds(passes: int, seed: int) -> list[int | None]:
    """Pass 0 plain, pass p augmented with seed + 1000 * p (as the trainer always did)."""
    return [None] + [seed + 1000 * p for p in range(1, passes)]


def images_digest(examples: list[Example]) -> str:
    return hashlib.sha256("\n".join(e.sha256 for e in examples).encode()).hexdigest()


def cache_folder(root: Path, member: Halves, examples: list[Example]) -> Path:
    """`root/<digest>`: the folder of this member's files for exactly these images, in this
    order."""
    key = {
        **member.key,
        "images": images_digest(examples),
        "count": len(examples),
        "format": FORMAT,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    folder = root / digest
    if not (folder / KEY_FILE).exists():
        folder.mkdir(parents=True, exist_ok=True)
        # marks the folder as the trainer's (see `cache`)
        write_text_atomic(folder / KEY_FILE, json.dumps(key, indent=1, sort_keys=True))
    return folder


def map_files(
    root: Path, members: list[Halves], examples: list[Example], pass_seed: int | None
) -> list[Path]:
    return [cache_folder(root, m, examples) / f"maps-{pass_tag(pass_seed)}.npy" for m in members]


def recorded_plain_maps(
    run_dir: Path, root: Path, examples: list[Example], part: str
) -> list[tuple[Path, dict]] | None:
    """(maps file, cache key) of each member's plain-pass maps of `examples` as run_dir's
    record names them (`part`: train or val); None when there is no record, or a file is
    gone or holds other images.

    The files are looked up under `root` (the record's absolute paths break when the
    catalog folder moves), and their folder's key must name exactly these images.
    """
    try:
        record = json.loads((run_dir / FEATURES_FILE).read_text())
        recorded = record["train"][0] if part == "train" else record["val"]
    except (OSError, ValueError, KeyError, IndexError):
        return None
    found = []
    for name in recorded:
        path = root / Path(name).parent.name / Path(name).name
        try:
            key = json.loads((path.parent / KEY_FILE).read_text())
        except (OSError, ValueError):
            return None
        same = (key.get("images"), key.get("count")) == (images_digest(examples), len(examples))
        if path.name != f"maps-{pass_tag(None)}.npy" or not same or not path.is_file():
            return None
        found.append((path, key))
    return found or None


def feature_pass(
    members: list[Halves],
    examples: list[Example],
    size: int,
    pixel_cache: Path | None,
    root: Path,
    pass_seed: int | None,
    batch_size: int,
) -> list[Path]:
    """Every member's bottom maps of `examples` for one pass, as float16 .npy files; the paths.

    Only missing files are computed; every member sees the same augmented images, so an
    ensemble's features describe the same views. Augmentation runs per batch as Keras
    layers (on the accelerator when there is one), on uint8 batches cast there.
    """
    sweep(stale_features_partials(root))  # what a killed run was writing
    paths = map_files(root, members, examples, pass_seed)
    todo = [(m, p) for m, p in zip(members, paths, strict=True) if not p.exists()]
    if not todo:
        return paths
    layer = augmenter(pass_seed) if pass_seed is not None else None
    writers = [
        NpyWriter(p, (len(examples), *m.bottom.output.shape[1:]), MAPS_DTYPE) for m, p in todo
    ]
    try:
        with bar(f"features ({pass_tag(pass_seed)})", len(examples)) as advance:
            for batch in image_batches(examples, size, pixel_cache, batch_size):
                x = keras.ops.cast(keras.ops.convert_to_tensor(batch), "float32")
                if layer is not None:
                    x = layer(x, training=True)
                for (m, _), out in zip(todo, writers, strict=True):
                    out.write(backend.predict_batch(m.bottom, x))
                advance(len(batch))
    finally:
        for out in writers:
            out.close()  # a complete file is published, a partial one removed
    return paths


def pooled_file(maps: Path) -> Path:
    return maps.with_name(maps.name.replace("maps-", "pooled-", 1))


def pooled_pass(members: list[Halves], maps: list[Path], batch_size: int) -> list[Path]:
    """Global-average-pooled top outputs (N, F) float32 from each member's maps file, in batches."""
    out_paths = []
    for member, path in zip(members, maps, strict=True):
        out = pooled_file(path)
        out_paths.append(out)
        if out.exists():
            continue
        rows = NpyRows(path)
        width = int(member.top.output.shape[-1])
        with (
            NpyWriter(out, (len(rows), width), np.float32) as writer,
            bar(f"pooled features ({path.stem[5:]})", len(rows)) as advance,
        ):
            for start in range(0, len(rows), batch_size):
                x = rows.read(start, start + batch_size).astype(np.float32)
                y = backend.predict_batch(member.top, x)
                writer.write(y.astype(np.float32).mean(axis=(1, 2)))
                advance(len(x))
    return out_paths


class CachedRows(keras.utils.PyDataset):
    """Batches of (inputs, labels, sample weights) read from cached .npy files.

    `files[m][p]` is member m's file for pass p, each with one row per image; sample s
    is row s % N of pass s // N. `concat`: the inputs are the members' rows side by side
    (pooled features for the head), else a tuple with one array per member (maps for
    the top classifier). `shuffle`: a new seeded order every epoch, the rows of a batch
    read in file order. `max_samples` bounds the samples per epoch (a fresh random
    subset each epoch). Rows are converted to float32 per batch.

    Data-parallel training needs batches that split into equal parts: `pad_to` pads each
    short batch up to a multiple of it, and `steps` fixes the batches per epoch (a process
    whose shard runs out first yields padding, so every process takes the same steps).
    Padding rows repeat a real row with sample weight 0, and the real rows' weights are
    scaled by padded / real size, so the batch's loss and gradients are those of its real
    rows (Keras divides a batch's weighted loss by its row count); then every batch
    carries sample weights. Only the head's training-mode BatchNorm sees the copies.
    """

    def __init__(
        self,
        files: list[list[Path]],
        labels: np.ndarray,
        batch_size: int,
        *,
        weights: dict[int, float] | None = None,
        shuffle: bool = False,
        seed: int = 0,
        concat: bool = False,
        max_samples: int | None = None,
        workers: int = 2,
        pad_to: int = 1,
        steps: int | None = None,
    ):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=4)
        self.readers = [[NpyRows(p) for p in per_member] for per_member in files]
        self.n = len(labels)
        self.labels = np.asarray(labels, dtype=np.int32)
        self.total = self.n * len(files[0])
        self.samples = min(self.total, max_samples) if max_samples else self.total
        self.batch_size, self.shuffle, self.seed, self.concat = batch_size, shuffle, seed, concat
        self.pad_to, self.steps = pad_to, steps
        self.weight_of = (
            np.array(
                [weights.get(i, 1.0) for i in range(int(self.labels.max(initial=0)) + 1)],
                np.float32,
            )
            if weights
            else None
        )
        self.epoch = 0
        self._order = self._new_order()

    def _new_order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.samples)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.total)[
            : self.samples
        ]

    def __len__(self) -> int:
        return self.steps if self.steps is not None else -(-self.samples // self.batch_size)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._new_order()

    def __getitem__(self, index: int):
        samples = np.sort(self._order[index * self.batch_size : (index + 1) * self.batch_size])
        real = len(samples)
        padded = -(-max(real, 1) // self.pad_to) * self.pad_to
        if padded > real:
            filler = samples[-1:] if real else self._order[:1]
            samples = np.concatenate([samples, np.repeat(filler, padded - real)])
        passes, rows = np.divmod(samples, self.n)
        inputs = [self._member_rows(readers, passes, rows) for readers in self.readers]
        x = (
            np.concatenate(inputs, axis=-1)
            if self.concat
            else (inputs[0] if len(inputs) == 1 else tuple(inputs))
        )
        y = self.labels[rows]
        if self.pad_to == 1 and self.steps is None:
            return (x, y) if self.weight_of is None else (x, y, self.weight_of[y])
        weights = np.ones(len(y), np.float32) if self.weight_of is None else self.weight_of[y]
        weights[real:] = 0.0
        if real:
            weights[:real] *= len(y) / real
        return x, y, weights

    @staticmethod
    def _member_rows(readers: list[NpyRows], passes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), *readers[0].shape[1:]), np.float32)
        for p in np.unique(passes):
            where = passes == p  # samples are sorted, so each pass's rows are in file order
            out[where] = readers[p].take(rows[where])
        return out
