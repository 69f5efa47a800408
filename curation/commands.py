"""The curation commands of `curate`: dedup, quality, review, split, leaks, export, sheet.

`curation.cli` adds them to its app with `register(app)`, explicitly: this module does
not import the CLI, so the two never import each other in a circle. Each parses arguments,
calls one library function and prints a summary. Library errors become a message and exit
code 1 via catalog_for_cli.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from clikit import DEFAULT_CATALOG_PATH, CatalogOption, catalog_opener, err_console, say

from . import dedup_report
from . import review as review_lib
from .dedup import DEFAULT_MAX_DISTANCE, dedup
from .errors import CurationError
from .export import export_split
from .hashing import HashReport
from .quality import Thresholds, check_quality
from .sheet import write_sheet
from .split import leaks, split_catalog

# CatalogError and CurationError become one line and exit code 1.
catalog_for_cli = catalog_opener(CurationError)

Ids = Annotated[list[int], typer.Argument(help="Image ids.")]
MaxDistance = Annotated[
    int, typer.Option(help="Largest pHash Hamming distance for a near-duplicate candidate.")
]
_T = Thresholds()


def dedup_cmd(
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    dry_run: Annotated[
        bool, typer.Option(help="Show what would be marked; write nothing (not even hashes).")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Also list every group and label conflict by image id."
        ),
    ] = False,
    max_distance: MaxDistance = DEFAULT_MAX_DISTANCE,
) -> None:
    """Hash new images, group duplicates, keep the largest of each group and mark the rest.

    Prints counts per class; --verbose lists the groups ("image 61 kept; duplicates: image 239").

    Example: curate dedup --dry-run --verbose --max-distance 8
    """
    with catalog_for_cli(catalog) as cat:
        result = dedup(cat, max_distance=max_distance, dry_run=dry_run)
    stored = " (dry run: not stored)" if dry_run else ""
    say(
        f"hashed {result.hashing.hashed} new images{stored}; "
        f"{result.hashing.already} already hashed"
    )
    for line in dedup_report.class_lines(result):
        say(line)
    if verbose:
        for group in result.groups:
            say(dedup_report.group_line(group))
        for conflict in dedup_report.conflict_pairs(result):
            say("  ", ("conflict", "yellow"), dedup_report.conflict_line(conflict))
    say(dedup_report.total_line(result))
    _report_skipped(result.hashing)


def quality(
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    small_below: Annotated[
        int,
        typer.Option(
            help="Flag too-small when the shorter side is under this (px); the image stays "
            "(curate import --min-side refuses to store one)."
        ),
    ] = _T.small_below,
    max_aspect: Annotated[
        float, typer.Option(help="Flag extreme-aspect above this long/short ratio.")
    ] = _T.max_aspect,
    min_std: Annotated[
        float, typer.Option(help="Flag near-uniform below this grey-level std.")
    ] = _T.min_std,
    max_chroma: Annotated[
        float, typer.Option(help="Flag grayscale below this colour spread.")
    ] = _T.max_chroma,
    min_sharpness: Annotated[
        float, typer.Option(help="Flag blurry below this Laplacian std.")
    ] = _T.min_sharpness,
) -> None:
    """Flag small, stretched, blank, grey or blurry images for review (statuses unchanged).

    Example: curate quality --small-below 128 --max-aspect 2.5
    """
    thresholds = Thresholds(small_below, max_aspect, min_std, max_chroma, min_sharpness)
    with catalog_for_cli(catalog) as cat:
        report = check_quality(cat, thresholds)
    counts = ", ".join(f"{flag} {n}" for flag, n in sorted(report.counts.items())) or "none"
    say(f"checked {report.checked} images; flags: {counts}; {report.changed} changed")
    if report.unreadable:
        say(("unreadable files", "red"), f" for images {report.unreadable}")


def accept(ids: Ids, catalog: CatalogOption = DEFAULT_CATALOG_PATH) -> None:
    """Accept images (each decision is audited and can be undone).

    Example: curate accept 12 13 14
    """
    with catalog_for_cli(catalog) as cat:
        done = review_lib.accept_many(cat, ids)
    say(f"accepted {len(done)} images")


def reject(
    ids: Ids,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    reason: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
) -> None:
    """Reject images; nothing is deleted.

    Example: curate reject 40 41 --reason "not a sneaker"
    """
    with catalog_for_cli(catalog) as cat:
        done = review_lib.reject_many(cat, ids, reason)
    say(f"rejected {len(done)} images")


def relabel(
    ids: Ids,
    to: Annotated[str, typer.Option("--to", help="The class the images really belong to.")],
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Move images to another class (and accept them).

    Example: curate relabel 331 --to Yeezy_500
    """
    with catalog_for_cli(catalog) as cat:
        done = review_lib.relabel_many(cat, ids, to)
    say(f"relabelled {len(done)} images to {to}")


def undo(
    image_id: Annotated[
        int | None,
        typer.Argument(help="Undo this image's last decision (default: the newest of all)."),
    ] = None,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Undo the newest review decision, restoring the image's previous status and class.

    Example: curate undo 331
    """
    with catalog_for_cli(catalog) as cat:
        review = review_lib.undo(cat, image_id)
    say(f"undid {review['action']} of image {review['image_id']}: back to {review['before']}")


def review(
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    class_name: Annotated[str | None, typer.Option("--class", help="Only this class.")] = None,
    status: Annotated[
        str, typer.Option(help="Queue: pending, flagged, conflict or duplicate.")
    ] = "pending",
    accept_rest: Annotated[
        bool, typer.Option(help="Accept every undecided image of the queue and exit.")
    ] = False,
    audit: Annotated[
        bool,
        typer.Option(
            "--audit", help="Walk a `train audit`'s flags worst first; a takes the suggestion."
        ),
    ] = False,
    audit_id: Annotated[
        int | None,
        typer.Argument(metavar="[ID]", help="With --audit: the audit (default: the newest)."),
    ] = None,
) -> None:
    """Review images in the terminal: k accept, d reject, l relabel, m move to the other
    class, u undo, n/p next/previous, q quit.

    Example: curate review --class Yeezy_350 --status flagged   (or: curate review --audit 3)
    """
    if audit_id is not None and not audit:
        raise typer.BadParameter("an audit id goes with --audit: curate review --audit ID")
    with catalog_for_cli(catalog) as cat:
        if accept_rest:
            count = review_lib.accept_rest(cat, status, class_name)
            say(f"accepted {count} images")
            return
        if audit:
            from .audit_tui import AuditReviewApp  # Textual loads only for the interactive review

            summary = AuditReviewApp(cat, audit_id=audit_id).run()
        else:
            from .tui import ReviewApp

            summary = ReviewApp(cat, status=status, class_name=class_name).run()
    if summary is not None:
        say(summary.describe())


def sheet(
    out: Annotated[Path, typer.Argument(help="The HTML file to write.", dir_okay=False)],
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    class_name: Annotated[str | None, typer.Option("--class", help="Only this class.")] = None,
    status: Annotated[
        list[str] | None, typer.Option(help="Only these statuses (repeatable).")
    ] = None,
) -> None:
    """Write an HTML contact sheet of thumbnails with ids, to look at in a browser.

    Example: curate sheet --class Yeezy_350 yeezy.html
    """
    with catalog_for_cli(catalog) as cat:
        count = write_sheet(cat, out, class_name=class_name, statuses=status)
    say(f"wrote {count} thumbnails to {out}")


def split(
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    name: Annotated[str, typer.Option(help="The split's name.")] = "default",
    test: Annotated[float, typer.Option(help="The test share per class.")] = 0.2,
    seed: Annotated[
        int, typer.Option(help="Seed: the same seed on the same catalog gives the same split.")
    ] = 42,
    max_distance: MaxDistance = DEFAULT_MAX_DISTANCE,
) -> None:
    """Assign unassigned usable images to train/test, stratified, near duplicates together.

    Example: curate split --name default --test 0.2 --seed 42
    """
    with catalog_for_cli(catalog) as cat:
        report = split_catalog(cat, name, test=test, seed=seed, max_distance=max_distance)
    say(
        f"split {report.name!r}: {report.assigned} newly assigned, {report.groups} near-duplicate "
        "groups kept together"
    )
    for class_name, counts in sorted(report.per_class.items()):
        total = counts["train"] + counts["test"]
        say(
            f"  {class_name}: train {counts['train']}, test {counts['test']} "
            f"({counts['test'] / total:.0%} test)"
        )
    if report.hashing is not None:
        _report_skipped(report.hashing)


def _report_skipped(hashing: HashReport) -> None:
    """Say which images were left out and why; exit 1 when files are missing.

    The other images were processed: a missing file is a catalog problem `curate check` shows.
    """
    if hashing.undecodable:
        say(
            ("skipped", "yellow"),
            f" {len(hashing.undecodable)} images whose file does not decode: "
            f"ids {_ids(hashing.undecodable)}",
        )
    if hashing.missing:
        say(
            ("skipped", "red"),
            f" {len(hashing.missing)} images whose file is missing from the store: "
            f"ids {_ids(hashing.missing)}. Run `curate check` to see every problem",
            console=err_console,
        )
        raise typer.Exit(code=1)


def _ids(ids: list[int], shown: int = 20) -> str:
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(map(str, ids[:shown])) + more


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
        say(f"  train {leak.train_id} ~ test {leak.test_id} ({leak.method} {leak.distance})")
    say(f"{len(found)} leaks in split {split_name!r}")
    if found:
        raise typer.Exit(code=1)


def export(
    dest: Annotated[
        Path,
        typer.Argument(
            help="The folder to (re)build: DEST/train/<class>/, DEST/test/<class>/.",
            file_okay=False,
        ),
    ],
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    split_name: Annotated[
        str | None, typer.Option("--split", help="The split (default: `default`, else the newest).")
    ] = None,
    link: Annotated[
        bool, typer.Option("--link/--copy", help="Symlink into the store, or copy the files.")
    ] = True,
) -> None:
    """Rebuild a Keras-ready folder tree and manifest.csv from a split.

    Deletes only files an earlier export wrote and left unchanged; refuses otherwise.

    Example: curate export dataset --split default --copy
    """
    with catalog_for_cli(catalog) as cat:
        report = export_split(cat, dest, split=split_name, mode="link" if link else "copy")
    train = sum(c["train"] for c in report.counts.values())
    test = sum(c["test"] for c in report.counts.values())
    say(
        f"exported split {report.split!r} to {dest}: {train} train, {test} test, "
        f"{len(report.counts)} classes"
    )


def audit_apply(
    audit_id: Annotated[
        int | None, typer.Argument(metavar="[ID]", help="The audit (default: the newest).")
    ] = None,
    accept_suggestions: Annotated[
        bool, typer.Option(help="Relabel to the suggested class; reject off-topic images.")
    ] = False,
    reject_all: Annotated[
        bool, typer.Option("--reject", help="Reject the flagged images.")
    ] = False,
    keep: Annotated[bool, typer.Option(help="Keep (accept) the given labels.")] = False,
    kind: Annotated[
        str | None, typer.Option(help="Only flags of this kind: label or off_topic.")
    ] = None,
    max_score: Annotated[
        float | None, typer.Option(help="Only flags with a label quality score at most this.")
    ] = None,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Decide an audit's undecided flags in one go (audited; `curate undo` undoes one at a time).

    Example: curate audit-apply 3 --accept-suggestions --kind label --max-score 0.05
    """
    chosen = [
        name
        for name, on in (
            ("accept-suggestions", accept_suggestions),
            ("reject", reject_all),
            ("keep", keep),
        )
        if on
    ]
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --accept-suggestions, --reject, --keep")
    with catalog_for_cli(catalog) as cat:
        audit, _ = review_lib.audit_queue(cat, audit_id)
        count = review_lib.apply_audit(cat, audit["id"], chosen[0], kind=kind, max_score=max_score)
    say(f"audit {audit['id']}: {chosen[0]} on {count} flagged images")


# name -> command, in the order `curate --help` lists them (after curation.cli's own).
COMMANDS: dict[str, Callable[..., None]] = {
    "dedup": dedup_cmd,
    "quality": quality,
    "accept": accept,
    "reject": reject,
    "relabel": relabel,
    "undo": undo,
    "review": review,
    "sheet": sheet,
    "split": split,
    "leaks": leaks_cmd,
    "export": export,
    "audit-apply": audit_apply,
}


def register(app: typer.Typer) -> None:
    """Add the curation commands to `app`; `curation.cli` calls it once."""
    for name, command in COMMANDS.items():
        app.command(name)(command)
