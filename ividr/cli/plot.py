"""``ividr plot``: Figure 3 (true vs learned latent confounders) and MCC-vs-knob curves."""

from __future__ import annotations

from pathlib import Path

import click

from ividr.cli.common import OneLineCommand, check_out, quiet_option
from ividr.reporting.plots import PLOT_METRICS, PlotError, figure_paths, written_by_ividr_plot
from simulator.files import Input

_OUT_HELP = (
    "Output file; FILE.png and FILE.pdf are written (a .png or .pdf suffix of FILE is replaced)."
)
#: How messages name these commands (the figures' marker says "ividr plot").
COMMAND = "ividr plot"


def overwrite_option():
    """``--overwrite``: replace figures this command wrote, and nothing else."""
    return click.option(
        "--overwrite",
        is_flag=True,
        help="Replace FILE.png/FILE.pdf if `ividr plot` wrote them (their metadata says so); "
        "never any other file.",
    )


def _check_out(out: Path, overwrite: bool, inputs: list[Input]) -> None:
    """The rule of every --out (:func:`ividr.cli.common.check_out`) for the two figure files."""
    try:
        files = figure_paths(out)
    except PlotError as exc:
        raise click.BadParameter(str(exc), param_hint="'--out'") from None
    check_out(
        out,
        overwrite=overwrite,
        written_by=written_by_ividr_plot,
        command=COMMAND,
        inputs=inputs,
        files=files,
    )


def _save(fig, out: Path, quiet: bool) -> None:
    from ividr.reporting.plots import save_figure

    try:
        paths = save_figure(fig, out)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc}") from exc
    if not quiet:
        for path in paths:
            click.echo(str(path))


@click.group("plot", context_settings={"help_option_names": ["-h", "--help"]})
def plot() -> None:
    """Plots: the learned latent space (the paper's Figure 3) and sweep curves."""


@plot.command("latent", cls=OneLineCommand)
@click.argument(
    "run_dirs",
    metavar="RUN_DIR_OR_FILE...",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, path_type=Path),
)
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The dataset the runs were fitted on (it must hold the true confounder C).",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help=_OUT_HELP)
@click.option(
    "--labels",
    default=None,
    help="Comma-separated panel titles, one per RUN_DIR. Default: the model names.",
)
@click.option(
    "--max-points",
    type=click.IntRange(min=10),
    default=5000,
    show_default=True,
    help="Users drawn per panel (a fixed random subset).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seeds the subset and UMAP.",
)
@overwrite_option()
@quiet_option("Do not print the written paths.")
def latent(
    run_dirs: tuple[Path, ...],
    data_dir: Path,
    out: Path,
    labels: str | None,
    max_points: int,
    seed: int,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Figure 3: the true C coloured by W beside each run's (or file's) learned latents.

    RUN_DIR is what `ividr fit --out` writes (latents.npy, metrics.json, config.json), or a run of
    a sweep (SWEEP/runs/<run_id>). FILE is a latents file of a model trained anywhere, in the
    formats of `ividr score --latents` (.npy, .npz, or .csv with a user_id column); its panel is
    named after the file. The learned latents are matched to the truth by the MCC assignment,
    sign-flipped and rescaled; the strong MCC is in each title. Latents of more than 2
    dimensions are shown through UMAP.
    """
    from ividr.reporting.plots import RunLatents, load_run, plot_latent
    from ividr.reporting.scoring import LatentsError, read_latents
    from simulator.dataset import DatasetError
    from simulator.loaders import load_dataset

    inputs = [Input(d, "RUN_DIR") for d in run_dirs]
    _check_out(out, overwrite, [*inputs, Input(data_dir, "--data", no_inside=True)])
    label_list = None
    if labels is not None:
        label_list = [s.strip() for s in labels.split(",")]
        if len(label_list) != len(run_dirs):
            raise click.BadParameter(
                f"expected {len(run_dirs)} comma-separated labels (one per RUN_DIR or FILE), "
                f"got {len(label_list)}",
                param_hint="'--labels'",
            )
    try:
        dataset = load_dataset(data_dir)
    except DatasetError as exc:
        raise click.BadParameter(str(exc), param_hint="'--data'") from None
    if dataset.confounder is None:
        raise click.BadParameter(
            f"{data_dir} holds no true confounder C (truth.npz or z_true.npy)",
            param_hint="'--data'",
        )
    runs = []
    for run_dir in run_dirs:
        try:
            if run_dir.is_dir():
                runs.append(load_run(run_dir))
            else:
                latents = read_latents(run_dir, dataset.n_users)
                runs.append(RunLatents(run_dir, run_dir.stem, latents.astype(float)))
        except (PlotError, LatentsError) as exc:
            raise click.BadParameter(str(exc), param_hint="'RUN_DIR_OR_FILE'") from None
    for run in runs:
        if run.latents.shape[0] != dataset.n_users:
            raise click.BadParameter(
                f"{run.path / 'latents.npy'} has {run.latents.shape[0]} rows but {data_dir} has "
                f"{dataset.n_users} users (was the run fitted on this dataset?)",
                param_hint="'RUN_DIR_OR_FILE'",
            )
    try:
        fig = plot_latent(
            runs,
            dataset.confounder,
            dataset.proxy,
            labels=label_list,
            max_points=max_points,
            random_state=seed,
        )
    except PlotError as exc:
        raise click.ClickException(str(exc)) from None
    _save(fig, out, quiet)


@plot.command("sweep", cls=OneLineCommand)
@click.argument("sweep_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help=_OUT_HELP)
@click.option(
    "--metric",
    type=click.Choice(PLOT_METRICS),
    default="mcc",
    show_default=True,
    help="The metric on the y axis.",
)
@click.option(
    "--paper",
    is_flag=True,
    help="Also draw the paper's Table 5 MCC (dashed; gamma 0,5,10,15,20, MCC only).",
)
@click.option(
    "--references/--no-references",
    default=True,
    show_default=True,
    help="On MCC plots, draw the proxy-oracle line (± std band), the chance band (mean to p95) "
    "and each model's prior-only MCC (dotted), when the runs carry them.",
)
@overwrite_option()
@quiet_option("Do not print the written paths.")
def sweep_plot(
    sweep_dir: Path,
    out: Path,
    metric: str,
    paper: bool,
    references: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """A metric (MCC by default) against the swept knob, per model, error bars over seeds.

    SWEEP_DIR is what `ividr sweep --out` writes. MCC plots also show the data's reference
    levels (proxy oracle E[C|W], chance) and the models' prior-only MCC.
    """
    from ividr.experiments.errors import SweepError
    from ividr.experiments.store import load_results
    from ividr.paper import TABLE5_GAMMAS, TABLE5_MCC
    from ividr.reporting.plots import display_name, plot_sweep

    _check_out(out, overwrite, [Input(sweep_dir, "SWEEP_DIR")])
    try:
        config, rows = load_results(sweep_dir)
    except SweepError as exc:
        raise click.BadParameter(str(exc), param_hint="'SWEEP_DIR'") from None
    if not rows:
        raise click.BadParameter(f"{sweep_dir} holds no finished run", param_hint="'SWEEP_DIR'")
    reference = None
    if paper:
        grid = tuple(float(v) for v in config.values) if config.knob == "gamma" else ()
        if metric != "mcc" or grid != TABLE5_GAMMAS:
            raise click.BadParameter(
                "needs --metric mcc and a sweep over gamma = 0,5,10,15,20",
                param_hint="'--paper'",
            )
        reference = {
            f"{display_name(m)} (paper)": values
            for m, values in TABLE5_MCC.items()
            if m in config.models
        }
    try:
        fig = plot_sweep(sweep_dir, metric=metric, reference=reference, show_references=references)
    except PlotError as exc:
        raise click.ClickException(str(exc)) from None
    _save(fig, out, quiet)


@plot.command("history", cls=OneLineCommand)
@click.argument(
    "run_dirs",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help=_OUT_HELP)
@click.option(
    "--labels",
    default=None,
    help="Comma-separated legend labels, one per RUN_DIR. Default: model (folder name).",
)
@overwrite_option()
@quiet_option("Do not print the written paths.")
def history_plot(
    run_dirs: tuple[Path, ...], out: Path, labels: str | None, overwrite: bool, quiet: bool
) -> None:
    """MCC (strong, weak), training loss and held-out neg. ELBO over the latent epochs.

    RUN_DIR is an `ividr fit --out` folder (its history.json); MCC is there when the data
    carry the true confounder (ividr fit --trace-every, default every epoch).
    """
    from ividr.reporting.plot_history import plot_history

    _check_out(out, overwrite, [Input(d, "RUN_DIR") for d in run_dirs])
    label_list = None
    if labels is not None:
        label_list = [x.strip() for x in labels.split(",")]
        if len(label_list) != len(run_dirs):
            raise click.BadParameter(
                f"needs one label per RUN_DIR ({len(run_dirs)}); got {len(label_list)}",
                param_hint="'--labels'",
            )
    try:
        fig = plot_history(run_dirs, labels=label_list)
    except PlotError as exc:
        raise click.BadParameter(str(exc), param_hint="'RUN_DIRS'") from None
    _save(fig, out, quiet)
