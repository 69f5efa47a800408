"""`crawl`: search the web for a class's images and store them in the catalog."""

from __future__ import annotations

from typing import Annotated

import typer

from catalog import require_class
from catalog.cli import DEFAULT_CATALOG_PATH, CatalogOption, catalog_for_cli, fail

app = typer.Typer(help="Crawl image search engines into the catalog.")


@app.command()
def crawl(
    class_name: Annotated[str, typer.Option("--class", help="The class to crawl.")],
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Search for a class's images, download, validate and store them.

    Example: crawl --class Yeezy_350
    """
    with catalog_for_cli(catalog) as cat:
        require_class(cat, class_name)
    raise fail("the crawler is not built yet")
