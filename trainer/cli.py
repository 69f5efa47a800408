"""`train`: fine-tune a classifier on a split of the catalog, evaluate it, predict."""

from __future__ import annotations

import typer

from catalog.cli import DEFAULT_CATALOG_PATH, CatalogOption, catalog_for_cli, fail

app = typer.Typer(help="Train, evaluate and use image classifiers from the catalog.")


@app.command()
def train(catalog: CatalogOption = DEFAULT_CATALOG_PATH) -> None:
    """Fine-tune a backbone on the catalog's split.

    Example: train --backbone vgg16
    """
    with catalog_for_cli(catalog):
        pass
    raise fail("the trainer is not built yet")
