"""The curation commands of `curate`: dedup, quality, review, split, leaks, export, sheet.

Registered on `curation.cli.app`; each parses arguments, calls one library function and
prints a summary. Library errors become a message and exit code 1 via catalog_for_cli.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from catalog.cli import DEFAULT_CATALOG_PATH, CatalogOption, catalog_for_cli

from . import review as review_lib
from .cli import app, console
from .dedup import DEFAULT_MAX_DISTANCE, dedup
from .export import export_split
from .quality import Thresholds, check_quality
from .sheet import write_sheet
from .split import leaks, split_catalog

Ids = Annotated[list[int], typer.Argument(help="Image ids.")]
MaxDistance = Annotated[int, typer.Option(help="Largest pHash Hamming distance for a near-duplicate candidate.")]
_T = Thresholds()


@app.command("dedup")
def dedup_cmd(
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    dry_run: Annotated[bool, typer.Option(help="Print the groups without marking anything.")] = False,
    max_distance: MaxDistance = DEFAULT_MAX_DISTANCE,
) -> None:
    """Hash new images, group duplicates, keep the largest of each group and mark the rest.

    Example: curate dedup --dry-run --max-distance 8
    """
    with catalog_for_cli(catalog) as cat:
        result = dedup(cat, max_distance=max_distance, dry_run=dry_run)
    console.print(f"hashed {result.hashing.hashed} new images ({result.hashing.already} already hashed)")
    for group in result.groups:
        dups = ", ".join(f"{m.image_id} ({m.method} {m.distance})" for m in group.members)
        spared = f"; accepted, left alone: {group.spared}" if group.spared else ""
        console.print(f"  {group.class_name}: keep {group.keep}, duplicates {dups}{spared}", highlight=False)
    for keep, other_class, other in result.conflicts:
        console.print(f"  [yellow]conflict[/] image {keep} looks like image {other} of {other_class}", highlight=False)
    verb = "would mark" if dry_run else "marked"
    console.print(f"{len(result.groups)} groups: {verb} {result.duplicates} duplicates, {len(result.conflicts)} label conflicts")


@app.command()
def quality(
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    min_side: Annotated[int, typer.Option(help="Flag too-small below this side (px).")] = _T.min_side,
    max_aspect: Annotated[float, typer.Option(help="Flag extreme-aspect above this long/short ratio.")] = _T.max_aspect,
    min_std: Annotated[float, typer.Option(help="Flag near-uniform below this grey-level std.")] = _T.min_std,
    max_chroma: Annotated[float, typer.Option(help="Flag grayscale below this colour spread.")] = _T.max_chroma,
    min_sharpness: Annotated[float, typer.Option(help="Flag blurry below this Laplacian std.")] = _T.min_sharpness,
) -> None:
    """Flag small, stretched, blank, grey or blurry images for review (statuses unchanged).

    Example: curate quality --min-side 128 --max-aspect 2.5
    """
    thresholds = Thresholds(min_side, max_aspect, min_std, max_chroma, min_sharpness)
    with catalog_for_cli(catalog) as cat:
        report = check_quality(cat, thresholds)
    counts = ", ".join(f"{flag} {n}" for flag, n in sorted(report.counts.items())) or "none"
    console.print(f"checked {report.checked} images; flags: {counts}; {report.changed} changed", highlight=False)
    if report.unreadable:
        console.print(f"[red]unreadable files[/] for images {report.unreadable}", highlight=False)


@app.command()
def accept(ids: Ids, catalog: CatalogOption = DEFAULT_CATALOG_PATH) -> None:
    """Accept images (each decision is audited and can be undone).

    Example: curate accept 12 13 14
    """
    with catalog_for_cli(catalog) as cat:
        for image_id in ids:
            review_lib.accept(cat, image_id)
    console.print(f"accepted {len(ids)} images")


@app.command()
def reject(
    ids: Ids,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    reason: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
) -> None:
    """Reject images; nothing is deleted.

    Example: curate reject 40 41 --reason "not a sneaker"
    """
    with catalog_for_cli(catalog) as cat:
        for image_id in ids:
            review_lib.reject(cat, image_id, reason)
    console.print(f"rejected {len(ids)} images")


@app.command()
def relabel(
    ids: Ids,
    to: Annotated[str, typer.Option("--to", help="The class the images really belong to.")],
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Move images to another class (and accept them).

    Example: curate relabel 331 --to Yeezy_500
    """
    with catalog_for_cli(catalog) as cat:
        for image_id in ids:
            review_lib.relabel(cat, image_id, to)
    console.print(f"relabelled {len(ids)} images to {to}", highlight=False)


@app.command()
def undo(
    image_id: Annotated[int | None, typer.Argument(help="Undo this image's last decision (default: the newest of all).")] = None,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Undo the newest review decision, restoring the image's previous status and class.

    Example: curate undo 331
    """
    with catalog_for_cli(catalog) as cat:
        review = review_lib.undo(cat, image_id)
    console.print(f"undid {review['action']} of image {review['image_id']}: back to {review['before']}", highlight=False)


@app.command()
def review(
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    class_name: Annotated[str | None, typer.Option("--class", help="Only this class.")] = None,
    status: Annotated[str, typer.Option(help="Queue: pending, flagged, conflict or duplicate.")] = "pending",
    accept_rest: Annotated[bool, typer.Option(help="Accept every undecided image of the queue and exit.")] = False,
    audit: Annotated[bool, typer.Option("--audit", help="Walk a `train audit`'s flags worst first; a takes the suggestion.")] = False,
    audit_id: Annotated[int | None, typer.Argument(metavar="[ID]", help="With --audit: the audit (default: the newest).")] = None,
) -> None:
    """Review images in the terminal: k accept, d reject, l relabel, u undo, n/p move, q quit.

    Example: curate review --class Yeezy_350 --status flagged   (or: curate review --audit 3)
    """
    if audit_id is not None and not audit:
        raise typer.BadParameter("an audit id goes with --audit: curate review --audit ID")
    with catalog_for_cli(catalog) as cat:
        if accept_rest:
            count = review_lib.accept_rest(cat, status, class_name)
            console.print(f"accepted {count} images")
            return
        if audit:
            from .audit_tui import AuditReviewApp  # Textual loads only for the interactive review

            summary = AuditReviewApp(cat, audit_id=audit_id).run()
        else:
            from .tui import ReviewApp

            summary = ReviewApp(cat, status=status, class_name=class_name).run()
    if summary is not None:
        console.print(summary.describe(), highlight=False)


@app.command()
def sheet(
    out: Annotated[Path, typer.Argument(help="The HTML file to write.", dir_okay=False)],
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    class_name: Annotated[str | None, typer.Option("--class", help="Only this class.")] = None,
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses (repeatable).")] = None,
) -> None:
    """Write an HTML contact sheet of thumbnails with ids, to look at in a browser.

    Example: curate sheet --class Yeezy_350 yeezy.html
    """
    with catalog_for_cli(catalog) as cat:
        count = write_sheet(cat, out, class_name=class_name, statuses=status)
    console.print(f"wrote {count} thumbnails to {out}", highlight=False)


@app.command()
def split(
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    name: Annotated[str, typer.Option(help="The split's name.")] = "default",
    test: Annotated[float, typer.Option(help="The test share per class.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed: the same seed on the same catalog gives the same split.")] = 42,
    max_distance: MaxDistance = DEFAULT_MAX_DISTANCE,
) -> None:
    """Assign unassigned usable images to train/test, stratified, near duplicates together.

    Example: curate split --name default --test 0.2 --seed 42
    """
    with catalog_for_cli(catalog) as cat:
        report = split_catalog(cat, name, test=test, seed=seed, max_distance=max_distance)
    console.print(f"split {report.name!r}: {report.assigned} newly assigned, {report.groups} near-duplicate groups kept together", highlight=False)
    for class_name, counts in sorted(report.per_class.items()):
        total = counts["train"] + counts["test"]
        console.print(f"  {class_name}: train {counts['train']}, test {counts['test']} ({counts['test'] / total:.0%} test)", highlight=False)


@app.command("leaks")
def leaks_cmd(
    split_name: Annotated[str, typer.Argument(metavar="SPLIT", help="The split to check.")],
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    max_distance: MaxDistance = DEFAULT_MAX_DISTANCE,
) -> None:
    """List train/test pairs that are near duplicates; exit 1 if there are any.

    Example: curate leaks default
    """
    with catalog_for_cli(catalog) as cat:
        found = leaks(cat, split_name, max_distance=max_distance)
    for leak in found:
        console.print(f"  train {leak.train_id} ~ test {leak.test_id} ({leak.method} {leak.distance})", highlight=False)
    console.print(f"{len(found)} leaks in split {split_name!r}", highlight=False)
    if found:
        raise typer.Exit(code=1)


@app.command()
def export(
    dest: Annotated[Path, typer.Argument(help="The folder to (re)build: DEST/train/<class>/, DEST/test/<class>/.", file_okay=False)],
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    split_name: Annotated[str | None, typer.Option("--split", help="The split (default: `default`, else the newest).")] = None,
    link: Annotated[bool, typer.Option("--link/--copy", help="Symlink into the store, or copy the files.")] = True,
) -> None:
    """Rebuild a Keras-ready folder tree and manifest.csv from a split.

    Example: curate export dataset --split default --copy
    """
    with catalog_for_cli(catalog) as cat:
        report = export_split(cat, dest, split=split_name, mode="link" if link else "copy")
    train = sum(c["train"] for c in report.counts.values())
    test = sum(c["test"] for c in report.counts.values())
    console.print(f"exported split {report.split!r} to {dest}: {train} train, {test} test, {len(report.counts)} classes", highlight=False)


@app.command("audit-apply")
def audit_apply(
    audit_id: Annotated[int | None, typer.Argument(metavar="[ID]", help="The audit (default: the newest).")] = None,
    accept_suggestions: Annotated[bool, typer.Option(help="Relabel to the suggested class; reject off-topic images.")] = False,
    reject_all: Annotated[bool, typer.Option("--reject", help="Reject the flagged images.")] = False,
    keep: Annotated[bool, typer.Option(help="Keep (accept) the given labels.")] = False,
    kind: Annotated[str | None, typer.Option(help="Only flags of this kind: label or off_topic.")] = None,
    max_score: Annotated[float | None, typer.Option(help="Only flags with a label quality score at most this.")] = None,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Decide an audit's undecided flags in one go (audited; `curate undo` undoes one at a time).

    Example: curate audit-apply 3 --accept-suggestions --kind label --max-score 0.05
    """
    chosen = [name for name, on in (("accept-suggestions", accept_suggestions), ("reject", reject_all), ("keep", keep)) if on]
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --accept-suggestions, --reject, --keep")
    with catalog_for_cli(catalog) as cat:
        audit, _ = review_lib.audit_queue(cat, audit_id)
        count = review_lib.apply_audit(cat, audit["id"], chosen[0], kind=kind, max_score=max_score)
    console.print(f"audit {audit['id']}: {chosen[0]} on {count} flagged images")
