"""Write notebooks/latent_space.ipynb and notebooks/mcc_sweep.ipynb (no outputs).

Run from anywhere: ``.venv/bin/python notebooks/make_notebooks.py``. The notebooks are generated
from the cell sources below, so edit them here, not in Jupyter, and regenerate. Both notebooks
read ``IVIDR_NOTEBOOK_SMALL=1`` (tiny sizes and epochs, what the test suite runs) and
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
from ividr.plots import RunLatents, plot_latent, save_figure

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
from ividr.plots import plot_sweep, save_figure

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
    for name, cells in (("latent_space.ipynb", LATENT_SPACE), ("mcc_sweep.ipynb", MCC_SWEEP)):
        print(write(name, cells))


if __name__ == "__main__":
    main()
