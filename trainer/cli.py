"""`train`: fine-tune a classifier on a split of the catalog, evaluate it, predict.

Nothing here imports Keras at start-up: `train --help` and `train runs` stay fast, and the
commands that need the backend import it through `quiet.import_keras` (no start-up notes).
The options' defaults are `RunRequest`'s; how a run trains is its recipe (`recipe`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from clikit import (
    DEFAULT_CATALOG_PATH,
    MESSAGE_LIMIT,
    CatalogOption,
    catalog_opener,
    err_console,
    fail,
    plain,
    say,
)
from clikit.progress import bar

from .advice import scratch_warning, train_each
from .audit import DEFAULT_AUDIT_BACKBONE, MAX_QUALITY, AuditConfig
from .backbones import ALL, BACKBONES, ORIGINAL_BACKBONES, RECOMMENDED_BACKBONE
from .config import RunRequest, jobs_for
from .errors import TrainerError
from .quiet import import_keras
from .recipe import parse_settings, recipe_fields

app = typer.Typer(
    help="Train, evaluate and use image classifiers from the catalog.",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,  # shell completion would add two options to the ones a user reads
)
# CatalogError and the trainer's errors become one line and exit code 1.
catalog_for_cli = catalog_opener(TrainerError)
console = Console()
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(RunRequest)}
BACKBONE_HELP = (
    f"One of {', '.join(BACKBONES)}; {ALL} ({', '.join(ORIGINAL_BACKBONES)}, one run each); "
    "or an ensemble of backbones joined by + (one model on their concatenated features). "
    f"Default: {RECOMMENDED_BACKBONE}."
)


@app.callback()
def main(
    ctx: typer.Context,
    backbone: Annotated[str, typer.Option(help=BACKBONE_HELP, show_default=False)] = DEFAULTS[
        "backbone"
    ],
    weights: Annotated[
        str,
        typer.Option(
            help=(
                "imagenet, none, or a weights file; for an ensemble one value, or one per backbone "
                "joined by commas."
            )
        ),
    ] = DEFAULTS["weights"],
    split: Annotated[
        str | None, typer.Option(help="The split (default: `default`, else the newest).")
    ] = DEFAULTS["split"],
    accepted_only: Annotated[
        bool, typer.Option(help="Only accepted images (default: pending too).")
    ] = DEFAULTS["accepted_only"],
    exclude_flagged: Annotated[
        bool,
        typer.Option(
            help=(
                "Leave out the images the split's newest `train audit` flagged "
                "and nobody reviewed since."
            )
        ),
    ] = DEFAULTS["exclude_flagged"],
    seed: Annotated[int, typer.Option()] = DEFAULTS["seed"],
    size: Annotated[
        int | None,
        typer.Option(
            min=32,
            help="Input size in px (default: the recipe's for a deep fine-tune, else the "
            "backbone's, an ensemble's largest).",
        ),
    ] = DEFAULTS["size"],
    batch_size: Annotated[int, typer.Option(min=1)] = DEFAULTS["batch_size"],
    devices: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Train on this many of the host's GPUs, data-parallel (default: all visible); "
            "--batch-size is the global batch, a multiple of it.",
        ),
    ] = DEFAULTS["devices"],
    epochs: Annotated[
        int, typer.Option(min=1, help="Max head epochs on cached features (early stopping).")
    ] = DEFAULTS["epochs"],
    flip_tta: Annotated[
        bool,
        typer.Option(
            help="Average each image's and its mirror image's predictions (inside the saved model)."
        ),
    ] = DEFAULTS["flip_tta"],
    resume: Annotated[int | None, typer.Option(help="Continue an interrupted run by id.")] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Change a field of the training recipe, e.g. --set fine_tune_epochs=0 (the head "
            "alone); repeatable. `train recipe` lists the fields.",
        ),
    ] = None,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Fine-tune a backbone on the catalog's split, evaluate it on the test subset, record the run.

    Without --backbone it trains the recommended configuration (named in --backbone's help);
    how it trains is the backbones' recipe (`train recipe`), changed field by field with --set.

    Example: train --backbone mobilenet_v2+efficientnet_lite0 --weights mnv2.weights.h5,imagenet
    """
    if ctx.invoked_subcommand is not None:
        _refuse_options_before(ctx)
        return
    request = RunRequest(**{k: v for k, v in ctx.params.items() if k in DEFAULTS})
    try:  # every choice is checked here, before the catalog opens or a backend loads
        jobs = [] if resume is not None else jobs_for(request, parse_settings(settings or []))
    except TrainerError as exc:
        raise fail(str(exc)) from None
    if resume is not None and settings:
        raise fail("--resume continues a run with its own recipe; --set cannot change it")
    failures: list = []
    with catalog_for_cli(catalog) as cat:
        warning = scratch_warning(cat, jobs) if jobs else None
        if warning:
            say(("warning:", "yellow"), " ", warning, console=err_console)
        import_keras()
        from .train import train

        if resume is not None:
            runs = [train(cat, None, resume=resume, verbose=2)]
        elif len(jobs) == 1:
            runs = [train(cat, jobs[0], verbose=2)]  # one run: its error is the command's error
        else:
            runs, failures = train_each(cat, jobs, verbose=2)
    typer.echo(plain(_runs_table(runs, "trained"), MESSAGE_LIMIT, newlines=True))
    for run in runs:
        say(_where(catalog, run))
        if run["metrics"].get("shipped"):
            say(f"run {run['id']}: {_shipped_line(run['metrics']['shipped'])}")
        if run["metrics"].get("unknown"):
            say(f"run {run['id']}: {_unknown_line(run['metrics']['unknown'])}")
    for failure in failures:
        say(("failed:", "red"), f" {failure.backbone}: {failure.error}", console=err_console)
    if failures:
        raise typer.Exit(code=1)


def _refuse_options_before(ctx: typer.Context) -> None:
    """`train --epochs 3 runs` would silently ignore --epochs: the training options belong
    to `train` alone, and a subcommand's own options come after its name."""
    # By name: Typer may bring its own copy of Click's ParameterSource enum.
    sources = {name: ctx.get_parameter_source(name) for name in ctx.params}
    given = [name for name, source in sources.items() if source and source.name != "DEFAULT"]
    if given:
        options = ", ".join(
            "--" + ("set" if n == "settings" else n.replace("_", "-")) for n in given
        )
        raise fail(
            f"{options} belong to `train` itself, not `train {ctx.invoked_subcommand}`; "
            f"give a subcommand's options after its name (`train {ctx.invoked_subcommand} --help`)"
        )


@app.command()
def recipe(
    backbone: Annotated[str, typer.Option(help=BACKBONE_HELP, show_default=False)] = DEFAULTS[
        "backbone"
    ],
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Show the recipe with this change."),
    ] = None,
) -> None:
    """Show how `train` trains a backbone spec: the recipe's fields, their values and meaning.

    Any field can be changed for one run with `train --set KEY=VALUE`; `auto` and `none`
    values are decided when the run sees its data (images per class, the backbones' size).

    Example: train recipe --backbone efficientnet_lite0 --set fine_tune_epochs=0
    """
    try:
        jobs = jobs_for(
            RunRequest(backbone=backbone, weights="none"), parse_settings(settings or [])
        )
    except TrainerError as exc:
        raise fail(str(exc)) from None
    for job in jobs:
        values = asdict(job.recipe)
        say(f"recipe of {job.spec.text}:")
        wide = max(len(name) for name in values)
        for name, help_text in recipe_fields():
            value = "none" if values[name] is None else values[name]
            say(f"  {name:{wide}}  {value!s:>8}  {help_text}")


@app.command()
def runs(
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the runs as a JSON list (for scripts).")
    ] = False,
    all_runs: Annotated[
        bool, typer.Option("--all", help="Also list failed runs, with why they failed.")
    ] = False,
) -> None:
    """List the training runs with their test scores, newest first; a run whose process is
    gone shows as `died`.

    Failed runs are left out unless --all; the run `train predict` uses by default is marked `*`.

    Example: train runs --all
    """
    from catalog import default_run, list_runs

    with catalog_for_cli(catalog) as cat:
        rows = [{**r, "reason": _reason(r)} for r in list_runs(cat)]
        marked = default_run(cat)
    for r in rows:
        r["default"] = marked is not None and r["id"] == marked["id"]
    shown = rows if all_runs else [r for r in rows if r["status"] != "failed"]
    if as_json:
        typer.echo(_runs_json(shown))
        return
    typer.echo(plain(_runs_table(shown, "runs"), MESSAGE_LIMIT, newlines=True))
    if len(shown) < len(rows):
        say(
            f"{len(rows) - len(shown)} failed runs not shown: `train runs --all` lists them with "
            "the reason"
        )


@app.command()
def use(
    run: Annotated[
        int, typer.Argument(help="The finished run `train predict` should use (see `train runs`).")
    ],
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Mark the run that `train predict` uses when no --run is given.

    Example: train use 3
    """
    from catalog import set_default_run

    with catalog_for_cli(catalog) as cat:
        row = set_default_run(cat, run)
    top1 = row["metrics"].get("top1")
    score = f", top-1 {top1:.3f}" if top1 is not None else ""
    say(f"train predict now uses run {run} ({row['backbone']}{score}) unless --run is given")


@app.command()
def evaluate(
    run: Annotated[int, typer.Argument(help="The run id (see `train runs`).")],
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Re-score a run's saved model on its test subset; stores predictions and figures.

    Example: train evaluate 3
    """
    with catalog_for_cli(catalog) as cat:
        import_keras()
        from catalog import get_run

        from .evaluate import evaluate_run

        metrics = evaluate_run(cat, run)
        unknown = get_run(cat, run)["metrics"].get("unknown")  # kept from training
    top3 = f", top-3 {metrics['top3']:.3f}" if "top3" in metrics else ""
    say(f"run {run}: top-1 {metrics['top1']:.3f}{top3} on {metrics['test_images']} test images")
    wide = max([5, *(len(name) for name in metrics["per_class"])])
    for name, m in metrics["per_class"].items():
        say(
            f"  {name:{wide}}  precision {m['precision']:.2f}  recall {m['recall']:.2f}  "
            f"n={m['support']}"
        )
    typer.echo(plain(_pairs_table(metrics["confused_pairs"]), MESSAGE_LIMIT, newlines=True))
    if unknown:
        say(f"run {run}: {_unknown_line(unknown)}")


@app.command()
def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files.", exists=True, dir_okay=False)],
    run: Annotated[
        int | None,
        typer.Option(
            help=(
                "The run id (default: the run `train use` marked, else the newest finished run "
                "above chance)."
            )
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            help="An exported model (the folder `train export` wrote, or the model in it), run "
            "with its own runtime: no catalog, no Keras, no `unknown`.",
        ),
    ] = None,
    top: Annotated[int, typer.Option(help="How many classes to show per image.")] = 3,
    unknown: Annotated[
        bool,
        typer.Option(
            help="Answer `unknown` for an image far from every class (the run's stored threshold)."
        ),
    ] = True,
    unknown_threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=2.0,
            help="Unknown above this cosine distance to the nearest training image "
            "(default: the run's).",
        ),
    ] = None,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Classify image files with a trained run's saved model; `unknown` when far from every class.

    Example: train predict shoe1.jpg shoe2.png --run 3 --top 3 --unknown-threshold 0.3
    Example: train predict shoe1.jpg --model runs/3/export/onnx
    """
    if model is not None:
        _predict_exported(model, images, top, run, unknown_threshold)
        return
    with catalog_for_cli(catalog) as cat:
        import_keras()
        from .predict import predict_files

        with bar("classifying", len(images), unit="files", transient=True) as advance:
            used, results = predict_files(
                cat,
                images,
                run_id=run,
                top=top,
                on_progress=advance,
                unknown=unknown,
                unknown_threshold=unknown_threshold,
            )
    why = f": {used['chosen']}" if used.get("chosen") else ""
    say(f"answered by run {used['id']} ({used['backbone']}){why}", console=err_console)
    if unknown and used.get("unknown_rule") is None:
        say(_no_rule_note(used), console=err_console)
    if used.get("unknown_rule") is not None:
        say(_unknown_summary(results, used), console=err_console)
    _print_predictions(results, used.get("unknown_rule"))


def _predict_exported(
    model: Path, images: list[Path], top: int, run: int | None, threshold: float | None
) -> None:
    """`train predict --model`: an exported model with its own runtime; no catalog, no Keras."""
    if run is not None:
        raise fail("give --run or --model, not both")
    if threshold is not None:
        raise fail("an exported model has no `unknown` rule: --unknown-threshold needs a run")
    from .exported import predict_exported

    try:
        with bar("classifying", len(images), unit="files", transient=True) as advance:
            used, results = predict_exported(model, images, top=top, on_progress=advance)
    except TrainerError as exc:
        raise fail(str(exc)) from None
    say(
        f"answered by {used.path} ({used.format}, {used.runtime}); an exported model has no "
        "`unknown` rule: every image gets a class",
        console=err_console,
    )
    _print_predictions(results, None)


def _print_predictions(results: list, threshold: float | None) -> None:
    """One tab-separated line per file on stdout, an error line per unreadable file (exit 1)."""
    for item in results:
        if item.error:
            say(("error:", "red"), f" {item.path}: {item.error}", console=err_console)
            continue
        typer.echo(_prediction_line(item, threshold))  # tab-separated for scripts
    if any(item.error for item in results):
        raise typer.Exit(code=1)  # the readable files were still classified above


def _prediction_line(item, threshold: float | None) -> str:
    """`PATH<tab>CLASS p  CLASS p ...`, or `PATH<tab>unknown<tab>why; the closest classes`."""
    ranked = "  ".join(f"{plain(c)} {p:.3f}" for c, p in item.top_k)
    if not item.unknown:
        return f"{plain(item.path)}\t{ranked}"
    why = f"distance {item.distance:.3f} > threshold {threshold:.3f}"
    return f"{plain(item.path)}\tunknown\t{why}; closest classes: {ranked}"


def _shipped_line(shipped: dict) -> str:
    """Which model the run saved, head only or fine-tuned, and why."""
    model = "the head on the frozen backbone" if shipped["model"] == "head" else "the fine-tune"
    return f"ships {model}: {shipped['why']}"


def _unknown_line(summary: dict) -> str:
    """One line for people: the rule a run answers `unknown` with, and how it was chosen."""
    if summary.get("usable") is False:
        return f"no usable `unknown` rule: {summary.get('why', '')}; every image gets a class"
    line = (
        "unknown when the nearest training image is at cosine distance > "
        f"{summary['threshold']:.3f} (chosen on {summary['source']}, so that about "
        f"{summary['expected_share']:.0%} of real images of the classes would be unknown)"
    )
    for part in ("val", "test"):
        unknown, scored = summary.get(f"{part}_unknown") or (0, 0)
        if scored:
            line += f"; {part} images called unknown: {unknown} of {scored}"
    return line


def _no_rule_note(run: dict) -> str:
    summary = (run.get("metrics") or {}).get("unknown") or {}
    if summary.get("usable") is False:
        return (
            f"note: run {run['id']} has no usable `unknown` rule ({summary.get('why', '')}): "
            "every image gets a class; --unknown-threshold sets one by hand"
        )
    return (
        f"note: run {run['id']} has no `unknown` threshold (trained by an older version): "
        "every image gets a class; train again to have far-off images answered `unknown`"
    )


def _unknown_summary(results: list, run: dict) -> str:
    scored = [r for r in results if r.distance is not None]
    unknown = sum(r.unknown for r in scored)
    return (
        f"unknown: {unknown} of {len(scored)} images, far from every class of run {run['id']} "
        f"(cosine distance to the nearest training image > {run['unknown_rule']:.3f})"
    )


@app.command()
def audit(
    split: Annotated[
        str | None, typer.Option(help="The split (default: `default`, else the newest).")
    ] = None,
    folds: Annotated[int, typer.Option(help="Folds for the out-of-fold probabilities.")] = 5,
    backbone: Annotated[
        str, typer.Option(help="The frozen backbone whose features are audited.")
    ] = DEFAULT_AUDIT_BACKBONE,
    weights: Annotated[str, typer.Option(help="imagenet, none, or a weights file.")] = "imagenet",
    size: Annotated[
        int | None, typer.Option(help="Input size in px (default: the backbone's).")
    ] = None,
    max_quality: Annotated[
        float,
        typer.Option(
            help=(
                "Flag labels whose quality (out-of-fold probability of the given class) is below "
                "this; 0: let cleanlab's find_label_issues decide."
            )
        ),
    ] = MAX_QUALITY,
    run: Annotated[
        int | None,
        typer.Option(
            help=(
                "Also use this finished run's fine-tuned features (see `train runs`): "
                "fewer, far more certain flags."
            )
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print every flagged image as JSON for scripts.")
    ] = False,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Find mislabelled and off-topic images of a split (train and test); changes no image.

    Review the findings, worst first, with `curate review --audit`.

    Example: train audit --split default --folds 5 --json > flags.json
    """
    cfg = AuditConfig(
        split=split,
        folds=folds,
        backbone=backbone,
        weights=weights,
        size=size,
        max_quality=max_quality or None,
        run=run,
    )
    with catalog_for_cli(catalog) as cat:
        import_keras()
        from .audit import run_audit

        with bar("audit features", None, transient=True) as advance:
            result = run_audit(cat, cfg, advance.set)
    if as_json:
        typer.echo(
            json.dumps(
                {"audit": result.audit_id, "split": result.split, "flags": result.flags}, indent=1
            )
        )
        return
    console.print(_audit_table(result))
    say(
        f"audit {result.audit_id}: {len(result.flags)} of {result.images} images flagged in "
        f"{result.seconds['total']:.0f} s; review them with `curate review --audit "
        f"{result.audit_id}`"
    )
    if result.unreadable:
        say(f"unreadable images skipped: {result.unreadable}", console=err_console)


def _audit_table(result) -> Table:
    # A Text title: a split named `[/y]` is a name, not Rich markup.
    title = f"audit {result.audit_id} of split {result.split}: flagged images per given class"
    table = Table(title=Text(plain(title)))
    for header in ("class", "images", "label", "off-topic", "flagged"):
        table.add_column(header, justify="left" if header == "class" else "right", no_wrap=True)
    for name, c in result.per_class.items():
        flagged = c["label"] + c["off_topic"]
        table.add_row(
            Text(plain(name)),
            str(c["images"]),
            str(c["label"]),
            str(c["off_topic"]),
            f"{flagged / c['images']:.0%}",
        )
    return table


def _where(catalog: Path, run: dict) -> str:
    """Where a finished run's model and figures are, so a person can open them."""
    files = sorted(
        Path(rel).name for rel in (run.get("artifacts") or {}).values() if isinstance(rel, str)
    )
    folder = (
        catalog.resolve().parent
        / Path((run.get("artifacts") or {}).get("model", f"runs/{run['id']}/x")).parent
    )
    return f"run {run['id']}: {folder}/ ({', '.join(files)})"


def _runs_table(rows: list[dict], title: str) -> str:
    """A plain table (like the original notebook's comparison), safe to grep.

    Every column is as wide as its longest value, so long ensemble, split or weights names
    keep the columns aligned; a died run's reason follows on its own indented line.
    """
    header = (
        "run",
        "backbone",
        "split",
        "weights",
        "status",
        "top-1",
        "top-3",
        "test",
        "secs",
        "unknown>",
        "reason",
    )
    right = {"run", "top-1", "top-3", "test", "secs", "unknown>"}
    cells = [_run_cells(r) for r in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(header)]

    def line(values) -> str:
        return "  ".join(
            v.rjust(w) if h in right else v.ljust(w)
            for h, v, w in zip(header, values, widths, strict=True)
        ).rstrip()

    lines = [title, line(header)]
    for r, c in zip(rows, cells, strict=True):
        lines.append(line(c))
        if r.get("died_reason"):
            lines.append(
                f"      died: {r['died_reason']}; continue it with `train --resume {r['id']}`"
            )
    return "\n".join(lines)


def _run_cells(r: dict) -> tuple[str, ...]:
    m = r["metrics"]
    secs = m.get("seconds", {}).get("total")

    def score(k: str) -> str:
        return f"{m[k]:.3f}" if k in m else "-"

    run_id = f"*{r['id']}" if r.get("default") else str(r["id"])
    return (
        run_id,
        r["backbone"],
        r["split"],
        _short(r["weights"]),
        r["status"],
        score("top1"),
        score("top3"),
        str(m.get("test_images", "-")),
        f"{secs:.0f}" if secs else "-",
        f"{m['unknown']['threshold']:.3f}" if m.get("unknown") else "-",
        r.get("reason") or "",
    )


def _reason(run: dict, limit: int = 60) -> str:
    """Why a run failed, short: the error's first line, cut at `limit` characters."""
    if run["status"] != "failed":
        return ""
    error = str(run["metrics"].get("error") or "no error recorded").strip().splitlines()[0]
    return error if len(error) <= limit else error[: limit - 1] + "…"


def _pairs_table(pairs: list[dict]) -> str:
    """The most-confused (true, predicted) pairs as aligned plain text."""
    if not pairs:
        return "no mistakes on the test subset"
    wide_true = max([4, *(len(p["true"]) for p in pairs)])
    lines = [f"most confused pairs:\n  {'true':{wide_true}}  {'n':>4}  {'share':>5}  predicted"]
    lines += [
        f"  {p['true']:{wide_true}}  {p['count']:>4}  {p['rate']:>5.0%}  {p['predicted']}"
        for p in pairs
    ]
    return "\n".join(lines)


def _runs_json(rows: list[dict]) -> str:
    """The runs as a JSON list: every stored column plus `died_reason`, without the confusion
    matrix."""
    keep = [
        {**r, "metrics": {k: v for k, v in r["metrics"].items() if k != "confusion"}} for r in rows
    ]
    return json.dumps(keep, indent=1, ensure_ascii=False)


def _short(weights: str | None) -> str:
    """A weights file by its name only: its folder says nothing in a table."""
    return Path(weights).name if weights and weights not in ("imagenet", "none") else str(weights)


@app.command()
def export(
    fmt: Annotated[
        str, typer.Option("--format", help="onnx, litert or saved_model.", show_default=False)
    ],
    run: Annotated[
        int | None,
        typer.Argument(help="The run (default: the run `train predict` uses).", show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            file_okay=False, help="The folder (default: runs/ID/export/FORMAT beside the catalog)."
        ),
    ] = None,
    quantize: Annotated[
        str | None,
        typer.Option(
            help="LiteRT only: float16 or int8 (dynamic-range) weights; the top-1 change is "
            "printed."
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            help="Run the export with its own runtime on the run's test images and compare it "
            "with the Keras model."
        ),
    ] = True,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Export a run's model as ONNX, LiteRT or a SavedModel, with labels.json and MODEL.md.

    The exported model takes raw RGB uint8 pixels at the run's input size and returns class
    probabilities; `train predict --model FOLDER` runs it with its own runtime.

    Example: train export 3 --format litert --quantize int8 --out ./sneakers-litert
    """
    from .exported import check_export_request

    try:  # a wrong choice or a missing package is refused before Keras loads
        check_export_request(fmt, quantize)
    except TrainerError as exc:
        raise fail(str(exc)) from None
    with catalog_for_cli(catalog) as cat:
        import_keras()
        from .export import export_run

        result = export_run(cat, run, fmt, out=out, quantize=quantize, check=check)
    for line in _export_lines(result, "given" if run is not None else result.run["chosen"]):
        say(line)
    if result.check and not result.quantize and not result.check.agrees():
        raise fail("the export does not give the Keras model's answers: do not ship it")


def _export_lines(result, chosen: str) -> list[str]:
    """What `train export` prints: which run, where its model went, the contract, the check."""
    run, s = result.run, result.size
    name = result.format + (f" ({result.quantize})" if result.quantize else "")
    lines = [
        f"run {run['id']} ({run['backbone']}): {chosen}",
        f"exported as {name} in {result.seconds:.0f} s: {result.model} "
        f"({result.bytes / 1e6:.1f} MB)",
        f"input: uint8 RGB pixels, shape (N, {s}, {s}, 3), each image squashed to {s} x {s} px; "
        f"output: probabilities of {len(result.classes)} classes (labels.json)",
    ]
    lines += result.check.lines() if result.check else []
    return [*lines, f"model card: {result.folder / 'MODEL.md'}"]


@app.command()
def cache(
    clear: Annotated[
        bool,
        typer.Option("--clear", help="Remove the cached files (runs rebuild them when needed)."),
    ] = False,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Show the size of the caches beside the catalog (decoded pixels, backbone features,
    audit features); --clear removes them.

    Example: train cache --clear
    """
    from .cache import cache_usage, clear_cache

    with catalog_for_cli(catalog) as cat:
        usages = clear_cache(cat) if clear else cache_usage(cat)
    for u in usages:
        say(
            f"{u.name}: {'removed ' if clear else ''}{len(u.files)} files, {u.bytes / 1e6:.1f} MB "
            f"in {u.folder}"
        )
        if u.foreign:
            say(f"  {len(u.foreign)} other files there are not the trainer's and were left alone")


if __name__ == "__main__":
    app()
