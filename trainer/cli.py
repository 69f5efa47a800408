"""`train`: fine-tune a classifier on a split of the catalog, evaluate it, predict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from catalog.cli import DEFAULT_CATALOG_PATH, CatalogOption, catalog_for_cli, err_console, fail

from .backbones import BACKBONES

app = typer.Typer(
    help="Train, evaluate and use image classifiers from the catalog.",
    invoke_without_command=True,
    no_args_is_help=False,
)
console = Console()
BACKBONE_HELP = (
    f"One of {', '.join(BACKBONES)}; all (resnet50, vgg16, inception_v3); or an ensemble of "
    "backbones joined by + (e.g. mobilenet_v2+efficientnet_lite0), one model on their concatenated features."
)


@app.callback()
def main(
    ctx: typer.Context,
    backbone: Annotated[str | None, typer.Option(help=BACKBONE_HELP)] = None,
    weights: Annotated[str, typer.Option(help="imagenet, none, or a weights file; for an ensemble one value, or one per backbone joined by commas.")] = "imagenet",
    epochs: Annotated[int, typer.Option(help="Max head epochs on cached features (early stopping).")] = 40,
    fine_tune_epochs: Annotated[int, typer.Option(help="Epochs with the top of the backbone unfrozen.")] = 4,
    fine_tune_from: Annotated[str | None, typer.Option(help="Layer after which the backbone is fine-tuned (default: per backbone).")] = None,
    split: Annotated[str | None, typer.Option(help="The split (default: `default`, else the newest).")] = None,
    size: Annotated[int | None, typer.Option(help="Input size in px (default: the backbone's).")] = None,
    batch_size: Annotated[int, typer.Option()] = 32,
    head_width: Annotated[int, typer.Option(help="Units of the head's hidden Dense layer.")] = 64,
    dropout: Annotated[float, typer.Option(help="Dropout before the output layer.")] = 0.0,
    augment_passes: Annotated[int, typer.Option(help="Feature passes: 1 plain + N-1 augmented.")] = 5,
    flip_tta: Annotated[bool, typer.Option(help="Average each image's and its mirror image's predictions (inside the saved model).")] = True,
    val_fraction: Annotated[float, typer.Option(help="Part of train held out for early stopping.")] = 0.1,
    seed: Annotated[int, typer.Option()] = 0,
    accepted_only: Annotated[bool, typer.Option(help="Only accepted images (default: pending too).")] = False,
    resume: Annotated[int | None, typer.Option(help="Continue an interrupted run by id.")] = None,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Fine-tune a backbone on the catalog's split, evaluate it on the test subset, record the run.

    Example: train --backbone mobilenet_v2 --weights ../shared/weights/mobilenet_v2_1.0_224_imagenet_notop.weights.h5
    """
    if ctx.invoked_subcommand is not None:
        return
    if backbone is None and resume is None:
        console.print(ctx.get_help())
        raise fail("give --backbone NAME (or a subcommand: runs, evaluate, predict)")
    from .train import TrainConfig, train, train_backbones

    cfg = TrainConfig(
        backbone or "", weights=weights, split=split, epochs=epochs, fine_tune_epochs=fine_tune_epochs,
        fine_tune_from=fine_tune_from, batch_size=batch_size, head_width=head_width, dropout=dropout,
        augment_passes=augment_passes, flip_tta=flip_tta, val_fraction=val_fraction, size=size, seed=seed, accepted_only=accepted_only,
    )
    with catalog_for_cli(catalog) as cat:
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
    from .evaluate import evaluate_run

    with catalog_for_cli(catalog) as cat:
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
    from .predict import predict_files

    with catalog_for_cli(catalog) as cat:
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


def _runs_table(rows: list[dict], title: str) -> str:
    """A plain fixed-width table (like the original notebook's comparison), safe to grep."""
    lines = [title, f"{'run':>4}  {'backbone':18} {'split':12} {'weights':28} {'status':11} {'top-1':>6} {'top-3':>6} {'test':>5} {'secs':>6}"]
    for r in rows:
        m = r["metrics"]
        score = (lambda k: f"{m[k]:.3f}" if k in m else "-")
        secs = m.get("seconds", {}).get("total")
        lines.append(
            f"{r['id']:>4}  {r['backbone']:18} {r['split']:12} {_short(r['weights']):28} {r['status']:11} "
            f"{score('top1'):>6} {score('top3'):>6} {m.get('test_images', '-'):>5} {f'{secs:.0f}' if secs else '-':>6}"
        )
    return "\n".join(lines)


def _short(weights: str | None) -> str:
    name = Path(weights).name if weights and weights not in ("imagenet", "none") else str(weights)
    return name if len(name) <= 28 else name[:25] + "..."


@app.command()
def cache(
    clear: Annotated[bool, typer.Option("--clear", help="Remove the cached files (runs rebuild them when needed).")] = False,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Show the size of the trainer's caches beside the catalog (decoded pixels, backbone features); --clear removes them.

    Example: train cache --clear
    """
    from .cache import cache_usage, clear_cache

    with catalog_for_cli(catalog) as cat:
        usages = clear_cache(cat) if clear else cache_usage(cat)
    for u in usages:
        typer.echo(f"{u.name}: {'removed ' if clear else ''}{len(u.files)} files, {u.bytes / 1e6:.1f} MB in {u.folder}")
        if u.foreign:
            typer.echo(f"  {len(u.foreign)} other files there are not the trainer's and were left alone")


if __name__ == "__main__":
    app()
