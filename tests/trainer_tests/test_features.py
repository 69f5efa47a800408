"""Cached features on disk at any dataset size (issue 10): bounded memory, reuse, cleanup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from trainer_tests import featgen
from typer.testing import CliRunner

from catalog import open_catalog
from trainer.arrays import NpyWriter
from trainer.cache import cache_usage, clear_cache
from trainer.cli import app
from trainer.data import cache_dir, features_dir, fill_cache
from trainer.features import (
    CachedRows,
    feature_pass,
    map_files,
)

pytestmark = pytest.mark.slow  # trainer.data and trainer.features import Keras

SIZE, BATCH = featgen.SIZE, featgen.BATCH
_examples, _member = featgen.examples, featgen.member


def test_feature_memory_does_not_grow_with_the_number_of_images(tmp_path):
    """Issue 10: every pass's maps of every image were held in memory (21.7 GB on 4,678 images).

    Four times the images must not take more memory at peak; the old code's
    (passes, N, 16, 16, 64) float32 array alone is 3 x 256 x 64 KB = 48 MB here. Measured
    in a fresh process (`featgen`): inside the pytest process the figures depended on which
    tests ran before (failed at 1.9 MB for 64 images against 9.6 MB for 256).
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "trainer_tests.featgen", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    peaks = {int(n): v for n, v in json.loads(done.stdout.splitlines()[-1]).items()}
    for n in featgen.SIZES:  # the maps went to disk instead: one float16 file per pass
        files = sorted((tmp_path / f"cache{n}" / "features").glob("*/maps-*.npy"))
        assert len(files) == featgen.PASSES
        for path in files:
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
    # key.json + one maps file; no audit ran
    assert before == {"decoded pixels": 3, "backbone features": 2, "audit features": 0}
    shown = CliRunner().invoke(app, ["cache", "--catalog", str(catalog_path)])
    assert shown.exit_code == 0, shown.output
    assert "decoded pixels: 3 files" in shown.output and "3 other files" not in shown.output
    cleared = CliRunner().invoke(app, ["cache", "--clear", "--catalog", str(catalog_path)])
    assert cleared.exit_code == 0, cleared.output
    assert "removed 3 files" in cleared.output
    with open_catalog(catalog_path) as cat:
        assert all(p.read_text() == "keep me" for p in foreign)
        assert [len(u.files) for u in cache_usage(cat)] == [0, 0, 0]
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


def _killed_writer(path: Path) -> int:
    """Start a process that writes `path` with NpyWriter, kill it mid-write; its pid."""
    code = (
        "import sys, time; import numpy as np; from pathlib import Path;"
        "from trainer.arrays import NpyWriter;"
        "w = NpyWriter(Path(sys.argv[1]), (10, 4), np.float16); w.write(np.zeros((2, 4)));"
        "w._fh.flush(); print('writing', flush=True); time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    proc.kill()
    proc.wait()
    return proc.pid


def test_partial_files_of_a_killed_run_are_removed_by_the_next_run(tmp_path):
    """Issue 10: a killed run left `.partial-*.npy` files in the cache until `train cache --clear`.

    The next run removes them when it proves they are its own kind and dead: the trainer's
    name with the writer's pid, in a folder the trainer marked, and no process with that pid.
    A live writer's file, an old name without a pid and files outside the layout stay.
    """
    member, examples = _member(), _examples(tmp_path / "img", 4)
    root, pixels = tmp_path / "features", tmp_path / "pixels"
    (key_folder,) = {p.parent for p in map_files(root, [member], examples, None)}
    dead = _killed_writer(key_folder / "maps-aug7.npy")
    (stale,) = key_folder.glob(f".partial-{dead}-*.npy")
    live = NpyWriter(key_folder / "maps-aug8.npy", (10, 4), np.float16)  # this process: alive
    kept = [
        key_folder / ".partial-abc123.npy",  # no pid: proves nothing
        root / "unmarked" / f".partial-{dead}-x.npy",  # no key.json: not the trainer's folder
        pixels / "notes" / "ab" / f"tmp{dead}-x.npy",  # not the pixels layout
    ]
    stale_pixel = pixels / "32" / "ab" / f"tmp{dead}-x.npy"
    for path in [*kept, stale_pixel]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    fill_cache(examples, SIZE, pixels)
    feature_pass([member], examples, SIZE, pixels, root, None, BATCH)
    assert not stale.exists() and not stale_pixel.exists()
    assert live._out.tmp.exists() and all(p.exists() for p in kept)
    live.close()  # unfinished: dropped by its own writer
    assert not live._out.tmp.exists()


def test_curate_check_reports_the_cache_size_and_how_to_clear_it(catalog_path):
    """Issue 10 item 1: `curate check` should tell that caches take room and how to remove them."""
    from curation.cli import app as curate

    with open_catalog(catalog_path) as cat:
        fill_cache(_examples(cat.root / "img", 3), SIZE, cache_dir(cat))
        pixels = sum(p.stat().st_size for p in cache_dir(cat).rglob("*.npy"))
    checked = CliRunner().invoke(curate, ["check", "--catalog", str(catalog_path)])
    assert checked.exit_code == 0, checked.output
    assert f"cache/pixels {pixels / 1e6:,.1f} MB in 3 files" in checked.output
    assert "`train cache --clear` removes them" in checked.output
    CliRunner().invoke(app, ["cache", "--clear", "--catalog", str(catalog_path)])
    checked = CliRunner().invoke(curate, ["check", "--catalog", str(catalog_path)])
    assert "caches beside the catalog" not in checked.output  # nothing left to report


def test_train_cache_clear_leaves_no_cache_curate_check_reports(catalog_path):
    """Every cache folder has one home (`trainer.cache.CACHES`): the audit's is listed and
    cleared like the others, so `curate check` has nothing left to report."""
    from catalog.integrity import cache_sizes
    from trainer.audit import feature_cache
    from trainer.cache import audit_dir
    from trainer.vectors import write_vector

    sha = "ab" + "0" * 62
    with open_catalog(catalog_path) as cat:
        fill_cache(_examples(cat.root / "img", 2), SIZE, cache_dir(cat))
        frozen = feature_cache(cat, "efficientnet_lite0", "imagenet", 224)
        assert frozen is not None
        for folder in (frozen, audit_dir(cat) / ("run3-" + "0123456789abcdef")):
            write_vector(folder, sha, np.zeros((2, 8), np.float16))
        foreign = audit_dir(cat) / "notes" / "ab" / (sha + ".npy")
        foreign.parent.mkdir(parents=True)
        foreign.write_text("keep me")
        assert {c.folder for c in cache_sizes(cat)} == {"cache/pixels", "cache/audit"}
    shown = CliRunner().invoke(app, ["cache", "--catalog", str(catalog_path)])
    assert "audit features: 2 files" in shown.output, shown.output
    assert "1 other files there are not the trainer's" in shown.output
    cleared = CliRunner().invoke(app, ["cache", "--clear", "--catalog", str(catalog_path)])
    assert cleared.exit_code == 0 and "audit features: removed 2 files" in cleared.output
    assert foreign.read_text() == "keep me"
    foreign.unlink()
    with open_catalog(catalog_path) as cat:
        assert cache_sizes(cat) == []
