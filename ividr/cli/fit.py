"""``ividr fit``: one model on one dataset; writes metrics, latents, config, model and scores.

Bad input (an option out of range, an unknown model, an option the model does not take or two
that conflict, a missing, malformed or empty dataset, an --out that is the input, holds it or was
not written by ``ividr fit``, a ``--device`` this machine lacks) exits with code 2 and one line on
stderr, before anything is trained or written. A training failure (NaN) exits with code 1.
Output is written into a temporary sibling folder and renamed into place, so DIR never holds a
half-written run; its config.json records the settings the fit used and that ``ividr fit``
wrote it (what lets ``--overwrite`` replace it, and nothing else).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from ividr.api import FitConfig, fit_model, save_model, unbiased_split
from ividr.cli.common import (
    OneLineCommand,
    check_device_here,
    check_fit_options,
    check_out,
    config_option,
    device_option,
    flag,
    given,
    out_option,
    quiet_option,
    threads_option,
    usage_error,
)
from ividr.experiments.layout import run_config, run_parts, write_run, written_by
from ividr.reporting.diagnostics import diagnostic_warnings
from ividr.training.progress import fit_progress
from metrics.checks import ParameterError
from simulator.dataset import DatasetError
from simulator.files import Input

#: How config.json names this command: its marker (ividr.experiments.layout.written_by).
COMMAND = "ividr fit"


def _write_model_and_scores(folder: Path, result, dataset) -> None:
    """The files of the run layout only ``ividr fit`` writes: model.pt and scores.csv."""
    save_model(result.estimator, folder / "model.pt")
    val, test = unbiased_split(dataset, result.config)
    rows = []
    for split, part in (("val", val), ("test", test)):
        scores = result.estimator.score(part.user, part.item)
        rows += [
            f"{u},{i},{r},{s:.6g},{split}"
            for u, i, r, s in zip(part.user, part.item, part.rating, scores, strict=True)
        ]
    text = "user_id,item_id,rating,score,split\n" + "\n".join(rows) + "\n"
    (folder / "scores.csv").write_text(text)


def _check_config(ctx: click.Context, config: FitConfig) -> None:
    """The options of the fit, checked together and against the model (exit 2 if bad)."""
    if config.n_boot == 1:
        raise click.BadParameter("1 is not 0 or in the range x>=2.", param_hint="'--n-boot'")
    try:
        config.validate()
    except ParameterError as exc:  # naming the option (exit 2, one line), as simgen does
        if exc.param is None or not given(ctx, exc.param):
            raise click.UsageError(str(exc)) from None
        raise usage_error(exc, flag(exc.param)) from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    fields = [f for f in _FIT_FIELDS if given(ctx, f)]
    check_fit_options(config, fields, [config.model], f"--model {config.model}")
    check_device_here(config.device)


def _load_dataset(data_path: Path):
    """The dataset of ``--data``; a missing, malformed or empty one is a usage error (exit 2)."""
    from simulator.loaders import load_dataset

    try:
        return load_dataset(data_path)
    except DatasetError as exc:
        raise click.BadParameter(str(exc), param_hint="'--data'") from None


def _references(data_path: Path, dataset) -> dict | None:
    """The dataset's reference MCCs, or None (with a warning) when its data are degenerate."""
    from simulator.references import references_for

    try:
        return references_for(data_path, dataset)
    except ValueError as exc:  # degenerate data: the fit is still written, without them
        click.echo(f"Warning: no reference MCCs for this dataset: {exc}", err=True)
        return None


def _write_fit(out: Path, result, data_path: Path, dataset, refs: dict | None) -> None:
    """Write the run layout into ``out`` (via a temporary sibling); an OSError exits 1."""
    parts = run_parts(result)
    if refs is not None:
        parts["metrics"]["references"] = refs
    try:
        write_run(
            out,
            config=run_config(result, data_path=data_path, dataset=dataset, written_by=COMMAND),
            extra=lambda folder: _write_model_and_scores(folder, result, dataset),
            overwrite=True,
            **parts,
        )
    except OSError as exc:
        raise click.ClickException(f"could not write {out}: {exc}") from None


def _summary(model: str, m: dict, refs: dict | None) -> str:
    """The one-line summary of a fit: test ranking, MCC and its diagnostics, the references."""
    summary = f"{model}: test NDCG@5 {m['ndcg@5']:.4f} Recall@5 {m['recall@5']:.4f}"
    if "mcc" in m:
        summary += f", MCC {m['mcc']:.4f}"
    if "mcc_prior_only" in m:
        summary += f" (prior only {m['mcc_prior_only']:.4f})"
    if "stopping_regret" in m:
        summary += (
            f" (best {m['mcc_best']:.4f} at latent epoch {m['mcc_best_epoch']}, "
            f"regret {m['stopping_regret']:.4f})"
        )
    if refs is not None:
        summary += (
            f"; proxy oracle {refs['mcc_proxy_oracle']['strong']:.4f}, "
            f"chance {refs['mcc_chance']['mean']:.4f}"
        )
        w_chance = refs.get("mcc_proxy_chance")
        if "mcc_prior_only" in m and w_chance:
            # A prior mean is a function of W: its chance level is a random function of W's.
            summary += f", chance of a function of W {w_chance['mean']:.4f}"
    return summary


#: The FitConfig fields that are options of this command.
_FIT_FIELDS: tuple[str, ...] = ()


@click.command(cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Dataset folder: a simgen output, Coat, or the iDCF layout (recognised by its files).",
)
@config_option("model")
@config_option("seed")
@out_option(
    "Output folder, in the run layout (metrics.json, config.json, history.json/.csv, "
    "latents.npy, model.pt, scores.csv).",
    default="fit-out",
)
@config_option("epochs")
@config_option("lr")
@config_option("weight_decay")
@config_option("latent_dim")
@config_option("grid")
@config_option("loss")
@threads_option()
@device_option()
@config_option("shuffle_aux")
@click.option(
    "--references/--no-references",
    default=True,
    show_default=True,
    help="Add the dataset's reference MCCs (proxy oracle, chance, exposure R^2) to metrics.json "
    "when it carries the truth; cached in references.json of a simgen folder.",
)
@config_option("stop_on")
@config_option("restarts")
@config_option("latent_epochs")
@config_option("protocol")
@config_option("split")
@config_option("latent_grid")
@config_option("trace_every")
@config_option("user_treatment")
@config_option("estimand")
@config_option("latent_shrinkage")
@config_option("n_boot")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace --out if `ividr fit` wrote it (its config.json says so); never any other "
    "folder, nor one that is or holds --data.",
)
@quiet_option(
    "No progress on stderr (otherwise: a bar over epochs and restarts when stderr is a terminal, "
    "else one line per epoch)."
)
@click.pass_context
def fit(
    ctx: click.Context,
    data_path: Path,
    out: Path,
    threads: int,
    references: bool,
    overwrite: bool,
    quiet: bool,
    **fields: Any,
) -> None:
    """Fit one model on one dataset and write its metrics, latents and weights into --out."""
    check_out(
        out,
        overwrite=overwrite,
        written_by=lambda path: written_by(path, COMMAND),
        command=COMMAND,
        inputs=[Input(data_path, "--data", no_inside=True)],
    )
    config = FitConfig(**fields)  # every other option is a FitConfig field
    _check_config(ctx, config)
    dataset = _load_dataset(data_path)

    if threads:
        import torch

        torch.set_num_threads(threads)

    try:  # a bar over epochs and restarts on a terminal, else per-epoch lines (--quiet: none)
        with fit_progress(quiet, label=config.model) as progress:
            result = fit_model(dataset, config, progress=progress)
    except ValueError as exc:  # TrainingDivergedError and friends: a runtime failure
        raise click.ClickException(str(exc)) from None
    refs = None
    if references and dataset.confounder is not None:
        refs = _references(data_path, dataset)
    _write_fit(out, result, data_path, dataset, refs)
    for line in diagnostic_warnings(result.metrics):
        click.echo(line, err=True)
    if not quiet:
        click.echo(f"{_summary(config.model, result.metrics, refs)} -> {out}", err=True)
    sys.stdout.flush()


_FIT_FIELDS = tuple(
    p.name for p in fit.params if p.name in {f.name for f in dataclasses.fields(FitConfig)}
)
