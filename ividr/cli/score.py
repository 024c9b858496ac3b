"""``ividr score``: the identifiability part of a fit's metrics for latents learned anywhere (§6).

A thin layer over :func:`ividr.reporting.scoring.score_latents`. Bad input (a dataset without the
true confounder, a latents file that cannot be read, has the wrong number of rows, NaN, user ids not
in the dataset or repeated; an --out that is the data folder, holds it or lies in it, or exists
and was not written by ``ividr score``) exits with code 2 and one line on stderr, before
anything is written (§7).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ividr.cli.common import OneLineCommand, check_out, out_option, quiet_option
from ividr.defaults import DEFAULT_N_BOOT

#: The file that marks a folder as written by ``ividr score`` (what --overwrite may replace).
SCORE_MARKER = ".ividr-score"


def check_score_out(out: Path, data: Path, latents: Path, prior: Path | None, overwrite: bool):
    """A usage error (exit 2, one line) unless ``ividr score`` may write its folder at ``out``:
    the shared rule (:func:`ividr.cli.common.check_out`) with the data and the latents files as
    inputs and :data:`SCORE_MARKER` as the mark of a folder ``ividr score`` wrote. Called before
    any work."""
    from simulator.files import Input

    inputs = [Input(data, "--data", no_inside=True), Input(latents, "--latents")]
    if prior is not None:
        inputs.append(Input(prior, "--prior"))
    check_out(
        out,
        overwrite=overwrite,
        written_by=lambda path: (path / SCORE_MARKER).is_file(),
        command="ividr score",
        inputs=inputs,
    )


def _read(path: Path | None, n_users: int, option: str):
    from ividr.reporting.scoring import LatentsError, read_latents

    if path is None:
        return None
    try:
        return read_latents(path, n_users)
    except LatentsError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@click.command(
    "score", cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Dataset folder that carries the true confounder C (a simgen output, ividr-sim...).",
)
@click.option(
    "--latents",
    "latents_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The learned confounder: .npy (row u = user u), .npz holding one such array, or .csv "
    "with a user_id column and one column per latent dimension, rows in any order; one row "
    "per user of --data.",
)
@click.option(
    "--prior",
    "prior_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A learned prior mean mu_w(W) per user, in the same formats: adds the prior-only MCC.",
)
@out_option("Output folder: metrics.json (and a marker file).", required=True)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seeds the weak MCC's half split and the bootstrap (a fit's --seed gives its figures).",
)
@click.option(
    "--n-boot",
    default=DEFAULT_N_BOOT,
    show_default=True,
    type=click.IntRange(min=0),
    help="Bootstrap replicates over users of the MCC's 95% interval (0 = off; else >= 2).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a non-empty --out folder that `ividr score` wrote (never any other).",
)
@quiet_option("Print no table.")
def score(
    data_path: Path,
    latents_path: Path,
    prior_path: Path | None,
    out: Path,
    seed: int,
    n_boot: int,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Score a learned confounder against the truth: MCC, its CI and every reference level.

    Writes the identifiability part of a fit's metrics.json into --out: strong and weak MCC
    with the matching, a bootstrap CI, the prior-only MCC (--prior), the proxy oracle, chance,
    the supervised ceiling, the exposure R^2 and the iVAE preconditions on W.
    """
    from ividr.reporting.scoring import LatentsError, format_scores, score_latents, strict_json
    from simulator.dataset import DatasetError
    from simulator.files import atomic_directory
    from simulator.loaders import load_dataset
    from simulator.references import references_for

    if n_boot == 1:
        raise click.BadParameter("1 is not 0 or in the range x>=2.", param_hint="'--n-boot'")
    check_score_out(out, data_path, latents_path, prior_path, overwrite)
    try:
        dataset = load_dataset(data_path)
    except DatasetError as exc:
        raise click.BadParameter(str(exc), param_hint="'--data'") from None
    if dataset.confounder is None:
        raise click.BadParameter(
            f"{data_path} carries no true confounder C to score against", param_hint="'--data'"
        )
    latents = _read(latents_path, dataset.n_users, "'--latents'")
    prior = _read(prior_path, dataset.n_users, "'--prior'")
    try:
        refs = references_for(data_path, dataset)
        metrics = score_latents(
            dataset, latents, prior_mean=prior, n_boot=n_boot, seed=seed, references=refs
        )
    except LatentsError as exc:
        raise click.UsageError(str(exc)) from None
    except ValueError as exc:  # degenerate data (metrics' input errors): a runtime failure
        raise click.ClickException(str(exc)) from None
    metrics["data"] = str(data_path)
    metrics["latents_file"] = str(latents_path)
    metrics["prior_file"] = None if prior_path is None else str(prior_path)
    text = json.dumps(strict_json(metrics), indent=2, allow_nan=False) + "\n"
    try:
        with atomic_directory(out, overwrite=True) as tmp:
            (tmp / "metrics.json").write_text(text, encoding="utf-8")
            (tmp / SCORE_MARKER).write_text("written by `ividr score`\n", encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"could not write {out}: {exc}") from None
    if not quiet:
        for line in format_scores({latents_path.stem: metrics}):
            click.echo(line)
        click.echo(f"written: {out / 'metrics.json'}")
