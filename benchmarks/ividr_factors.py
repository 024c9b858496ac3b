"""Why IViDR's confounder estimate falls below its own prior: one factor at a time (issue 20).

    .venv/bin/python benchmarks/ividr_factors.py --seeds 3 --jobs 2     # the full table
    .venv/bin/python benchmarks/ividr_factors.py --users 300 --latent-epochs 5 --epochs 2 \\
        --seeds 1 --out /tmp/f --results-dir /tmp/f                     # a smoke run

Each cell is IViDR's latent stage (§4.2) refitted with ONE setting changed from the paper's
reading (``paper``: t_u the mean reconstructed treatment, rho = tau = 0.9, latent lr 5e-4), one
restart, on the same data, held-out split, stage 1 and random stream:

- ``t zero`` / ``t shuffled`` / ``t standardized``: the user treatment t_u of X^re = A + P t_u
  set to zero (X^re = A), permuted across users, or standardised per dimension
  (``user_treatment``; ``t standardized`` is IViDR's default since this table);
- ``rho=tau=0.5``: fusion weights summing to 1;
- ``lr/(rho+tau)``: the latent lr divided by 1.8, the step the fused mean takes per encoder step;
- ``iVAE (rho=0 tau=1)``: the fused net reduced to iDCF's iVAE, a control inside the same code;
- ``released``: the released forward pass (model ``ividr-released``: a fresh random layer per
  call, KL on the shifted branch, that branch's mean scored);
- ``released scaled``: the same with t_u scaled so that the fresh layer's output has the
  size it has in the released code, whose layer reads the concatenated treatments of the
  user's items rather than their mean (:func:`released_scale`);
- ``split-half``: the paper's reading with its estimate, the posterior mean, shrunk toward the
  learned prior mean by its split-half reliability (``latent_shrinkage``; the ``shrunk`` column,
  while the columns of posterior means are the same fit's before shrinking);
  ``iVAE (rho=0 tau=1) + split-half`` the same for the iVAE control (iDCF's latent stage);
  ``default (t standardized + split-half)``: IViDR's defaults since then.

Per fit, from the same posterior: the strong MCC of the fused mean, of the shifted branch's mean
mu1 and of the plain branch's mean mu2, the weak MCC of the fused mean, the learned prior mean's
MCC (prior-only), the MCC of the estimate after the split-half shrinkage toward that prior
(``shrunk``: IViDR's default since that column, so the rows fitted before it have none), the
held-out negative ELBO of the kept checkpoint (a quantity a user can compute;
lower is better) and the rms of the shift P t_u beside the rms of the exposure row. Stage 1
(IV4R-MF) is fitted once per dataset and seed and shared by its factors (cached under
``--out/stage1``); stage 3 (the recommender head) does not change the latents and is not run.

Data: ``gamma_<G>`` folders of the paper's Table-5 draw (ividr-sim) and of iDCF's benchmark
(idcf-sim), found under the external data root (``IVIDR_DATA``). Nothing is chosen by the truth:
every fit keeps its checkpoint by held-out negative ELBO; C only scores.

The fits run as one resumable sweep per data folder (:func:`ividr.experiments.runner.run_sweep`
with this script's fit function, :func:`fit_factor_run`; ``--jobs``, ``--backend local|ray``; run
the same command again to finish): each factor is a sweep variant of its model (its overrides
above; IViDR's defaults are the base of ``ividr``, and ``ividr-released`` runs its variants only).
``RESULTS_DIR/ividr_factors_runs.csv`` holds one row per fit: the rows of this invocation's fits
replace theirs, every other row is kept; the table is made from all of them.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click
import numpy as np

from benchmarks._gamma_folders import (
    config_dir,
    merge_runs_csv,
    read_runs_csv,
    run_plan_or_fail,
    subsample_users,
)
from benchmarks._options import RESULTS_DIR, backend_option, results_dir_option
from ividr.experiments.grid import SweepConfig, format_value
from ividr.experiments.reports import format_values
from simulator.files import dumps_json, file_lock

#: (label, dataset folder under the data root, gamma folder).
DATASETS = (
    ("ividr-sim g0", "ividr-sim", "gamma_0"),
    ("ividr-sim g10", "ividr-sim", "gamma_10"),
    ("idcf-sim g5", "idcf-sim", "gamma_5"),
)
PAPER_LR = 5e-4
#: factor -> (model, hyperparameter overrides of the paper's reading). The paper's estimate is the
#: posterior mean itself (latent_shrinkage "none", IViDR's default before the split-half rows).
RELEASED = {"user_treatment": "mean"}
PAPER = {**RELEASED, "latent_shrinkage": "none"}
FACTORS: dict[str, tuple[str, dict]] = {
    "paper": ("ividr", PAPER),
    "t zero": ("ividr", {**PAPER, "user_treatment": "zero"}),
    "t shuffled": ("ividr", {**PAPER, "user_treatment": "shuffled"}),
    "t standardized": ("ividr", {**PAPER, "user_treatment": "standardized"}),
    "rho=tau=0.5": ("ividr", {**PAPER, "rho": 0.5, "tau": 0.5}),
    "lr/(rho+tau)": ("ividr", {**PAPER, "latent_lr": PAPER_LR / 1.8}),
    "iVAE (rho=0 tau=1)": ("ividr", {**PAPER, "rho": 0.0, "tau": 1.0}),
    "released": ("ividr-released", RELEASED),
    "released scaled": ("ividr-released", RELEASED),
    "split-half": ("ividr", {**PAPER, "latent_shrinkage": "split_half"}),
    "iVAE (rho=0 tau=1) + split-half": (
        "ividr",
        {**PAPER, "rho": 0.0, "tau": 1.0, "latent_shrinkage": "split_half"},
    ),
    "default (t standardized + split-half)": ("ividr", {}),
}
#: Factors whose t_u is scaled as the released code's input is (:func:`released_scale`).
SCALED = ("released scaled",)
#: Each factor's sweep variant (an identifier); "" is the base of its model (IViDR's defaults).
SWEEP_NAMES: dict[str, str] = {
    "paper": "paper",
    "t zero": "t_zero",
    "t shuffled": "t_shuffled",
    "t standardized": "t_standardized",
    "rho=tau=0.5": "rho_tau_half",
    "lr/(rho+tau)": "lr_over_rho_tau",
    "iVAE (rho=0 tau=1)": "ivae",
    "released": "released",
    "released scaled": "released_scaled",
    "split-half": "split_half",
    "iVAE (rho=0 tau=1) + split-half": "ivae_split_half",
    "default (t standardized + split-half)": "",
}
FIELDS = (
    "data",
    "seed",
    "factor",
    "mcc_fused",
    "mcc_shifted",
    "mcc_plain",
    "mcc_weak",
    "mcc_prior_only",
    "val_loss",
    "epochs",
    "shift_rms",
    "x_rms",
    "seconds",
    "mcc_shrunk",
)


def factor_of(model: str, variant: str) -> str:
    """The factor that a sweep run of ``model`` with ``variant`` fits."""
    return next(f for f, (m, _) in FACTORS.items() if m == model and SWEEP_NAMES[f] == variant)


def gammas_of(folder: str, labels: Sequence[str]) -> tuple[float, ...]:
    """The gammas of data folder ``folder`` that ``labels`` name."""
    return tuple(
        float(gamma.split("_")[1]) for lab, f, gamma in DATASETS if f == folder and lab in labels
    )


def sweep_configs(
    labels: Sequence[str],
    factors: Sequence[str],
    seeds: int,
    settings: dict,
    folders: dict[str, Path],
) -> list[tuple[str, SweepConfig]]:
    """One sweep per data folder of ``labels`` (its gammas the values): the models of
    ``factors``, each factor a variant limited to its model, seeds 0..N-1. ``folders`` maps a
    data folder's name to where it is (the external dataset, or its subsampled copy)."""
    variants = {SWEEP_NAMES[f]: FACTORS[f][1] for f in factors if SWEEP_NAMES[f]}
    models = tuple(
        m for m in ("ividr", "ividr-released") if any(FACTORS[f][0] == m for f in factors)
    )
    limits = {SWEEP_NAMES[f]: (FACTORS[f][0],) for f in factors if SWEEP_NAMES[f]}
    bases = {FACTORS[f][0] for f in factors if not SWEEP_NAMES[f]}
    out = []
    for folder, path in folders.items():
        config = SweepConfig(
            preset="data",
            knob="gamma",
            values=gammas_of(folder, labels),
            models=models,
            seeds=seeds,
            fit_overrides={"restarts": 1, **settings},
            data=str(Path(path).resolve()),
            variants=variants,
            variant_models=limits,
            skip_base=tuple(m for m in models if m not in bases),
        )
        out.append((folder, config))
    return out


def _label_of(config: SweepConfig, value) -> str:
    folder = Path(config.data).name
    return next(
        lab for lab, f, g in DATASETS if f == folder and g == f"gamma_{format_value(value)}"
    )


def stage1(cache: Path, dataset, config: SweepConfig, value, seed: int):
    """Stage 1 of the run's dataset and seed: t_u, the item treatments and the random stream's
    state after it (:data:`FACTORS` all share it), fitted once under a lock and cached in
    ``cache`` (keyed by the data, gamma, seed and the sweep's fit settings)."""
    key = dumps_json([config.data, format_value(value), seed, config.fit_overrides])
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]
    path = cache / f"{Path(config.data).name}_gamma_{format_value(value)}_seed{seed}_{digest}.npz"
    with file_lock(path.parent / f".{path.stem}.lock"):
        if not path.is_file():
            from ividr.api import build_estimator

            est = build_estimator(config.fit_config("ividr", seed))
            val = est._start_fit(dataset, None)
            rng = np.random.default_rng(seed)
            est._fit_treatments(dataset, val, rng, None)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(
                tmp,
                user_treatment=est.user_treatment_,
                item_treatment=est.item_treatment_,
                rng_state=np.array(json.dumps(rng.bit_generator.state)),
                released_scale=np.array(
                    released_scale(dataset, est.user_treatment_, est.item_treatment_)
                ),
            )
            os.replace(tmp, path)
    return np.load(path)


def released_scale(dataset, user_treatment: np.ndarray, item_treatment: np.ndarray) -> float:
    """How much larger the released code's fresh-layer input is than our t_u, in rms.

    The released layer reads the treatments of the user's items side by side (width k * d)
    with weights U(+-1/sqrt(k d)), so its output's variance is the mean square of an item's
    treatment entries / 3; ours reads their mean t_u (width d) with U(+-1/sqrt(d)): the mean
    square of t_u's entries / 3. The ratio of the two rms is the factor that makes them equal.
    """
    a = dataset.exposure_csr()
    degree = np.maximum(np.asarray(a.sum(axis=1)).ravel(), 1)
    per_user_sq = np.asarray(a @ (item_treatment**2).mean(axis=1)).ravel() / degree
    return float(np.sqrt(per_user_sq.mean() / np.mean(user_treatment**2)))


def fit_factor_run(dataset, config: SweepConfig, spec, *, cache: str) -> dict:
    """The sweep's fit function: stage 2 of the run's factor on the cached stage 1
    (:func:`stage1`); its metrics are the figures of one runs row."""
    import time

    from ividr.api import build_estimator

    cached = stage1(Path(cache), dataset, config, spec.value, spec.seed)
    factor = factor_of(spec.model, spec.variant)
    fit = config.fit_config(spec.model, spec.seed, spec.variant)
    est = build_estimator(fit)
    est._start_fit(dataset, None)
    est.user_treatment_ = cached["user_treatment"]
    est.item_treatment_ = cached["item_treatment"]  # the split-half shrinkage's t of half rows
    if factor in SCALED:
        est.user_treatment_ = est.user_treatment_ * float(cached["released_scale"])
    rng = np.random.default_rng(spec.seed)
    rng.bit_generator.state = json.loads(str(cached["rng_state"]))
    start = time.perf_counter()
    est._fit_latent(dataset, rng, None, None)
    seconds = time.perf_counter() - start
    metrics = {**latent_figures(est, dataset, spec.model, spec.seed), "seconds": seconds}
    return {"metrics": metrics, "config": {"factor": factor, **fit.to_dict()}}


def latent_figures(est, dataset, model: str, seed: int) -> dict:
    """The figures of a fitted latent stage: the MCCs of its posterior means and estimate, the
    kept checkpoint's held-out loss and epochs, and the rms of the shift and of the exposures."""
    import torch

    from metrics.mcc import mcc

    truth = dataset.confounder
    estimates = getattr(est, "estimate_latents_", {})
    net = est.nets_["latent"]
    shift_rms = float("nan")
    if hasattr(net, "proj"):
        from ividr.training.treatments import treatment_input

        # The t the net read, in its rms over users (a shuffle of the rows leaves it as it is).
        mode = "mean" if est.user_treatment == "shuffled" else est.user_treatment
        with torch.no_grad():
            t = torch.from_numpy(treatment_input(est.user_treatment_, mode, None)).float()
            shift_rms = float((t @ net.proj.weight.T).pow(2).mean().sqrt())
    kept = next(r for r in est.restarts_ if r["kept"])
    estimate = float(mcc(truth, est.user_latents_))

    def score(name: str) -> float:
        return float(mcc(truth, estimates[name])) if name in estimates else float("nan")

    return {
        "mcc": estimate,
        "mcc_fused": estimate if model != "ividr" else score("fused"),
        "mcc_shifted": estimate if model != "ividr" else score("shifted"),
        "mcc_plain": score("plain"),
        "mcc_weak": float(mcc(truth, est.user_latents_, weak=True, random_state=seed)),
        "mcc_prior_only": float(mcc(truth, est.prior_mean_)),
        "val_loss": float(kept["val_loss"]),
        "epochs": int(kept["epochs"]),
        "shift_rms": shift_rms,
        "x_rms": float(np.sqrt(np.mean(dataset.exposure() ** 2))),
        # The estimate after the split-half shrinkage (IViDR's default since this column; nan
        # for a fit without it); the columns above are the posterior means themselves.
        "mcc_shrunk": estimate if hasattr(est, "unshrunk_latents_") else float("nan"),
    }


def runs_row(row: dict, config: SweepConfig) -> dict:
    """A sweep's results row as a row of the runs CSV (:data:`FIELDS`)."""

    def number(key: str) -> float:
        return float("nan") if row.get(key) is None else row[key]

    out = {
        "data": _label_of(config, row["value"]),
        "seed": int(row["seed"]),
        "factor": factor_of(row["model"], row.get("variant") or ""),
        "epochs": int(row["epochs"]),
        "seconds": round(float(row["fit_seconds"]), 1),
    }
    return {f: out[f] if f in out else number(f) for f in FIELDS}


def merge_runs(path: Path, new_rows: list[dict]) -> None:
    """Write the runs CSV with ``new_rows`` in place of the rows of the same (data, seed,
    factor); every other row is kept as it was."""
    merge_runs_csv(path, new_rows, FIELDS, key=lambda r: (r["data"], r["seed"], r["factor"]))


def add_columns(path: Path, fields: Sequence[str]) -> None:
    """Give a runs CSV written before a column existed that column, empty in its old rows (read
    as nan), so that new rows can be appended under one header; values are left as they are."""
    rows = read_runs_csv(path)
    if not rows or list(rows[0]) == list(fields):
        return
    missing = [f for f in fields if f not in rows[0]]
    if [f for f in fields if f in rows[0]] != list(rows[0]) or not missing:
        raise click.ClickException(f"{path}: its columns are not a prefix of {list(fields)}")
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows({**r, **dict.fromkeys(missing, "")} for r in rows)
    os.replace(tmp, path)


def _mean_sd(values: Sequence[float]) -> str:
    return format_values([v for v in values if v == v], digits=3, lone=True)


def report(rows: list[dict[str, str]], labels: Sequence[str], command: str) -> str:
    """The factor table: one block per dataset, one row per factor, mean ± sd over seeds."""
    cols = (
        ("mcc_fused", "fused"),
        ("mcc_shifted", "mu1 (shifted)"),
        ("mcc_plain", "mu2 (plain)"),
        ("mcc_weak", "weak (estimand)"),
        ("mcc_prior_only", "prior-only"),
        ("mcc_shrunk", "shrunk (split-half)"),
        ("val_loss", "held-out -ELBO"),
        ("shift_rms", "rms P t"),
    )
    lines = [
        "# IViDR's latent stage, one factor at a time (issue 20)",
        "",
        "Strong MCC (Pearson) of each posterior mean of the same fits, mean ± sd over model "
        "seeds; one restart, kept checkpoint by held-out negative ELBO. `released` scores its "
        "shifted branch (its estimand) in both the fused and mu1 columns.",
        "",
    ]
    for label in labels:
        mine = [r for r in rows if r["data"] == label]
        if not mine:
            continue
        seeds = sorted({int(r["seed"]) for r in mine})
        x_rms = float(mine[0]["x_rms"])
        lines += [
            f"## {label} (seeds {', '.join(map(str, seeds))}; rms of the exposure row {x_rms:.3f})",
            "",
            "| factor | " + " | ".join(name for _, name in cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        for factor in FACTORS:
            fr = [r for r in mine if r["factor"] == factor]
            if not fr:
                continue
            cells = [_mean_sd([float(r[key] or "nan") for r in fr]) for key, _ in cols]
            lines.append(f"| {factor} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Command:", "", f"    {command}", ""]
    return "\n".join(lines)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--data",
    "data_labels",
    default=",".join(d[0] for d in DATASETS),
    show_default=True,
    help="Datasets, comma-separated labels.",
)
@click.option(
    "--factors",
    "factor_names",
    default=",".join(FACTORS),
    show_default=True,
    help="Factors, comma-separated.",
)
@click.option("--users", type=click.IntRange(min=10), default=None, help="First N users only.")
@click.option("--latent-epochs", type=click.IntRange(min=1), default=None)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Stage-1 epochs.")
@backend_option()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("sweep-out/ividr-factors"),
    show_default=True,
    help="The sweep directories, the stage-1 cache and (--users) the subsampled data.",
)
@results_dir_option("Where the table and the runs CSV go.", default=RESULTS_DIR)
def main(
    seeds, jobs, data_labels, factor_names, users, latent_epochs, epochs, backend, out, results_dir
):
    """IViDR's latent stage with one setting changed at a time (issue 20)."""
    from simulator.locations import dataset_path

    labels = [s.strip() for s in data_labels.split(",") if s.strip()]
    factors = [s.strip() for s in factor_names.split(",") if s.strip()]
    bad = [x for x in labels if x not in {d[0] for d in DATASETS}] + [
        f for f in factors if f not in FACTORS
    ]
    if bad:
        raise click.BadParameter(f"unknown {bad}", param_hint="'--data'/'--factors'")
    settings = {}
    if latent_epochs is not None:
        settings["latent_epochs"] = latent_epochs
    if epochs is not None:
        settings["epochs"] = epochs
    names = dict.fromkeys(d[1] for d in DATASETS if d[0] in labels)
    folders = {f: dataset_path(f) for f in names}
    if users is not None:
        folders = {
            f: subsample_users(path, out / f"users-{users}" / f, users, gammas_of(f, labels))
            for f, path in folders.items()
        }
    plan = [
        (folder, config_dir(out, config, f"factors-{folder}"), config)
        for folder, config in sweep_configs(labels, factors, seeds, settings, folders)
    ]
    fit = functools.partial(fit_factor_run, cache=str((out / "stage1").resolve()))
    found = run_plan_or_fail(plan, jobs=jobs, backend=backend, name="ividr factors", fit_fn=fit)
    results_dir.mkdir(parents=True, exist_ok=True)
    runs = results_dir / "ividr_factors_runs.csv"
    add_columns(runs, FIELDS)
    configs = {key: config for key, _, config in plan}
    merge_runs(runs, [runs_row(r, configs[key]) for key, rows in found.items() for r in rows])
    command = "benchmarks/ividr_factors.py " + " ".join(sys.argv[1:])
    # Every dataset the runs CSV holds, whichever this invocation ran.
    text = report(read_runs_csv(runs), [d[0] for d in DATASETS], command.strip())
    (results_dir / "ividr_factors.md").write_text(text)
    click.echo(text)


if __name__ == "__main__":
    main()
