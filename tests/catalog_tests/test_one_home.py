"""Rules the catalog owns for every stage, each written once (issue 17)."""

from __future__ import annotations

import time

import pytest
from imagegen import image_bytes

from catalog import CatalogError, Provenance, add_image, assign_split, choose_split, default_split

PROV = Provenance(origin="import", source_url="file:///x.jpg")


def _images(cat, n: int) -> list[int]:
    return [add_image(cat, image_bytes(50 + k), "Yeezy_350", PROV).image["id"] for k in range(n)]


def test_default_split_is_default_else_the_newest_else_none(cat):
    assert default_split(cat) is None and choose_split(cat, None) is None
    a, b = _images(cat, 2)
    assign_split(cat, "older", [(a, "train")])
    time.sleep(1.1)  # created_at has second precision
    assign_split(cat, "newer", [(b, "test")])
    assert default_split(cat) == "newer"
    assign_split(cat, "default", [(a, "train")])
    assert default_split(cat) == "default" == choose_split(cat, None)
    assert choose_split(cat, "older") == "older"
    with pytest.raises(CatalogError, match="unknown split 'nope'. Known splits: "):
        choose_split(cat, "nope")


def test_stats_export_and_training_choose_the_same_split(cat, tmp_path):
    """The rule had three copies (curate stats, export, train's data and advice)."""
    from curation.export import export_split
    from curation.stats import catalog_stats
    from trainer.advice import train_images

    a, b = _images(cat, 2)
    assign_split(cat, "first", [(a, "train"), (b, "test")])
    time.sleep(1.1)
    assign_split(cat, "second", [(a, "test"), (b, "train")])
    assert catalog_stats(cat)["split"] == "second"
    assert export_split(cat, tmp_path / "out").split == "second"
    assert train_images(cat, None) == 1


def _option_default(command, name: str):
    (param,) = [p for p in command.params if p.name == name]
    return param.default


def test_the_storage_floor_is_one_constant():
    """Every way into the catalog refuses images under the same side, written once."""
    import inspect

    import typer

    from catalog import MIN_STORED_SIDE, InvalidImage, validate_image
    from crawler.cli import app as crawl_app
    from crawler.crawl import CrawlOptions
    from curation.cli import app as curate_app
    from curation.importer import import_plan

    side = MIN_STORED_SIDE
    assert validate_image(image_bytes(4, (side, side))).width == side
    with pytest.raises(InvalidImage, match=f"under {side} px"):
        validate_image(image_bytes(4, (side - 1, 64)))
    assert inspect.signature(add_image).parameters["min_side"].default == MIN_STORED_SIDE
    assert inspect.signature(import_plan).parameters["min_side"].default == MIN_STORED_SIDE
    assert CrawlOptions().min_side == MIN_STORED_SIDE
    assert _option_default(typer.main.get_command(crawl_app), "min_side") == MIN_STORED_SIDE
    curate = typer.main.get_command(curate_app)
    assert _option_default(curate.commands["import"], "min_side") == MIN_STORED_SIDE
