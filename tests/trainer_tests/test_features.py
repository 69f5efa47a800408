"""Cached features on disk at any dataset size (issue 10): bounded memory, right rows, reuse,
cleanup."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from catalog import open_catalog
from trainer.cache import cache_usage, clear_cache
from trainer.cli import app
from trainer.data import Example, cache_dir, features_dir, fill_cache
from trainer.features import CachedRows, Member, feature_pass, pass_seeds, pooled_pass
from trainer.train import TrainConfig, work_plan

pytestmark = pytest.mark.slow  # imports Keras; runs small models

SIZE, BATCH = 32, 8


def _examples(folder: Path, count: int, offset: int = 0) -> list[Example]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(offset)
    out = []
    for i in range(offset, offset + count):
        path = folder / f"{i}.png"
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(buf, "PNG")
        path.write_bytes(buf.getvalue())
        out.append(Example(i, f"{i:064x}", "c", i % 2, path))
    return out


def _member() -> Member:
    """A small bottom (pixels -> 16x16x64 maps) and top (maps -> 8x8x32), as a backbone cut in
    two."""
    keras.utils.set_random_seed(0)
    pixels = keras.Input((SIZE, SIZE, 3))
    bottom = keras.Model(pixels, keras.layers.Conv2D(64, 3, strides=2, padding="same")(pixels))
    maps = keras.Input((16, 16, 64))
    top = keras.Model(maps, keras.layers.Conv2D(32, 3, strides=2, padding="same")(maps))
    return Member(bottom, top, {"backbone": "tiny"})


def _all_phases(member: Member, examples: list[Example], tmp_path: Path) -> list[Path]:
    pixels, root = tmp_path / "pixels", tmp_path / "features"
    fill_cache(examples, SIZE, pixels)
    maps = [
        feature_pass([member], examples, SIZE, pixels, root, s, BATCH) for s in pass_seeds(3, 0)
    ]
    pooled = [pooled_pass([member], per_pass, BATCH) for per_pass in maps]
    labels = np.array([e.label for e in examples])
    for files, concat in (([[m for (m,) in maps]], False), ([[p for (p,) in pooled]], True)):
        data = CachedRows(files, labels, BATCH, shuffle=True, concat=concat, workers=1)
        for i in range(len(data)):
            data[i]
    return [m for (m,) in maps]


def test_feature_memory_does_not_grow_with_the_number_of_images(tmp_path):
    """Issue 10: every pass's maps of every image were held in memory (21.7 GB on 4,678 images).

    Four times the images must not take more memory at peak; the old code's
    (passes, N, 16, 16, 64) float32 array alone is 3 x 256 x 64 KB = 48 MB here.
    """
    member = _member()
    _all_phases(
        member, _examples(tmp_path / "warm", BATCH), tmp_path / "warm-cache"
    )  # compile the models first
    peaks = {}
    for n in (64, 256):
        examples = _examples(tmp_path / f"img{n}", n, offset=1000 * n)
        tracemalloc.start()
        maps = _all_phases(member, examples, tmp_path / f"cache{n}")
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        for path in maps:  # the maps went to disk instead: one float16 file per pass
            on_disk = np.load(path, mmap_mode="r")
            assert on_disk.dtype == np.float16 and on_disk.shape == (n, 16, 16, 64)
    whole = 3 * 256 * 16 * 16 * 64 * 4
    assert peaks[256] < whole / 4, peaks
    assert peaks[256] < 1.5 * peaks[64] + 2_000_000, peaks


def test_cached_rows_pair_each_row_with_its_label_once_per_epoch(tmp_path):
    n, passes = 10, 3
    files = []
    for p in range(passes):
        path = tmp_path / f"maps-aug{p}.npy"
        np.save(
            path, (1000 * p + np.arange(n, dtype=np.float16))[:, None]
        )  # row value = pass * 1000 + row
        files.append(path)
    labels = np.arange(n) % 3
    data = CachedRows(
        [files], labels, 4, weights={0: 1.0, 1: 2.0, 2: 3.0}, shuffle=True, seed=5, workers=1
    )
    seen = []
    for i in range(len(data)):
        x, y, w = data[i]
        assert x.dtype == np.float32 and list(y) == list(labels[x[:, 0].astype(int) % 1000])
        assert list(w) == [1.0 + label for label in y]
        seen += list(x[:, 0].astype(int))
    assert sorted(seen) == [1000 * p + r for p in range(passes) for r in range(n)]
    first = seen
    data.on_epoch_end()
    assert sorted(v for i in range(len(data)) for v in data[i][0][:, 0].astype(int)) == sorted(
        first
    )
    capped = CachedRows([files], labels, 4, shuffle=True, max_samples=8, workers=1)
    assert len(capped) == 2 and len({int(v) for i in range(2) for v in capped[i][0][:, 0]}) == 8


def test_a_second_pass_over_the_same_images_reuses_the_cached_files(tmp_path):
    member, examples = _member(), _examples(tmp_path / "img", 10)
    first = feature_pass([member], examples, SIZE, None, tmp_path / "f", None, BATCH)[0]
    stamp = first.stat().st_mtime_ns
    assert feature_pass([member], examples, SIZE, None, tmp_path / "f", None, BATCH) == [first]
    assert first.stat().st_mtime_ns == stamp
    other = feature_pass([member], examples[:-1], SIZE, None, tmp_path / "f", None, BATCH)[0]
    assert other.parent != first.parent  # another image list is another cache key


def test_work_plan_keeps_small_sets_whole_and_bounds_large_ones():
    cfg = TrainConfig("efficientnet_lite0")
    assert work_plan(cfg, 280, 1) == {
        "augment_passes": 5,
        "fine_tune_samples": 5 * 280,
    }  # sneakers10: as before
    assert work_plan(cfg, 280, 2) == {"augment_passes": 5, "fine_tune_samples": 5 * 280}
    assert work_plan(cfg, 4500, 1) == {"augment_passes": 2, "fine_tune_samples": 6000}
    assert work_plan(cfg, 50_000, 1) == {"augment_passes": 1, "fine_tune_samples": 6000}
    unbounded = TrainConfig("efficientnet_lite0", image_pass_budget=0, fine_tune_samples=0)
    assert work_plan(unbounded, 50_000, 1) == {"augment_passes": 5, "fine_tune_samples": 250_000}


def test_train_cache_shows_and_clears_only_the_trainers_files(catalog_path):
    with open_catalog(catalog_path) as cat:
        examples = _examples(cat.root / "img", 3)
        fill_cache(examples, SIZE, cache_dir(cat))
        feature_pass([_member()], examples, SIZE, cache_dir(cat), features_dir(cat), None, BATCH)
        foreign = [
            cache_dir(cat) / "notes.txt",
            features_dir(cat) / "mine.npy",
            cache_dir(cat) / "32" / "00" / "x.npy",
        ]
        for path in foreign:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("keep me")
        before = {u.name: len(u.files) for u in cache_usage(cat)}
    assert before == {"decoded pixels": 3, "backbone features": 2}  # key.json + one maps file
    shown = CliRunner().invoke(app, ["cache", "--catalog", str(catalog_path)])
    assert shown.exit_code == 0, shown.output
    assert "decoded pixels: 3 files" in shown.output and "3 other files" not in shown.output
    cleared = CliRunner().invoke(app, ["cache", "--clear", "--catalog", str(catalog_path)])
    assert cleared.exit_code == 0, cleared.output
    assert "removed 3 files" in cleared.output
    with open_catalog(catalog_path) as cat:
        assert all(p.read_text() == "keep me" for p in foreign)
        assert [len(u.files) for u in cache_usage(cat)] == [0, 0]
        assert sorted(p.name for p in features_dir(cat).iterdir()) == [
            "mine.npy"
        ]  # emptied key folders are gone


@pytest.mark.parametrize("bad", ["../escape.npy", "ab/" + "0" * 64 + ".npy"])
def test_pixel_files_outside_the_trainers_layout_are_foreign(catalog_path, bad):
    with open_catalog(catalog_path) as cat:
        path = (cache_dir(cat) / "64" / bad).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        usage = cache_usage(cat)[0]
        clear_cache(cat)
        assert path.exists() and usage.files == []


def test_cached_pixels_load_from_many_threads_at_once(tmp_path):
    """np.load parses .npy headers with ast, which CPython before 3.11.8 cannot do from several
    threads at once (SystemError: AST constructor recursion depth mismatch, python/cpython#106905);
    seen in CI on the decode threads. `load_npy` must stay safe under that load."""
    from concurrent.futures import ThreadPoolExecutor

    from trainer.data import load_npy

    paths = []
    for i in range(64):
        path = tmp_path / f"{i}.npy"
        np.save(path, np.full((8, 8, 3), i, dtype=np.uint8))
        paths.append(path)
    with ThreadPoolExecutor(16) as pool:
        for _ in range(20):
            arrays = list(pool.map(load_npy, paths))
            assert [int(a[0, 0, 0]) for a in arrays] == list(range(64))
