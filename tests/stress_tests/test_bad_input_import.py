"""The bad-input corpus through validation and `curate import` (issue 6)."""

from __future__ import annotations

import pytest
from badcorpus import cases, write_corpus
from typer.testing import CliRunner

from catalog import InvalidImage, iter_images, validate_image
from curation.cli import app as curate_app

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.filename for c in CASES])
def test_validation_names_each_case(case):
    if case.outcome == "ok":
        info = validate_image(case.data)
        assert (info.format, (info.width, info.height)) == (case.format, case.size)
    else:
        with pytest.raises(InvalidImage) as err:
            validate_image(case.data)
        assert err.value.reason == case.outcome


def test_curate_import_of_the_corpus(tmp_path):
    written = write_corpus(tmp_path / "ds" / "Yeezy_350")
    db = tmp_path / "c.db"
    result = CliRunner().invoke(curate_app, ["import", str(tmp_path / "ds"), "--catalog", str(db)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    output = " ".join(result.output.split())
    for case in written:
        if case.outcome != "ok":
            assert f"{case.filename}: {case.outcome}" in output, case.filename
    from catalog import open_catalog

    with open_catalog(db) as cat:
        rows = {r["title"]: r for r in iter_images(cat)}
        accepted = {c.filename: c for c in written if c.outcome == "ok"}
        assert set(rows) == set(accepted)
        for name, case in accepted.items():
            assert (rows[name]["format"], rows[name]["width"], rows[name]["height"]) == (
                case.format,
                *case.size,
            )
        # Nothing was written outside the catalog's folder, and only store files inside it
        # (and the store's lock and registry files beside it, issue 13).
        stored = sorted(
            p.relative_to(tmp_path)
            for p in tmp_path.rglob("*")
            if p.is_file() and "ds" not in p.parts
        )
        assert all(str(p).startswith(("c.db", "images/", ".images-")) for p in stored)
        assert len([p for p in stored if str(p).startswith("images/")]) == len(accepted)
