"""`train`: fine-tune a classifier on a split of the catalog, evaluate it, predict.

Nothing here imports Keras at start-up: `train --help` and `train runs` stay fast, and the
commands that need the backend import it through `quiet.import_keras` (no start-up notes).
The options' defaults are `TrainConfig`'s.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from catalog.cli import DEFAULT_CATALOG_PATH, CatalogOption, catalog_for_cli, err_console

from .backbones import ALL, BACKBONES, ORIGINAL_BACKBONES, RECOMMENDED_BACKBONE, run_specs
from .config import TrainConfig
from .audit import DEFAULT_AUDIT_BACKBONE, MAX_QUALITY, AuditConfig
from .quiet import import_keras

app = typer.Typer(
    help="Train, evaluate and use image classifiers from the catalog.",
    invoke_without_command=True,
    no_args_is_help=False,
)
console = Console()
DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}
BACKBONE_HELP = (
    f"One of {', '.join(BACKBONES)}; {ALL} ({', '.join(ORIGINAL_BACKBONES)}, one run each); or an ensemble of "
    f"backbones joined by + (one model on their concatenated features). Default: {RECOMMENDED_BACKBONE}."
)


@app.callback()
def main(
    ctx: typer.Context,
    backbone: Annotated[str, typer.Option(help=BACKBONE_HELP, show_default=False)] = DEFAULTS["backbone"],
    weights: Annotated[str, typer.Option(help="imagenet, none, or a weights file; for an ensemble one value, or one per backbone joined by commas.")] = DEFAULTS["weights"],
    epochs: Annotated[int, typer.Option(help="Max head epochs on cached features (early stopping).")] = DEFAULTS["epochs"],
    fine_tune_epochs: Annotated[int, typer.Option(help="Epochs with the top of the backbone unfrozen.")] = DEFAULTS["fine_tune_epochs"],
    fine_tune_from: Annotated[str | None, typer.Option(help="Layer after which the backbone is fine-tuned (default: per backbone).")] = DEFAULTS["fine_tune_from"],
    split: Annotated[str | None, typer.Option(help="The split (default: `default`, else the newest).")] = DEFAULTS["split"],
    size: Annotated[int | None, typer.Option(help="Input size in px (default: the backbone's; an ensemble's largest).")] = DEFAULTS["size"],
    batch_size: Annotated[int, typer.Option()] = DEFAULTS["batch_size"],
    learning_rate: Annotated[float, typer.Option(help="Head learning rate (Adam).")] = DEFAULTS["learning_rate"],
    fine_tune_learning_rate: Annotated[float, typer.Option(help="Learning rate while the top of the backbone is unfrozen.")] = DEFAULTS["fine_tune_learning_rate"],
    patience: Annotated[int, typer.Option(help="Early stopping: epochs without a better validation loss.")] = DEFAULTS["patience"],
    head_width: Annotated[int, typer.Option(help="Units of the head's hidden Dense layer.")] = DEFAULTS["head_width"],
    dropout: Annotated[float, typer.Option(help="Dropout before the output layer.")] = DEFAULTS["dropout"],
    augment_passes: Annotated[int, typer.Option(help="Feature passes: 1 plain + N-1 augmented.")] = DEFAULTS["augment_passes"],
    flip_tta: Annotated[bool, typer.Option(help="Average each image's and its mirror image's predictions (inside the saved model).")] = DEFAULTS["flip_tta"],
    val_fraction: Annotated[float, typer.Option(help="Part of train held out for early stopping.")] = DEFAULTS["val_fraction"],
    seed: Annotated[int, typer.Option()] = DEFAULTS["seed"],
    accepted_only: Annotated[bool, typer.Option(help="Only accepted images (default: pending too).")] = DEFAULTS["accepted_only"],
    exclude_flagged: Annotated[bool, typer.Option(help="Leave out the images the split's newest `train audit` flagged and nobody reviewed since.")] = DEFAULTS["exclude_flagged"],
    resume: Annotated[int | None, typer.Option(help="Continue an interrupted run by id.")] = None,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Fine-tune a backbone on the catalog's split, evaluate it on the test subset, record the run.

    Without --backbone it trains the recommended configuration (named in --backbone's help).

    Example: train --backbone mobilenet_v2+efficientnet_lite0 --weights ../shared/weights/mobilenet_v2_1.0_224_imagenet_notop.weights.h5,imagenet
    """
    if ctx.invoked_subcommand is not None:
        return
    cfg = TrainConfig(**{name: value for name, value in ctx.params.items() if name in DEFAULTS})
    with catalog_for_cli(catalog) as cat:
        if resume is None:
            run_specs(cfg.backbone, cfg.weights)  # a bad spec fails before the backend loads
        import_keras()
        from .train import train, train_backbones

        runs = [train(cat, cfg, resume=resume, verbose=2)] if resume is not None else train_backbones(cat, cfg, verbose=2)
    typer.echo(_runs_table(runs, "trained"))


@app.command()
def runs(catalog: CatalogOption = DEFAULT_CATALOG_PATH) -> None:
    """List the training runs with their test scores, newest first.

    Example: train runs
    """
    from catalog.runs import list_runs

    with catalog_for_cli(catalog) as cat:
        rows = list_runs(cat)
    typer.echo(_runs_table(rows, "runs"))


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
        from .evaluate import evaluate_run

        metrics = evaluate_run(cat, run)
    console.print(f"run {run}: top-1 {metrics['top1']:.3f}, top-3 {metrics['top3']:.3f} on {metrics['test_images']} test images")
    for name, m in metrics["per_class"].items():
        console.print(f"  {name:24} precision {m['precision']:.2f}  recall {m['recall']:.2f}  n={m['support']}", highlight=False)


@app.command()
def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files.", exists=True, dir_okay=False)],
    run: Annotated[int | None, typer.Option(help="The run id (default: the newest finished run).")] = None,
    top: Annotated[int, typer.Option(help="How many classes to show per image.")] = 3,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Classify image files with a trained run's saved model.

    Example: train predict shoe1.jpg shoe2.png --run 3 --top 3
    """
    with catalog_for_cli(catalog) as cat:
        import_keras()
        from .predict import predict_files

        used, results = predict_files(cat, images, run_id=run, top=top)
    console.print(f"run {used['id']} ({used['backbone']})")
    for item in results:
        if item.error:
            err_console.print(f"[red]error:[/] {item.path}: {item.error}", highlight=False, soft_wrap=True)
            continue
        ranked = "  ".join(f"{c} {p:.3f}" for c, p in item.top_k)
        typer.echo(f"{item.path}\t{ranked}")
    if any(item.error for item in results):
        raise typer.Exit(code=1)  # the readable files were still classified above


@app.command()
def audit(
    split: Annotated[str | None, typer.Option(help="The split (default: `default`, else the newest).")] = None,
    folds: Annotated[int, typer.Option(help="Folds for the out-of-fold probabilities.")] = 5,
    backbone: Annotated[str, typer.Option(help="The frozen backbone whose features are audited.")] = DEFAULT_AUDIT_BACKBONE,
    weights: Annotated[str, typer.Option(help="imagenet, none, or a weights file.")] = "imagenet",
    size: Annotated[int | None, typer.Option(help="Input size in px (default: the backbone's).")] = None,
    max_quality: Annotated[float, typer.Option(help="Flag labels whose quality (out-of-fold probability of the given class) is below this; 0: let cleanlab's find_label_issues decide.")] = MAX_QUALITY,
    as_json: Annotated[bool, typer.Option("--json", help="Print every flagged image as JSON for scripts.")] = False,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Find mislabelled and off-topic images of a split (train and test); changes no image.

    Review the findings, worst first, with `curate review --audit`.

    Example: train audit --split default --folds 5 --json > flags.json
    """
    cfg = AuditConfig(split=split, folds=folds, backbone=backbone, weights=weights, size=size, max_quality=max_quality or None)
    with catalog_for_cli(catalog) as cat:
        import_keras()
        from .audit import run_audit

        with _feature_progress() as progress:
            task = progress.add_task("features", total=None)
            result = run_audit(cat, cfg, lambda done, total: progress.update(task, completed=done, total=total))
    if as_json:
        typer.echo(json.dumps({"audit": result.audit_id, "split": result.split, "flags": result.flags}, indent=1))
        return
    console.print(_audit_table(result))
    console.print(f"audit {result.audit_id}: {len(result.flags)} of {result.images} images flagged in "
                  f"{result.seconds['total']:.0f} s; review them with `curate review --audit {result.audit_id}`", highlight=False)
    if result.unreadable:
        err_console.print(f"unreadable images skipped: {result.unreadable}", highlight=False)


def _feature_progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err_console, transient=True)


def _audit_table(result) -> Table:
    table = Table(title=f"audit {result.audit_id} of split {result.split}: flagged images per given class")
    for header in ("class", "images", "label", "off-topic", "flagged"):
        table.add_column(header, justify="left" if header == "class" else "right", no_wrap=True)
    for name, c in result.per_class.items():
        flagged = c["label"] + c["off_topic"]
        table.add_row(Text(name), str(c["images"]), str(c["label"]), str(c["off_topic"]), f"{flagged / c['images']:.0%}")
    return table


def _runs_table(rows: list[dict], title: str) -> str:
    """A plain fixed-width table (like the original notebook's comparison), safe to grep.

    The backbone column is as wide as its longest name: ensembles have long ones.
    """
    wide = max([18, *(len(r["backbone"]) for r in rows)])
    lines = [title, f"{'run':>4}  {'backbone':{wide}} {'split':12} {'weights':28} {'status':11} {'top-1':>6} {'top-3':>6} {'test':>5} {'secs':>6}"]
    for r in rows:
        m = r["metrics"]
        score = (lambda k: f"{m[k]:.3f}" if k in m else "-")
        secs = m.get("seconds", {}).get("total")
        lines.append(
            f"{r['id']:>4}  {r['backbone']:{wide}} {r['split']:12} {_short(r['weights']):28} {r['status']:11} "
            f"{score('top1'):>6} {score('top3'):>6} {m.get('test_images', '-'):>5} {f'{secs:.0f}' if secs else '-':>6}"
        )
    return "\n".join(lines)


def _short(weights: str | None) -> str:
    name = Path(weights).name if weights and weights not in ("imagenet", "none") else str(weights)
    return name if len(name) <= 28 else name[:25] + "..."


if __name__ == "__main__":
    app()
