"""A 50-class dataset as people really have it: messy folder names, a run that died (issue 18).

Imports 50 class folders (3 generated 40 px images each) named like `nike_air_max_plus_(tn)`,
`New Balance 550` and `Ünïcode`, plus a hidden folder; splits; records a run whose process
is gone, sees it listed as died, resumes it (tiny: weights none, 32 px, one epoch), and
checks the 50-class figures, the confused-pairs table, `train runs --json` and predict.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from catalog import class_names, open_catalog
from catalog.runs import start_run
from curation.cli import app as curate
from trainer.cli import app as train_app
from trainer.config import make_job

pytestmark = pytest.mark.slow  # trains a Keras model

MESSY = [
    "nike_air_max_plus_(tn)",
    "New Balance 550",
    "Ünïcode",
    "air_max_90",
    "-dash-first",
    "Yeezy 350 V2 (Zebra)",
    "Jordan 1 Retro High OG 'Chicago'",
    "550.white.green",
    "Dunk Low — Panda",
]


def _folders() -> list[str]:
    return MESSY + [f"Model #{i:02d} (2019)" for i in range(50 - len(MESSY))]


def _image(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8), "RGB").save(buf, "PNG")
    return buf.getvalue()


def _tree(root: Path) -> Path:
    for c, folder in enumerate([*_folders(), ".hidden-ish"]):
        for i in range(3):
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder / f"{i}.png").write_bytes(_image(100 * c + i))
    return root


def _ok(app, args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_messy_50_class_tree_imports_trains_and_a_died_run_resumes(tmp_path, monkeypatch):
    db = str(tmp_path / "catalog.db")
    root = _tree(tmp_path / "dataset")
    shown = _ok(curate, ["import", str(root), "--catalog", db, "--dry-run"])
    assert "'nike_air_max_plus_(tn)' -> nike_air_max_plus_tn (cleaned)" in shown
    assert "'Dunk Low — Panda' -> Dunk_Low_Panda (cleaned)" in shown
    assert "the class Air_Max_90 only by case" in shown
    _ok(
        curate,
        ["import", str(root), "--catalog", db, "--add-classes", "--map", "air_max_90=Air_Max_90"],
    )
    with open_catalog(db) as cat:
        names = set(class_names(cat))
        assert {
            "nike_air_max_plus_tn",
            "New_Balance_550",
            "Unicode",
            "dash-first",
            "Yeezy_350_V2_Zebra",
            "Jordan_1_Retro_High_OG_Chicago",
            "550.white.green",
            "Model_07_2019",
        } <= names
        assert not any("hidden" in n for n in names)
        assert cat.db.execute("SELECT COUNT(DISTINCT class), COUNT(*) FROM images").fetchone() == (
            50,
            150,
        )
    _ok(curate, ["split", "--catalog", db, "--test", "0.34", "--max-distance", "0"])

    cfg = make_job(
        "mobilenet_v2",
        weights="none",
        split="default",
        epochs=1,
        fine_tune_epochs=0,
        size=32,
        batch_size=32,
        augment_passes=1,
        val_fraction=0.0,
        flip_tta=False,
    )
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with open_catalog(db) as cat:
        run_id = start_run(cat, cfg.spec.text, "default", cfg.request.weights, cfg.params())["id"]
        cat.table("runs").update(run_id, {"pid": dead.pid})  # as if the kernel had killed it
    assert "died: process" in _ok(train_app, ["runs", "--catalog", db])

    _ok(train_app, ["--resume", str(run_id), "--catalog", db])
    runs = json.loads(_ok(train_app, ["runs", "--json", "--catalog", db]))
    assert [(r["id"], r["status"]) for r in runs] == [(run_id, "finished")]
    assert (
        runs[0]["metrics"]["test_images"] == 50 and len(runs[0]["metrics"]["confused_pairs"]) == 10
    )

    evaluated = _ok(train_app, ["evaluate", str(run_id), "--catalog", db])
    assert "most confused pairs:" in evaluated
    run_dir = tmp_path / "runs" / str(run_id)
    with Image.open(run_dir / "confusion.png") as im:
        assert im.size[0] <= 1700 and im.size[1] <= 1300, im.size
    files = sorted(str(p) for p in root.glob("New Balance 550/*.png"))
    predicted = _ok(train_app, ["predict", *files, "--run", str(run_id), "--catalog", db])
    assert sum(line.startswith(str(root)) for line in predicted.splitlines()) == 3
    _predict_reports_progress_per_chunk(db, run_id, [Path(f) for f in files], monkeypatch)


def _predict_reports_progress_per_chunk(
    db: str, run_id: int, files: list[Path], monkeypatch
) -> None:
    """Issue 18: `train predict` on 1,109 files was silent for up to two minutes."""
    from trainer import predict

    monkeypatch.setattr(predict, "CHUNK", 2)
    done: list[int] = []
    with open_catalog(db) as cat:
        _, results = predict.predict_files(cat, files, run_id=run_id, on_progress=done.append)
    assert done == [2, 1] and all(r.top_k for r in results)
