"""`curate`: import, inspect and curate the images in a catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from catalog import (
    IMAGE_MAX_BYTES,
    MB,
    MIN_STORED_SIDE,
    add_class,
    cache_note,
    check_catalog,
    list_classes,
)
from clikit import DEFAULT_CATALOG_PATH, CatalogOption, catalog_opener, plain, say

from .classmap import describe, map_classes, parse_map_option, read_map_file
from .commands import register as register_commands
from .errors import CurationError
from .importer import check_plan_classes, import_plan, plan_import
from .stats import catalog_stats

app = typer.Typer(
    help="Curate the images in a catalog: import, dedup, review, split, export.",
    no_args_is_help=True,
)
classes_app = typer.Typer(help="List and add classes.", no_args_is_help=True)
app.add_typer(classes_app, name="classes")
console = Console(soft_wrap=True)
# CatalogError and CurationError become one line and exit code 1.
catalog_for_cli = catalog_opener(CurationError)


@app.command("import")
def import_cmd(
    folder: Annotated[
        Path, typer.Argument(help="DIR/<class>/* or DIR/train/<class>/* + DIR/test/<class>/*")
    ],
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    add_classes: Annotated[
        bool, typer.Option(help="Create classes for unknown folder names.")
    ] = False,
    min_side: Annotated[
        int,
        typer.Option(
            help="Refuse (do not store) images whose shorter side is under this (px); "
            "curate quality --small-below only flags."
        ),
    ] = MIN_STORED_SIDE,
    max_mb: Annotated[
        float,
        typer.Option(
            min=0.001, help="Refuse files larger than this many MB (read into memory whole)."
        ),
    ] = IMAGE_MAX_BYTES / MB,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="FOLDER=CLASS: the class of a folder (repeatable)."),
    ] = None,
    map_file: Annotated[
        Path | None,
        typer.Option(
            help="A file of FOLDER=CLASS lines, or a .csv of folder,class.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Show the folder-to-class mapping and stop; write nothing.")
    ] = False,
) -> None:
    """Import an existing dataset folder; a train/test layout becomes the split `imported`.

    Folder names that are not valid class names are cleaned by the rule in the README
    (`New Balance 550` -> `New_Balance_550`) or mapped with --map; the mapping is shown first.

    Example: curate import ./SneakerDataset --map "nike_air_max_plus_(tn)=Air_Max_Plus_TN"
    """
    with catalog_for_cli(catalog) as cat:
        explicit = read_map_file(map_file) if map_file else {}
        explicit.update(parse_map_option(text) for text in map_ or [])
        plan, class_map = map_classes(
            plan_import(folder), [c["name"] for c in list_classes(cat)], explicit
        )
        for line in describe(class_map):
            say(f"  class {line}")
        if dry_run:
            _print_dry_run(plan, {c["name"] for c in list_classes(cat)})
            return
        added = check_plan_classes(cat, plan, add_missing=add_classes)
        with _progress() as progress:
            task = progress.add_task("importing", total=len(plan.items))
            report = import_plan(
                cat,
                plan,
                min_side=min_side,
                max_bytes=int(max_mb * MB),
                on_item=lambda _: progress.advance(task),
            )
    if added:
        say(f"added classes: {', '.join(added)}")
    say(
        f"{report.found} files ({report.layout} layout): {report.added} new, "
        f"{report.already} already in the catalog, {len(report.failures)} failed, "
        f"{len(report.conflicts)} label conflicts"
    )
    for path, reason, detail in report.failures:
        say("  ", ("failed", "red"), f" {path}: {reason}: {detail}")
    for path, kept_class, image_id in report.conflicts:
        say(
            "  ", ("conflict", "yellow"), f" {path}: same bytes as image {image_id} in {kept_class}"
        )
    for path in report.ignored:
        say("  ", ("ignored", "dim"), f" {path}: not inside a class folder")
    if report.split_name:
        say(f"split {report.split_name!r}: {report.split_assigned} images newly assigned")


def _print_dry_run(plan, known: set[str]) -> None:
    new = [name for name in plan.classes if name not in known]
    say(
        f"dry run: {len(plan.items)} files in {len(plan.classes)} classes ({plan.layout} layout); "
        "nothing written"
    )
    if new:
        say(f"  new classes (need --add-classes): {', '.join(new)}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


@app.command()
def stats(
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    split: Annotated[
        str | None, typer.Option(help="The split to count (default: `default`, else the newest).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Per-class train/test counts and counts by status.

    Example: curate stats --split imported --json
    """
    with catalog_for_cli(catalog) as cat:
        result = catalog_stats(cat, split)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    console.print(_stats_table(result))
    if result["open_conflicts"]:
        say(
            f"{result['open_conflicts']} open label conflicts: review them with `curate review "
            "--status conflict`"
        )


def _stats_table(result: dict) -> Table:
    split = result["split"] or "no split yet"
    table = Table(
        title=Text(
            plain(f"images per class (train/test: split {split}; usable = pending + accepted)")
        )
    )
    columns = ["class", "train", "test", "unsplit", "pending", "accepted", "rejected", "duplicate"]
    headers = ["class", "train", "test", "unsplit", "pend.", "acc.", "rej.", "dup."]
    for col, header in zip(columns, headers, strict=True):
        table.add_column(header, justify="left" if col == "class" else "right", no_wrap=True)
    for row in result["classes"]:
        # A Text cell is shown as it is; a str cell would be read as Rich markup.
        table.add_row(Text(plain(row["class"])), *(str(row[c]) for c in columns[1:]))
    table.add_row("total", *(str(result["totals"][c]) for c in columns[1:]), style="bold")
    return table


@app.command()
def check(
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    fix: Annotated[
        bool, typer.Option(help="Remove proved orphan files and mark rows whose file is missing.")
    ] = False,
) -> None:
    """Check that every row has its file and every file its row; exit 1 if not.

    --fix removes a file only if this catalog created it, no catalog in the folder refers
    to it and no writer is storing files; other files are reported and left alone.

    Example: curate check --fix
    """
    with catalog_for_cli(catalog) as cat:
        report = check_catalog(cat, fix=fix)
    for problem in report.problems:
        done = (" ", (f"fixed: {problem.fixed}", "green")) if problem.fixed else ()
        say(f"{problem.kind} {problem.subject}: {problem.detail}", *done)
    say(
        f"checked {report.images_checked} images and {report.files_checked} files: "
        f"{'ok' if report.ok else 'problems found (run with --fix)'}"
    )
    if report.caches:
        say(cache_note(report.caches))
    if not report.ok:
        raise typer.Exit(code=1)


@classes_app.command("list")
def classes_list(catalog: CatalogOption = DEFAULT_CATALOG_PATH) -> None:
    """List the classes and their search queries.

    Example: curate classes list
    """
    with catalog_for_cli(catalog) as cat:
        rows = list_classes(cat)
    for row in rows:
        typer.echo(f"{plain(row['name'])}\t{plain(row['query'])}")  # tab-separated for scripts


@classes_app.command("add")
def classes_add(
    name: Annotated[str, typer.Argument(help="A safe folder name, e.g. New_Balance_550.")],
    query: Annotated[str | None, typer.Option(help="The search query (default: the name).")] = None,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Add a class with the query used to search for it.

    Example: curate classes add New_Balance_550 --query "New Balance 550 sneaker"
    """
    with catalog_for_cli(catalog) as cat:
        row = add_class(cat, name, query)
    say(f"added class {row['name']} (query: {row['query']!r})")


# The curation commands live in their own module to keep this one short; added here,
# after this module's own, so `curate --help` lists them in this order.
register_commands(app)


@app.command()
def serve(
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    host: Annotated[
        str, typer.Option(help="The address to listen on; anything but loopback is reachable.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 takes a free port.")] = 0,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the URL in a browser.")
    ] = True,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(help="Another Host name to answer (e.g. behind a tunnel; repeatable)."),
    ] = None,
) -> None:
    """Review the catalog in the browser: a grid, keys, groups, conflicts, audit, runs.

    Stops with Ctrl-C. Example: curate serve --no-open
    """
    import webbrowser

    from .web import serve as serve_web
    from .web.guard import is_loopback

    if not is_loopback(host):
        say(("WARNING:", "bold red"), f" listening on {host}: anyone who can reach this machine")
        say("can see the catalog's images (writes still need this session's token)")

    def ready(url: str) -> None:
        say(f"curate serve: {url} (Ctrl-C stops it)")
        if open_browser:
            webbrowser.open(url)

    with catalog_for_cli(catalog):  # a bad catalog is one line and exit 1, as elsewhere
        serve_web(catalog, host=host, port=port, allow_hosts=allow_host or (), on_ready=ready)
