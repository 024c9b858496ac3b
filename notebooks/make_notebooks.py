"""Write notebooks/latent_space.ipynb, mcc_sweep.ipynb and score_your_model.ipynb (no outputs).

Run from anywhere: ``.venv/bin/python notebooks/make_notebooks.py``. The notebooks are generated
from the cell sources below, so edit them here, not in Jupyter, and regenerate. Every notebook
reads ``IVIDR_NOTEBOOK_SMALL=1`` (tiny sizes and epochs, what the test suite runs) and
``IVIDR_NOTEBOOK_OUT`` (where they write, default ``notebook-out``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
import os
from pathlib import Path

from IPython.display import Markdown, display  # noqa: F401

SMALL = os.environ.get("IVIDR_NOTEBOOK_SMALL", "") not in ("", "0")
OUT = Path(os.environ.get("IVIDR_NOTEBOOK_OUT", "notebook-out"))
OUT.mkdir(parents=True, exist_ok=True)
"""

LATENT_SPACE = [
    new_markdown_cell(
        "# The learned latent space: iDCF vs IViDR (the paper's Figure 3)\n\n"
        "Generate data whose true confounder $C$ is known (preset `ividr`, the paper's "
        "Appendix F), fit iDCF and IViDR, and compare their learned latents with the truth: "
        "the mean correlation coefficient (MCC) and a scatter plot of each latent space, "
        "coloured by the proxy $W$. The learned latents are matched to the true dimensions by "
        "the MCC assignment, sign-flipped and rescaled before plotting.\n\n"
        "Set `IVIDR_NOTEBOOK_SMALL=1` for a tiny run (what the test suite does)."
    ),
    new_code_cell(
        SETUP
        + """
if SMALL:
    N_USERS, N_ITEMS, EPOCHS, LATENT_EPOCHS = 300, 60, 2, 20
else:  # the paper's size and the models' defaults: several minutes per fit on 2 cores
    N_USERS, N_ITEMS, EPOCHS, LATENT_EPOCHS = 10_000, 1_000, None, None
SEED = 0
"""
    ),
    new_markdown_cell("## 1. Generate a dataset with a known confounder"),
    new_code_cell(
        """\
from simulator.config import SimConfig
from simulator.generate import generate

config = SimConfig.from_preset("ividr", n_users=N_USERS, n_items=N_ITEMS, gamma=0.0, seed=SEED)
dataset = generate(config).to_dataset()
summary = dataset.summary()
print(f"{summary['n_users']} users x {summary['n_items']} items, "
      f"{summary['n_train']} exposures (density {summary['exposure_density']:.4f}), "
      f"true C of shape {dataset.confounder.shape}")
"""
    ),
    new_markdown_cell("## 2. Fit iDCF and IViDR"),
    new_code_cell(
        """\
from ividr.api import FitConfig, fit_model

results = {}
for model in ("idcf", "ividr"):
    fit_config = FitConfig(model=model, seed=SEED, epochs=EPOCHS, latent_epochs=LATENT_EPOCHS)
    results[model] = fit_model(dataset, fit_config)
    m = results[model].metrics
    print(f"{model:>6}: MCC {m['mcc']:.4f} (weak {m['mcc_weak']:.4f}), "
          f"NDCG@5 {m['ndcg@5']:.4f}, Recall@5 {m['recall@5']:.4f}, {m['seconds']:.1f} s")
"""
    ),
    new_markdown_cell(
        "## 3. Plot the latent spaces\n\n"
        "Panel (a) is the true $C$; the others are each model's posterior mean, aligned to the "
        "truth, with its strong MCC in the title."
    ),
    new_code_cell(
        """\
from ividr.reporting.plots import RunLatents, plot_latent, save_figure

runs = [RunLatents(path=OUT / m, model=m, latents=r.latents, metrics=r.metrics)
        for m, r in results.items()]
fig = plot_latent(runs, dataset.confounder, dataset.proxy)
paths = save_figure(fig, OUT / "latent_space")
display(fig)
print("written:", *paths)
"""
    ),
    new_code_cell(
        """\
# Sanity checks (the test suite runs this notebook): one panel per model plus the truth,
# and MCCs that are valid correlations.
assert len(fig.axes) == 3
assert all(0.0 <= r.metrics["mcc"] <= 1.0 for r in results.values())
assert all(p.stat().st_size > 0 for p in paths)
"""
    ),
]

MCC_SWEEP = [
    new_markdown_cell(
        "# MCC against the exposure noise $\\gamma$ (the paper's Table 5, small)\n\n"
        "A small sweep with `ividr.experiments.runner.run_sweep`: for each $\\gamma$ and seed, generate a "
        "dataset, fit iDCF and IViDR, and score the learned latents (MCC) and the ranking on the "
        "unbiased test set. The same sweep from the shell:\n\n"
        "```\nividr sweep --out DIR --preset idcf --values 0,10,20 --seeds 3 --jobs 2\n"
        "ividr plot sweep DIR --out DIR/mcc\n```\n\n"
        "It resumes: run the cell again and only unfinished runs are done. Set "
        "`IVIDR_NOTEBOOK_SMALL=1` for a tiny run (what the test suite does)."
    ),
    new_code_cell(
        SETUP
        + """
from ividr.experiments.grid import SweepConfig  # noqa: E402
from ividr.experiments.runner import run_sweep  # noqa: E402

if SMALL:
    config = SweepConfig(preset="idcf", values=(0, 10), models=("idcf", "ividr"), seeds=2,
                         n_users=300, n_items=60, epochs=2,
                         fit_overrides={"latent_epochs": 20})
    JOBS = 1
else:  # iDCF's data size: 2,000 x 300, 3 gammas x 2 models x 3 seeds
    config = SweepConfig(preset="idcf", values=(0, 10, 20), models=("idcf", "ividr"), seeds=3)
    JOBS = 2
SWEEP_DIR = OUT / ("mcc-sweep-small" if SMALL else "mcc-sweep")
"""
    ),
    new_code_cell(
        """\
def progress(done, total, run_id):
    print(f"[{done}/{total}] {run_id}")

outcome = run_sweep(config, SWEEP_DIR, jobs=JOBS, progress=progress)
print(f"{len(outcome.ran)} runs done, {len(outcome.skipped)} already there, "
      f"{len(outcome.failures)} failed, {outcome.seconds:.1f} s")
display(Markdown((SWEEP_DIR / "summary.md").read_text()))
"""
    ),
    new_code_cell(
        """\
from ividr.reporting.plots import plot_sweep, save_figure

fig = plot_sweep(SWEEP_DIR, metric="mcc")
paths = save_figure(fig, SWEEP_DIR / "mcc_vs_gamma")
display(fig)
"""
    ),
    new_code_cell(
        """\
# Sanity checks (the test suite runs this notebook).
import csv

with open(SWEEP_DIR / "results.csv", newline="") as fh:
    rows = list(csv.DictReader(fh))
assert len(rows) == len(config.runs()) and not outcome.failures
assert len({r["run_id"] for r in rows}) == len(rows)
assert len(fig.axes) == 1 and len(fig.axes[0].containers) == len(config.models)
"""
    ),
]


SCORE_YOUR_MODEL = [
    new_markdown_cell(
        "# Score your own model's confounder estimate\n\n"
        "You trained a recommender somewhere else (RecBole, Cornac, your own code) and want to "
        "know whether its user representation recovers the latent confounder $C$. Here the "
        "outside model is scikit-learn's NMF of the exposure matrix: we export its user "
        "factors as a CSV with user ids (in any order), score them exactly as the toolkit "
        "scores its own models (strong and weak MCC with a bootstrap CI, beside the proxy "
        "oracle, the supervised ceiling and chance), and plot them beside iDCF. From the "
        "shell the scoring step is\n\n"
        "```\nividr score --data DATA --latents nmf_factors.csv --out score-out\n"
        "ividr plot latent RUN_DIR nmf_factors.csv --data DATA --out fig3\n```\n\n"
        "Set `IVIDR_NOTEBOOK_SMALL=1` for a tiny run (what the test suite does)."
    ),
    new_code_cell(
        SETUP
        + """
if SMALL:
    N_USERS, N_ITEMS, EPOCHS, LATENT_EPOCHS, N_BOOT = 300, 60, 2, 20, 20
else:  # the paper's size: a few minutes for the iDCF fit on 2 cores
    N_USERS, N_ITEMS, EPOCHS, LATENT_EPOCHS, N_BOOT = 10_000, 1_000, None, None, 200
SEED = 0
"""
    ),
    new_markdown_cell("## 1. Simulate data whose true confounder is known"),
    new_code_cell(
        """\
from simulator.config import SimConfig
from simulator.generate import generate
from simulator.references import dataset_references
from simulator.writer import write_dataset

config = SimConfig.from_preset("ividr", n_users=N_USERS, n_items=N_ITEMS, seed=SEED)
simulation = generate(config)
write_dataset(simulation, OUT / "data", overwrite=(OUT / "data").exists())  # for `ividr score`
dataset = simulation.to_dataset()
references = dataset_references(dataset)  # proxy oracle, chance, supervised ceiling: once
print(f"{dataset.n_users} users x {dataset.n_items} items, true C of shape "
      f"{dataset.confounder.shape}")
"""
    ),
    new_markdown_cell(
        "## 2. Fit a model outside the toolkit and export its user factors\n\n"
        "Non-negative matrix factorisation of the binary exposure matrix, with as many "
        "components as $C$ has dimensions. The CSV has a `user_id` column and one column per "
        "factor; its rows are shuffled to show that the order does not matter."
    ),
    new_code_cell(
        """\
import numpy as np
from sklearn.decomposition import NMF

nmf = NMF(n_components=dataset.confounder.shape[1], init="nndsvda", max_iter=500,
          random_state=SEED)
factors = nmf.fit_transform(dataset.exposure_csr())
order = np.random.default_rng(SEED).permutation(dataset.n_users)
csv_path = OUT / "nmf_factors.csv"
np.savetxt(csv_path, np.c_[order, factors[order]], delimiter=",", comments="",
           header="user_id," + ",".join(f"f{k}" for k in range(factors.shape[1])),
           fmt=["%d"] + ["%.17g"] * factors.shape[1])
print("written:", csv_path)
"""
    ),
    new_markdown_cell(
        "## 3. Score it, beside iDCF and the linear baseline `svd-w`\n\n"
        "`read_latents` puts the CSV's rows back in the dataset's user order; `score_latents` "
        "is what `ividr score` runs, and what a fit runs on its own latents."
    ),
    new_code_cell(
        """\
from ividr.api import FitConfig, fit_model
from ividr.reporting.scoring import format_scores, read_latents, score_latents

nmf_latents = read_latents(csv_path, dataset.n_users)
fits = {
    model: fit_model(dataset, FitConfig(model=model, seed=SEED, epochs=EPOCHS,
                                        latent_epochs=LATENT_EPOCHS, n_boot=0))
    for model in ("idcf", "svd-w")
}
scores = {"nmf": score_latents(dataset, nmf_latents, n_boot=N_BOOT, seed=SEED,
                               references=references)}
for model, fit in fits.items():
    scores[model] = score_latents(dataset, fit.latents, prior_mean=fit.prior_mean,
                                  n_boot=N_BOOT, seed=SEED, references=references)
print("\\n".join(format_scores(scores)))
"""
    ),
    new_markdown_cell("## 4. Plot the outside model's latent space beside iDCF's (Figure 3)"),
    new_code_cell(
        """\
from ividr.reporting.plots import RunLatents, plot_latent, save_figure

runs = [RunLatents(path=csv_path, model="NMF (outside)", latents=nmf_latents),
        RunLatents(path=OUT / "idcf", model="idcf", latents=fits["idcf"].latents)]
fig = plot_latent(runs, dataset.confounder, dataset.proxy)
paths = save_figure(fig, OUT / "score_your_model")
display(fig)
print("written:", *paths)
"""
    ),
    new_code_cell(
        """\
# Sanity checks (the test suite runs this notebook): the CSV read back is the NMF's factors in
# user order, its score is the score of the array, a fit's own MCC is the score of its latents.
assert np.allclose(nmf_latents, factors)
in_order = score_latents(dataset, factors, n_boot=N_BOOT, seed=SEED, references=references)
assert abs(in_order["mcc"] - scores["nmf"]["mcc"]) < 1e-12
assert scores["idcf"]["mcc"] == fits["idcf"].metrics["mcc"]
assert all(0.0 <= s["mcc"] <= 1.0 for s in scores.values())
assert len(fig.axes) == 3 and all(p.stat().st_size > 0 for p in paths)
"""
    ),
]


def write(name: str, cells: list) -> Path:
    nb = new_notebook(cells=cells)
    stem = name.removesuffix(".ipynb").replace("_", "-")
    for i, cell in enumerate(nb.cells):  # stable ids, so regenerating gives no spurious diff
        cell.id = f"{stem}-{i}"
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    path = HERE / name
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path


def main() -> None:
    for name, cells in (
        ("latent_space.ipynb", LATENT_SPACE),
        ("mcc_sweep.ipynb", MCC_SWEEP),
        ("score_your_model.ipynb", SCORE_YOUR_MODEL),
    ):
        print(write(name, cells))


if __name__ == "__main__":
    main()
