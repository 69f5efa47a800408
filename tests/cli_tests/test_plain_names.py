"""Class, split and query names, file names and page names are data: every `curate` and
`crawl` command that prints one prints it as it is, never as Rich markup, and never passes
an escape sequence or bytes that are not UTF-8 to the terminal.

The catalogs are real. Class names that `curate classes add` would refuse reach a catalog
edited by hand (`sqlite3 catalog.db`) or written by another version, so they are inserted
here with SQL, as such a catalog holds them. Commands run through typer's CliRunner with
`color=True`, so that what reaches the "terminal" is not stripped of escape sequences.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
from pathlib import Path

import pytest
from crawler_tests.crawlserver import FIXTURES, Tile, google_page, offline_dns, serving_faults
from curation_tests.nearcopies import TRANSFORMS, encode
from imagegen import image_bytes, make_image
from rich.console import Console
from typer.testing import CliRunner, Result

from catalog import Provenance, add_image, open_catalog
from crawler import cli as crawl_cli
from crawler import fetch
from crawler.cli import app as crawl_app
from crawler.report import CrawlReport
from curation.cli import app as curate_app

runner = CliRunner()

# name -> how it must look in the output: brackets kept, the escape byte shown as `\x1b`.
NAMES = {
    "[/y]": "[/y]",
    "[bold]x[/bold]": "[bold]x[/bold]",
    "a\x1b[31mred": "a\\x1b[31mred",
}
SPLIT = "[/y]split[bold] \x1b[2J"
SPLIT_SHOWN = "[/y]split[bold] \\x1b[2J"
QUERY = "[bold]shoe[/bold] \x1b[31m[/y]"
QUERY_SHOWN = "[bold]shoe[/bold] \\x1b[31m[/y]"
PROV = Provenance(origin="import")


@pytest.fixture(autouse=True)
def no_dns(monkeypatch):
    """`crawl` builds its own fetcher: it resolves no host name either."""
    monkeypatch.setattr(fetch, "resolve", offline_dns)


def curate(catalog_path: Path, *args: str) -> Result:
    return runner.invoke(curate_app, [*args, "--catalog", str(catalog_path)], color=True)


def crawl(catalog_path: Path, *args: str) -> Result:
    return runner.invoke(crawl_app, [*args, "--catalog", str(catalog_path)], color=True)


def printed(result: Result, *shown: str, code: int = 0) -> str:
    """The output, after checking the exit code, that every `shown` text is in it as it is,
    and that no escape sequence or bell reached it."""
    output = result.output
    assert result.exit_code == code, output
    assert code or result.exception is None, repr(result.exception)
    assert "Traceback" not in output, output
    assert "\x1b" not in output and "\x07" not in output, repr(output)
    for text in shown:
        assert text in output, (text, output)
    return output


def add_odd_classes(catalog_path: Path, query: str = "{name} sneaker") -> None:
    """The classes of NAMES, inserted as a hand-edited catalog holds them, each with the
    query `query` names it in."""
    with open_catalog(catalog_path) as cat:
        for name in NAMES:
            row = {"name": name, "query": query.format(name=name), "created_at": "2026-01-01"}
            cat.table("classes").insert(row)


@pytest.fixture
def odd_catalog(catalog_path: Path) -> Path:
    """Five images per odd class, a near copy of each class's first (a duplicate group) and
    a near copy of it in the next class (a label conflict)."""
    add_odd_classes(catalog_path)
    names = list(NAMES)
    with open_catalog(catalog_path) as cat:
        for k, name in enumerate(names):
            for seed in range(5):
                add_image(cat, image_bytes(100 + 10 * k + seed, (160, 120)), name, PROV)
            first = make_image(100 + 10 * k, (160, 120))
            add_image(cat, encode(TRANSFORMS["resize"](first)), name, PROV)
            other = names[(k + 1) % len(names)]
            add_image(cat, encode(TRANSFORMS["reencode"](first)), other, PROV)
    return catalog_path


# ---- curate ------------------------------------------------------------------------------


def test_import_shows_folder_names_as_they_are(tmp_path, catalog_path, write_image):
    folders = ["[bold]x", "[y]z[i]", "a\x1b[31mred", os.fsdecode(b"caf\xe9 [i]")]
    for k, folder in enumerate(folders):
        write_image(tmp_path / "ds" / folder / "1.jpg", 10 + k)
    out = printed(curate(catalog_path, "import", str(tmp_path / "ds"), "--add-classes"))
    assert "'[bold]x' -> bold_x" in out and "'[y]z[i]' -> y_z_i" in out
    assert "'a\\x1b[31mred' -> a_31mred" in out
    assert "caf\\udce9 [i]' -> caf_i" in out and "4 new" in out


def test_import_dry_run_shows_folder_names_as_they_are(tmp_path, catalog_path, write_image):
    write_image(tmp_path / "ds" / "[bold]x" / "1.jpg", 1)
    out = printed(curate(catalog_path, "import", str(tmp_path / "ds"), "--dry-run"))
    assert "'[bold]x' -> bold_x" in out and "new classes (need --add-classes): bold_x" in out


def test_stats_shows_class_and_split_names(odd_catalog):
    printed(curate(odd_catalog, "split", "--name", SPLIT))
    printed(curate(odd_catalog, "stats", "--split", SPLIT), SPLIT_SHOWN, *NAMES.values())
    printed(curate(odd_catalog, "stats"), *NAMES.values())


def test_classes_list_and_add_show_names_and_queries(odd_catalog):
    out = printed(curate(odd_catalog, "classes", "add", "Odd_1", "--query", QUERY), QUERY_SHOWN)
    assert "added class Odd_1" in out
    out = printed(curate(odd_catalog, "classes", "list"), f"Odd_1\t{QUERY_SHOWN}")
    for shown in NAMES.values():
        assert f"{shown}\t{shown} sneaker" in out


def test_dedup_shows_class_names_in_counts_groups_and_conflicts(odd_catalog):
    out = printed(
        curate(odd_catalog, "dedup", "--verbose"),
        "conflict image 1 ([/y]) looks like image 7 ([bold]x[/bold])",
        "conflict image 8 ([bold]x[/bold]) looks like image 14 (a\\x1b[31mred)",
        "3 groups: marked 3 duplicates, 3 label conflicts",
    )
    for shown in NAMES.values():
        assert f"  {shown}: 1 kept, 1 duplicate marked, 2 label conflicts" in out
        assert f"  {shown}: image " in out and " kept; duplicates: image " in out


def test_split_and_leaks_show_split_and_class_names(odd_catalog):
    out = printed(curate(odd_catalog, "split", "--name", SPLIT), SPLIT_SHOWN)
    for shown in NAMES.values():
        assert f"  {shown}: train " in out
    printed(curate(odd_catalog, "leaks", SPLIT), f"0 leaks in split '{SPLIT_SHOWN}'")


def test_relabel_and_undo_show_class_names(odd_catalog):
    printed(curate(odd_catalog, "relabel", "1", "--to", "[bold]x[/bold]"), "to [bold]x[/bold]")
    printed(curate(odd_catalog, "undo"), "'class': '[/y]'")


def test_export_shows_the_split_and_refuses_a_class_that_is_no_folder_name(odd_catalog, tmp_path):
    """A class name with a slash put its images in other folders (`train/[/y]/...`)."""
    printed(curate(odd_catalog, "split", "--name", SPLIT))
    dest = tmp_path / "[bold]out[x]"
    out = printed(curate(odd_catalog, "export", str(dest), "--split", SPLIT), code=1)
    assert "class '[/y]' cannot be a folder name" in out and not dest.exists()
    with open_catalog(odd_catalog) as cat:
        cat.db.execute("UPDATE images SET class = 'Yeezy_350'")
    out = printed(curate(odd_catalog, "export", str(dest), "--split", SPLIT))
    assert f"exported split '{SPLIT_SHOWN}' to {dest}: " in out


def test_check_shows_stray_file_names(odd_catalog):
    """`check` exits 1 for the stray files it finds, and names each as it is."""
    store = odd_catalog.parent / "images"
    for name in ["[bold]x[i]", "a\x1b[31mred.jpg", os.fsdecode(b"caf\xe9.jpg")]:
        (store / name).write_bytes(b"stray")
    printed(curate(odd_catalog, "check"), "[bold]x[i]", "a\\x1b[31mred.jpg", "caf\\xe9.jpg", code=1)


# ---- crawl -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(NAMES))
def test_crawl_shows_class_and_page_names(name, tmp_path, catalog_path):
    add_odd_classes(catalog_path)
    page = tmp_path / os.fsdecode(b"[bold]p[x] \x1b[31m caf\xe9.html")
    shutil.copy(FIXTURES / "google" / "rg_meta.html", page)
    printed(
        crawl(catalog_path, "--class", name, "--page", str(page)),
        f"{NAMES[name]}: 3 hits parsed",
        f"page {tmp_path}/[bold]p[x] \\x1b[31m caf\\xe9.html: format rg_meta",
    )


def test_crawl_all_shows_every_class_name(catalog_path):
    add_odd_classes(catalog_path, query=QUERY + " {name}")
    seeds: dict[str, int] = {}
    with serving_faults() as server:
        server.routes["/search"] = lambda h, q: h.reply(
            200,
            google_page([Tile(server.url(f"/img/{seeds.setdefault(q['q'], len(seeds))}.jpg"))])
            if q["ijn"] == "0"
            else b"<html>" + b" " * 3000 + b"</html>",
            "text/html",
        )
        args = ["--all", "--search-url", server.url("/search"), "--delay", "0"]
        result = crawl(catalog_path, *args, "--allow-private", "127.0.0.1")
    printed(result, *(f"{shown}: 1 hits parsed" for shown in NAMES.values()))
    assert f"{QUERY} [/y]" in seeds  # the odd query was searched for as it is


def test_crawl_error_lists_class_names_as_they_are(catalog_path):
    add_odd_classes(catalog_path)
    printed(
        crawl(
            catalog_path,
            "--class",
            "[nope]\x1b[31m",
            "--page",
            str(FIXTURES / "google" / "rg_meta.html"),
        ),
        "unknown class '[nope]\\x1b[31m'",
        "Yeezy_500, [/y], [bold]x[/bold], a\\x1b[31mred",
        code=1,
    )


def test_crawl_progress_bar_shows_the_class_name_on_a_terminal(monkeypatch):
    """The bar (drawn only on a terminal) read the class name as markup: `[/y]` raised."""
    screen = io.StringIO()
    terminal = functools.partial(Console, force_terminal=True, file=screen, width=120)
    monkeypatch.setattr(crawl_cli, "Console", terminal)
    with crawl_cli._progress() as update:
        update(CrawlReport(class_name="a\x1b[31mred [/y]", limit=10))
    assert "a\\x1b[31mred [/y]" in screen.getvalue()
    assert "\x1b[31mred" not in screen.getvalue()
