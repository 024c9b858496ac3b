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
(IV4R-MF) is fitted once per dataset and seed and shared by its factors (cached under ``--out``);
stage 3 (the recommender head) does not change the latents and is not run.

Data: ``gamma_<G>`` folders of the paper's Table-5 draw (ividr-sim) and of iDCF's benchmark
(idcf-sim), found under the external data root (``IVIDR_DATA``). Nothing is chosen by the truth:
every fit keeps its checkpoint by held-out negative ELBO; C only scores. Resumable: finished fits
are rows of ``RESULTS_DIR/ividr_factors_runs.csv``; run the same command again to finish.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click
import numpy as np

from benchmarks._options import RESULTS_DIR, results_dir_option
from benchmarks._resumable import read_runs, run_missing
from ividr.experiments.reports import format_values

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


def load(label: str, users: int | None):
    """The dataset of ``label`` (its first ``users`` users when given)."""
    from simulator.loaders import load_dataset
    from simulator.locations import dataset_path

    _, folder, gamma = next(d for d in DATASETS if d[0] == label)
    dataset = load_dataset(dataset_path(folder) / gamma)
    if users is not None and users < dataset.n_users:
        dataset = dataset.first_users(users)
    return dataset


def build(model: str, params: dict):
    """The unfitted estimator of registry model ``model`` with ``params``."""
    from ividr.api import build_estimator
    from ividr.config import FitConfig

    config = FitConfig(model=model, **params)
    return build_estimator(config)


def _threads() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def _params(model: str, seed: int, overrides: dict, settings: dict) -> dict:
    return {"seed": seed, "restarts": 1, "device": "cpu", **settings, **overrides}


def _stage1_path(out: Path, label: str, seed: int) -> Path:
    return out / "stage1" / f"{label.replace(' ', '_')}_seed{seed}.npz"


def fit_stage1(label: str, seed: int, out: str, users: int | None, settings: dict) -> dict:
    """Stage 1 of ``label`` x ``seed``: t_u and the random stream's state after it, cached."""
    _threads()
    path = _stage1_path(Path(out), label, seed)
    # A cache from before ``released_scale`` or ``item_treatment`` was stored is refitted (stage 1
    # is deterministic).
    if not path.is_file() or not {"released_scale", "item_treatment"} <= set(np.load(path).files):
        dataset = load(label, users)
        est = build("ividr", _params("ividr", seed, {}, settings))
        val = est._start_fit(dataset, None)
        rng = np.random.default_rng(seed)
        est._fit_treatments(dataset, val, rng, None)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        state = json.dumps(rng.bit_generator.state)
        scale = released_scale(dataset, est.user_treatment_, est.item_treatment_)
        np.savez(
            tmp,
            user_treatment=est.user_treatment_,
            item_treatment=est.item_treatment_,
            rng_state=np.array(state),
            released_scale=np.array(scale),
        )
        os.replace(tmp, path)
    return {"data": label, "seed": seed}


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


def fit_factor(
    label: str, seed: int, factor: str, out: str, users: int | None, settings: dict
) -> dict:
    """Stage 2 of ``label`` x ``seed`` with ``factor``, on the cached stage 1; one runs row."""
    import time

    import torch

    from metrics.mcc import mcc

    _threads()
    cached = np.load(_stage1_path(Path(out), label, seed))
    dataset = load(label, users)
    truth = dataset.confounder
    model, overrides = FACTORS[factor]
    est = build(model, _params(model, seed, overrides, settings))
    est._start_fit(dataset, None)
    est.user_treatment_ = cached["user_treatment"]
    est.item_treatment_ = cached["item_treatment"]  # the split-half shrinkage's t of half rows
    if factor in SCALED:
        est.user_treatment_ = est.user_treatment_ * float(cached["released_scale"])
    rng = np.random.default_rng(seed)
    rng.bit_generator.state = json.loads(str(cached["rng_state"]))
    start = time.perf_counter()
    est._fit_latent(dataset, rng, None, None)
    seconds = time.perf_counter() - start
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
    x = dataset.exposure()

    def score(name: str) -> float:
        return float(mcc(truth, estimates[name])) if name in estimates else float("nan")

    return {
        "data": label,
        "seed": seed,
        "factor": factor,
        "mcc_fused": float(mcc(truth, est.user_latents_)) if model != "ividr" else score("fused"),
        "mcc_shifted": float(mcc(truth, est.user_latents_))
        if model != "ividr"
        else score("shifted"),
        "mcc_plain": score("plain"),
        "mcc_weak": float(mcc(truth, est.user_latents_, weak=True, random_state=seed)),
        "mcc_prior_only": float(mcc(truth, est.prior_mean_)),
        "val_loss": float(kept["val_loss"]),
        "epochs": int(kept["epochs"]),
        "shift_rms": shift_rms,
        "x_rms": float(np.sqrt(np.mean(x**2))),
        "seconds": round(seconds, 1),
        # The estimate after the split-half shrinkage (IViDR's default since this column; nan
        # for a fit without it); the columns above are the posterior means themselves.
        "mcc_shrunk": float(mcc(truth, est.user_latents_))
        if hasattr(est, "unshrunk_latents_")
        else float("nan"),
    }


def add_columns(path: Path, fields: Sequence[str]) -> None:
    """Give a runs CSV written before a column existed that column, empty in its old rows (read
    as nan), so that new rows can be appended under one header; values are left as they are."""
    rows = read_runs(path)
    if not rows or list(rows[0]) == list(fields):
        return
    import csv

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
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("sweep-out/ividr-factors"),
    show_default=True,
    help="Cache of the stage-1 fits.",
)
@results_dir_option("Where the table and the runs CSV go.", default=RESULTS_DIR)
def main(seeds, jobs, data_labels, factor_names, users, latent_epochs, epochs, out, results_dir):
    """IViDR's latent stage with one setting changed at a time (issue 20)."""
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
    results_dir.mkdir(parents=True, exist_ok=True)
    runs = results_dir / "ividr_factors_runs.csv"
    add_columns(runs, FIELDS)
    done = {(r["data"], int(r["seed"]), r["factor"]) for r in read_runs(runs)}
    plan = [(lab, s, f) for s in range(seeds) for lab in labels for f in factors]
    todo = [task for task in plan if task not in done]
    groups = sorted({(lab, s) for lab, s, _ in todo}, key=lambda g: (g[1], labels.index(g[0])))
    common = (str(out), users, settings)
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(fit_stage1, *zip(*[(lab, s, *common) for lab, s in groups], strict=True)))
    run_missing(
        runs,
        FIELDS,
        fit_factor,
        [(lab, s, f, *common) for lab, s, f in todo],
        done_keys=set(),
        key=lambda task: task[:3],
        jobs=jobs,
        announce=lambda row: click.echo(
            f"{row['data']} seed {row['seed']} {row['factor']}: fused {row['mcc_fused']:.3f} "
            f"prior {row['mcc_prior_only']:.3f} ({row['seconds']} s)",
            err=True,
        ),
    )
    command = "benchmarks/ividr_factors.py " + " ".join(sys.argv[1:])
    # Every dataset the runs CSV holds, whichever this invocation ran.
    text = report(read_runs(runs), [d[0] for d in DATASETS], command.strip())
    (results_dir / "ividr_factors.md").write_text(text)
    click.echo(text)


if __name__ == "__main__":
    main()
