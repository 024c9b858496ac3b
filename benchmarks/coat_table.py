"""Reproduce the Coat rows of the IViDR paper's Tables 3 and 4 (NDCG@5 / Recall@5, 10 seeds).

Every model of ``MODELS`` is fitted on Coat for seeds 0..9 under one training protocol
(``ividr.training.protocols``), chosen on the 30% validation users only (the test users are never
looked at before the table):

- ``--protocol ours`` (the paper's text, docs/design.md §4): BCE on positive = rating >= 4 (Eq. 25),
  patience 5, at most 100 recommender epochs, the lr x weight decay grid on validation NDCG@5;
- ``--protocol released`` (the code released with iDCF and IViDR, in the test-seed mode that
  produced the published figures): MSE on the 0/1 label, patience 20, at most 100 (iDCF's
  scripts) or 1000 (IViDR's) epochs, lr 5e-4 and weight decay 1e-6 (what the released tuning
  mode found on Coat), and the released latent-stage schedule. ``--released-grid`` searches
  the grid on validation instead (the tuning mode; a section of its own). ``--released-split``
  keeps the test-seed mode and also the released codes' one validation/test split (numpy's
  legacy seed 1234 draws int(0.7 x 290) = 203 test users, ``split_by_user`` in their
  ``utils.py``) for every seed, so that seeds vary the model only, as for the published
  figures.

Latent stages use the default restarts (``--restarts``). The fits of one section run as one
resumable sweep over the Coat folder (:func:`ividr.experiments.runner.run_sweep`: ``--jobs``,
``--backend local|ray``; a killed run resumes by running the same command again), the section a
sweep's fit settings (:data:`SETTING_OVERRIDES`; the released split is ``FitConfig.split``).
Writes, in ``benchmarks/results/``: ``coat_runs.csv`` (one row per run: the rows of the sections
and seeds this invocation ran, from its sweep, replace theirs; every other row is kept),
``coat_table.md`` (mean +/- std beside the paper's figures, per section), ``coat_tests.csv`` /
``.md`` (paired t-tests over seeds: IViDR vs iDCF, IV4R-MF vs MF, ...) and
``coat_first_stage.csv`` / ``.md`` (first-stage F statistic and partial R^2 of the IV models'
treatment t_u on the user features).

Usage: ``python -m benchmarks.coat_table [--protocol ours|released] [--released-grid|split]
[--seeds 10] [--jobs 2] [--models mf,idcf,...] [--restarts R] [--out DIR] [--report-only]``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import click
import numpy as np

from benchmarks._gamma_folders import (
    config_dir,
    merge_runs_csv,
    read_runs_csv,
    run_file,
    run_plan_or_fail,
)
from benchmarks._options import (
    backend_option,
    results_dir_option,
    seeds_jobs_options,
    sweep_dirs_option,
)
from ividr.experiments.grid import SweepConfig
from ividr.experiments.reports import format_cell, format_values, paired_tests_table
from ividr.experiments.summaries import paired_comparison
from ividr.paper import COAT_RANKING
from ividr.registry import DISPLAY_NAMES
from simulator.locations import default_dataset_path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
COAT = default_dataset_path("coat")
MODELS = ("mf", "mf-wf", "iv4r-mf", "idcf-w", "idcf", "ividr-t", "ividr-f", "ividr-r", "ividr")
#: Run only when named in --models: the audit model of the released IViDR forward pass (§4.3).
EXTRA_MODELS = ("ividr-released",)
PROTOCOL_NAMES = ("ours", "released")
#: Table sections: the protocol, and for "released" whether the grid was searched.
SETTINGS = ("ours", "released", "released-grid", "released-split")
#: The released test-seed mode's Coat settings (iDCF.py, IVERS.py: ``args.test_seed``).
RELEASED_COAT_LR, RELEASED_COAT_WD = 5e-4, 1e-6
_RELEASED_FIXED = {"protocol": "released", "grid": False}
_RELEASED_FIXED |= {"lr": RELEASED_COAT_LR, "weight_decay": RELEASED_COAT_WD}
#: Each section's fit settings (FitConfig fields), over the sweep's own: no bootstrap.
SETTING_OVERRIDES: dict[str, dict] = {
    "ours": {"grid": True},
    "released": _RELEASED_FIXED,
    "released-grid": {"protocol": "released", "grid": True},
    "released-split": {**_RELEASED_FIXED, "split": "released"},
}
#: How the reports name the models: the registry's names, the audit model's as in the paper's audit.
LABELS = {m: DISPLAY_NAMES[m] for m in MODELS} | {"ividr-released": "IViDR (released forward pass)"}
#: Paired comparisons (a, b): a - b over the same seeds (and so the same splits).
PAIRS = (
    ("ividr", "idcf"),
    ("iv4r-mf", "mf"),
    ("idcf", "mf"),
    ("ividr", "mf"),
    ("ividr-t", "idcf"),
    ("ividr-f", "idcf"),
    ("ividr-r", "idcf"),
    ("ividr-released", "idcf"),
)
#: The columns naming a row of coat_tests.md (:func:`paired_tests_table`, the long shape).
TEST_LABELS = {
    "protocol": lambda t: t["protocol"],
    "a": lambda t: LABELS[t["a"]],
    "b": lambda t: LABELS[t["b"]],
    "metric": lambda t: t["metric"],
}
IV_MODELS = ("iv4r-mf", "ividr-t", "ividr-f", "ividr-r", "ividr", "ividr-released")
FIELDS = [
    "model",
    "seed",
    "protocol",
    "loss",
    "grid",
    "restarts",
    "ndcg@5",
    "recall@5",
    "val_ndcg@5",
    "val_recall@5",
    "lr",
    "weight_decay",
    "epochs_run",
    "f_stat",
    "f_median",
    "partial_r2",
    "seconds",
]
PROTOCOL_TEXT = {
    "ours": "protocol ours (the paper's text: BCE on rating >= 4, Eq. 25; patience 5; "
    "lr x weight decay grid on validation NDCG@5)",
    "released": "protocol released, test-seed mode (the released code: MSE on the 0/1 label; "
    "patience 20; 100 / 1000 max epochs; lr 5e-4, weight decay 1e-6; released latent schedule)",
    "released-grid": "protocol released, tuning mode (as above, but the lr x weight decay grid "
    "on validation NDCG@5)",
    "released-split": "protocol released, test-seed mode on the released codes' one split (seed "
    "1234: 203 test users, 87 validation users, the same for every seed)",
}


def setting_of(row: dict) -> str:
    """The table section of a run: "ours", "released" (fixed lr) or "released-grid"."""
    if row["protocol"] == "ours":
        return "ours"
    if row["protocol"] == "released-split":
        return "released-split"
    return "released-grid" if str(row["grid"]) == "True" else "released"


def sweep_config(
    setting: str, models: list[str], seeds: int, restarts: int | None, data: str
) -> SweepConfig:
    """The sweep that fits ``models`` on the Coat folder ``data`` for seeds 0..N-1 under the
    section ``setting`` (:data:`SETTING_OVERRIDES`)."""
    settings = {"n_boot": 0, **SETTING_OVERRIDES[setting]}
    if restarts is not None:
        settings["restarts"] = restarts
    return SweepConfig(
        preset="data",
        knob="data",
        values=("data",),
        models=tuple(models),
        seeds=seeds,
        fit_overrides=settings,
        data=str(Path(data).resolve()),
    )


def runs_row(row: dict, sweep_dir: Path, setting: str) -> dict:
    """A sweep's results row as a row of coat_runs.csv (:data:`FIELDS`), with what the run
    folder holds beside it: the estimator's loss, grid and restarts (config.json) and the lr and
    weight decay the recommender used (metrics.json's ``chosen``)."""
    params = run_file(sweep_dir, row, "config.json")["estimator_params"]
    chosen = run_file(sweep_dir, row, "metrics.json").get("chosen", {}).get("recommender", {})

    def cell(key: str):
        return "" if row.get(key) is None else row[key]

    return {
        "model": row["model"],
        "seed": int(row["seed"]),
        "protocol": "released-split" if setting == "released-split" else setting.split("-")[0],
        "loss": params["loss"],
        "grid": params["grid"],
        "restarts": params.get("restarts", ""),
        "ndcg@5": row["ndcg@5"],
        "recall@5": row["recall@5"],
        "val_ndcg@5": row["val_ndcg@5"],
        "val_recall@5": row["val_recall@5"],
        "lr": chosen.get("lr"),
        "weight_decay": chosen.get("weight_decay"),
        "epochs_run": row["epochs_run"],
        "f_stat": cell("iv_f_stat"),
        "f_median": cell("iv_f_median"),
        "partial_r2": cell("iv_partial_r2"),
        "seconds": round(float(row["fit_seconds"]), 2),
    }


def merge_runs(path: Path, new_rows: list[dict], setting: str) -> list[dict[str, str]]:
    """Write coat_runs.csv with ``new_rows`` (of section ``setting``) in place of the rows of
    the same section, model and seed; every other row is kept as it was. Returns all rows, as
    strings."""
    return merge_runs_csv(
        path, new_rows, FIELDS, key=lambda r: (setting_of(r), r["model"], r["seed"])
    )


def _sel(rows: list[dict], model: str, setting: str) -> dict[int, dict]:
    return {int(r["seed"]): r for r in rows if r["model"] == model and setting_of(r) == setting}


def _mean_sd(values: list[float]) -> str:
    return format_values(values)


def table_section(rows: list[dict], protocol: str) -> list[str]:
    lines = [
        f"## {PROTOCOL_TEXT[protocol]}",
        "",
        "| model | NDCG@5 (ours) | Recall@5 (ours) | val NDCG@5 | NDCG@5 (paper) "
        "| Recall@5 (paper) | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in MODELS + EXTRA_MODELS:
        sel = list(_sel(rows, model, protocol).values())
        if not sel:
            continue
        paper = COAT_RANKING.get(model)
        pn, pr = (f"{paper[0]:.4f}", f"{paper[1]:.4f}") if paper else ("–", "–")
        lines.append(
            f"| {LABELS[model]} | {_mean_sd([float(r['ndcg@5']) for r in sel])} "
            f"| {_mean_sd([float(r['recall@5']) for r in sel])} "
            f"| {np.mean([float(r['val_ndcg@5']) for r in sel]):.4f} | {pn} | {pr} | {len(sel)} |"
        )
    return lines + [""]


def paired_tests(rows: list[dict]) -> list[dict]:
    """Paired t-tests over the seeds both models have, per protocol and metric."""
    out = []
    for protocol in SETTINGS:
        for a, b in PAIRS:
            ra, rb = _sel(rows, a, protocol), _sel(rows, b, protocol)
            seeds = sorted(set(ra) & set(rb))
            if len(seeds) < 2:
                continue
            for metric in ("ndcg@5", "recall@5", "val_ndcg@5"):
                comparison = paired_comparison(
                    {s: float(ra[s][metric]) for s in seeds},
                    {s: float(rb[s][metric]) for s in seeds},
                )
                out.append({"protocol": protocol, "a": a, "b": b, "metric": metric} | comparison)
    return out


def first_stage(rows: list[dict]) -> list[dict]:
    """Mean first-stage F (min and median over treatment columns) and partial R^2, per model."""
    out = []
    for protocol in SETTINGS:
        for model in IV_MODELS:
            sel = [r for r in _sel(rows, model, protocol).values() if r["f_stat"] not in ("", None)]
            if not sel:
                continue
            f = np.array([float(r["f_stat"]) for r in sel])
            fm = np.array([float(r["f_median"]) for r in sel])
            pr2 = np.array([float(r["partial_r2"]) for r in sel])
            out.append(
                {
                    "protocol": protocol,
                    "model": model,
                    "n": len(sel),
                    "f_min_mean": float(f.mean()),
                    "f_min_sd": float(f.std(ddof=1)) if len(f) > 1 else 0.0,
                    "f_median_mean": float(fm.mean()),
                    "partial_r2_mean": float(pr2.mean()),
                    "partial_r2_sd": float(pr2.std(ddof=1)) if len(pr2) > 1 else 0.0,
                    "weak_runs": int((f < 10).sum()),
                }
            )
    return out


def instrument_item_signal(data_path: str, n_perm: int = 20, seed: int = 0) -> list[dict]:
    """Does each user-feature field carry item signal? Cramér's V of the items x levels table.

    The table counts, for every item, its training users at each level of the field; V is
    compared with its value under users' features permuted (``n_perm`` draws): a field whose V
    sits at the permutation level tells the items apart no better than chance.
    """
    from scipy import sparse

    from simulator.loaders import load_dataset

    data = load_dataset(data_path)
    a = data.exposure_csr().T.tocsr()  # items x users
    z = data.instrument_onehot()
    rng = np.random.default_rng(seed)

    def cramers_v(onehot: np.ndarray) -> np.ndarray:
        counts = np.asarray((a @ sparse.csr_matrix(onehot)).todense(), dtype=np.float64)
        out, start = [], 0
        for n in data.instrument_levels:
            c = counts[:, start : start + int(n)]
            start += int(n)
            c = c[c.sum(1) > 0][:, c.sum(0) > 0]
            expected = c.sum(1, keepdims=True) * c.sum(0, keepdims=True) / c.sum()
            chi2 = ((c - expected) ** 2 / expected).sum()
            out.append(np.sqrt(chi2 / (c.sum() * (min(c.shape) - 1))))
        return np.array(out)

    observed = cramers_v(z)
    null = np.array([cramers_v(z[rng.permutation(len(z))]) for _ in range(n_perm)])
    return [
        {
            "field": f,
            "levels": int(n),
            "cramers_v": float(observed[f]),
            "null_mean": float(null[:, f].mean()),
            "null_sd": float(null[:, f].std(ddof=1)),
        }
        for f, n in enumerate(data.instrument_levels)
    ]


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_reports(
    rows: list[dict], n_seeds: int, data_path: str = str(COAT), results: Path = RESULTS
) -> str:
    """Write coat_table.md, coat_tests.csv/md and coat_first_stage.csv/md; return the table."""
    protocols = [p for p in SETTINGS if any(setting_of(r) == p for r in rows)]
    lines = [
        "# Coat: NDCG@5 / Recall@5 on the 70% test users (mean ± std over seeds)",
        "",
        f"Seeds 0..{n_seeds - 1}; each seed also draws the 30/70 validation/test split of the",
        "unbiased users. Every choice (lr, weight decay, epoch, latent restart) is made on",
        "validation data. Written by `benchmarks/coat_table.py`; every run is in coat_runs.csv,",
        "paired tests in coat_tests.md, first-stage diagnostics in coat_first_stage.md.",
        "",
    ]
    for protocol in protocols:
        lines += table_section(rows, protocol)
    table = "\n".join(lines)
    (results / "coat_table.md").write_text(table)
    tests = paired_tests(rows)
    _write_csv(results / "coat_tests.csv", tests)
    t_lines = [
        "# Coat: paired t-tests over seeds (a - b; the same seed = the same split)",
        "",
        *paired_tests_table(tests, TEST_LABELS),
    ]
    (results / "coat_tests.md").write_text("\n".join(t_lines) + "\n")
    fs = first_stage(rows)
    _write_csv(results / "coat_first_stage.csv", fs)
    f_lines = [
        "# Coat: first-stage strength of the IV models' treatment (mean over seeds)",
        "",
        "t_u = mean of T^re_j over user u's training items, regressed column by column on the",
        "one-hot user features Z (4 fields, 14 levels; `metrics.first_stage_strength`). F (min)",
        "is the weakest of the d_q treatment columns, F (median) the typical one; a run is weak",
        "when its min F < 10.",
        "",
        "| protocol | model | runs | F (min) | F (median) | partial R² (min) | weak runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in fs:
        f_lines.append(
            f"| {r['protocol']} | {LABELS[r['model']]} | {r['n']} "
            f"| {format_cell(r['f_min_mean'], r['f_min_sd'], digits=2)} | {r['f_median_mean']:.2f} "
            f"| {format_cell(r['partial_r2_mean'], r['partial_r2_sd'], digits=3)} "
            f"| {r['weak_runs']} |"
        )
    signal = instrument_item_signal(data_path)
    _write_csv(results / "coat_instrument_signal.csv", signal)
    f_lines += [
        "",
        "## Do the user-feature fields tell the items apart? (data, no model)",
        "",
        "Cramér's V of the items x levels table of each field (training users per item and",
        "level) against 20 permutations of the users' features (coat_instrument_signal.csv).",
        "",
        "| field | levels | Cramér's V | permuted: mean ± sd |",
        "|---|---|---|---|",
    ]
    names = ("gender", "age group", "location", "fashion interest")
    for r in signal:
        name = names[r["field"]] if len(signal) == len(names) else str(r["field"])
        f_lines.append(
            f"| {name} | {r['levels']} | {r['cramers_v']:.3f} "
            f"| {format_cell(r['null_mean'], r['null_sd'], digits=3)} |"
        )
    (results / "coat_first_stage.md").write_text("\n".join(f_lines) + "\n")
    return table


def section_of(protocol: str, released_grid: bool, released_split: bool) -> str:
    """The table section (:data:`SETTINGS`) that the protocol options name."""
    if protocol == "released" and released_split:
        return "released-split"
    if protocol == "released" and released_grid:
        return "released-grid"
    return protocol


@click.command(help=__doc__.splitlines()[0])
@seeds_jobs_options()
@click.option("--protocol", type=click.Choice(PROTOCOL_NAMES), default="ours", show_default=True)
@click.option("--released-grid", is_flag=True, help="released: the grid, not lr 5e-4 / wd 1e-6.")
@click.option("--released-split", is_flag=True, help="released: the released codes' one split.")
@click.option("--models", default=",".join(MODELS), show_default=True, help="Comma-separated.")
@click.option(
    "--restarts", type=click.IntRange(min=1), default=None, help="Latent restarts [default: 4]."
)
@click.option("--report-only", is_flag=True, help="Rewrite the reports only.")
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=str(COAT))
@backend_option()
@sweep_dirs_option("sweep-out/coat")
@results_dir_option("Where coat_runs.csv and the reports go.", default=RESULTS)
def main(**options) -> None:
    args = SimpleNamespace(**options)
    results = Path(args.results_dir)
    models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(models) - set(MODELS + EXTRA_MODELS))
    if unknown:
        raise click.BadParameter(
            f"unknown {unknown}; allowed: {list(MODELS + EXTRA_MODELS)}", param_hint="'--models'"
        )
    results.mkdir(parents=True, exist_ok=True)
    runs_csv = results / "coat_runs.csv"
    setting = section_of(args.protocol, args.released_grid, args.released_split)
    done = read_runs_csv(runs_csv)
    if not args.report_only:
        config = sweep_config(setting, models, args.seeds, args.restarts, args.data)
        sweep_dir = config_dir(args.out, config, f"coat-{setting}")
        found = run_plan_or_fail(
            [("main", sweep_dir, config)], jobs=args.jobs, backend=args.backend, name="coat"
        )
        # model-major, as the table reads (the sweep hands its rows back seed-major)
        ordered = sorted(found["main"], key=lambda r: (models.index(r["model"]), r["seed"]))
        new_rows = [runs_row(row, sweep_dir, setting) for row in ordered]
        done = merge_runs(runs_csv, new_rows, setting)
    rows = [r for r in done if int(r["seed"]) < args.seeds]
    print(write_reports(rows, args.seeds, args.data, results))


if __name__ == "__main__":
    main()
