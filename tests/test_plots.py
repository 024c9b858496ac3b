"""`ividr plot latent` (Figure 3) and `ividr plot sweep`: files, panels, bad input (§7)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
# numba (under UMAP) caches its compiled code here, so only the first UMAP run pays for it.
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

from ividr.cli import main  # noqa: E402
from ividr.experiments.grid import SweepConfig  # noqa: E402
from ividr.experiments.runner import run_sweep  # noqa: E402
from ividr.reporting.plots import (  # noqa: E402
    PlotError,
    figure_paths,
    plot_latent,
    plot_latent_from_dirs,
    plot_sweep,
)


def _write_dataset(path: Path, **knobs) -> Path:
    from simulator.config import SimConfig
    from simulator.generate import generate
    from simulator.writer import write_dataset

    config = SimConfig.from_preset("idcf", n_users=200, n_items=40, seed=3, **knobs)
    write_dataset(generate(config), path)
    return path


def _write_run(path: Path, latents: np.ndarray, model: str) -> Path:
    path.mkdir(parents=True)
    np.save(path / "latents.npy", latents)
    (path / "config.json").write_text(json.dumps({"model": model, "seed": 0}))
    (path / "metrics.json").write_text(json.dumps({"model": model, "mcc": 0.5}))
    return path


@pytest.fixture(scope="module")
def fig3_inputs(tmp_path_factory):
    """A tiny dataset, a run whose latents are a permuted, flipped, rescaled C, and a noise run."""
    root = tmp_path_factory.mktemp("fig3")
    data = _write_dataset(root / "data")
    from simulator.loaders import load_dataset

    c = load_dataset(data).confounder
    copy = np.c_[-3.0 * c[:, 1] + 1.0, 0.5 * c[:, 0]]
    noise = np.random.default_rng(0).normal(size=(len(c), 4))
    good = _write_run(root / "good", copy, "ividr")
    bad = _write_run(root / "bad", noise, "idcf")
    return root, data, good, bad, c


def test_plot_alignment_undoes_permutation_sign_and_scale(fig3_inputs):
    from metrics.mcc import align_latents

    *_, c = fig3_inputs
    learned = np.c_[-3.0 * c[:, 1] + 1.0, 0.5 * c[:, 0]]
    aligned, match = align_latents(c, learned, scale="std", return_match=True)
    assert match.score == pytest.approx(1.0)
    np.testing.assert_allclose(aligned, c, atol=1e-9)


def test_plot_latent_panels_titles_and_points(fig3_inputs):
    _, data, good, bad, c = fig3_inputs
    fig = plot_latent_from_dirs([bad, good], data)
    axes = fig.axes
    assert len(axes) == 3
    titles = [ax.get_title() for ax in axes]
    assert titles[0] == "(a) True C"
    assert titles[1].startswith("(b) iDCF: MCC ") and titles[2] == "(c) IViDR: MCC 1.000"
    assert float(titles[1].rsplit(" ", 1)[1]) < 0.5  # noise scores low
    # Every user is drawn in every panel, one scatter per proxy level (5 levels).
    for ax in axes:
        assert len(ax.collections) == 5
        assert sum(len(col.get_offsets()) for col in ax.collections) == len(c)
    # The aligned copy is drawn exactly where the truth is.
    truth_pts = np.concatenate([col.get_offsets() for col in axes[0].collections])
    good_pts = np.concatenate([col.get_offsets() for col in axes[2].collections])
    np.testing.assert_allclose(good_pts, truth_pts, atol=1e-8)


def test_plot_latent_subsamples_and_labels(fig3_inputs):
    _, data, good, _, _ = fig3_inputs
    fig = plot_latent_from_dirs([good], data, max_points=50, labels=["mine"])
    assert len(fig.axes) == 2
    assert fig.axes[1].get_title() == "(b) mine: MCC 1.000"
    assert sum(len(col.get_offsets()) for col in fig.axes[1].collections) == 50


def test_plot_latent_rejects_mismatched_rows(fig3_inputs, tmp_path):
    *_, c = fig3_inputs
    run = _write_run(tmp_path / "short", np.zeros((10, 2)), "idcf")
    with pytest.raises(PlotError, match="10 rows"):
        plot_latent([run], c, np.zeros(len(c), dtype=int))


@pytest.mark.slow
def test_plot_latent_uses_umap_for_more_than_two_dims(tmp_path):
    pytest.importorskip("umap")
    data = _write_dataset(tmp_path / "data3", latent_dim=3)
    from simulator.loaders import load_dataset

    c = load_dataset(data).confounder
    assert c.shape[1] == 3
    run = _write_run(tmp_path / "run", c[:, ::-1] * 2.0, "idcf")
    fig = plot_latent_from_dirs([run], data)
    assert [ax.get_xlabel() for ax in fig.axes] == ["UMAP 1", "UMAP 1"]
    assert fig.axes[1].get_title() == "(b) iDCF: MCC 1.000"
    pts = np.concatenate([col.get_offsets() for col in fig.axes[1].collections])
    assert pts.shape == (len(c), 2) and np.all(np.isfinite(pts))


def test_cli_plot_latent_writes_png_and_pdf(fig3_inputs, tmp_path):
    _, data, good, bad, _ = fig3_inputs
    out = tmp_path / "figs" / "figure3.png"
    result = CliRunner().invoke(
        main, ["plot", "latent", str(bad), str(good), "--data", str(data), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    png, pdf = tmp_path / "figs" / "figure3.png", tmp_path / "figs" / "figure3.pdf"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert result.output.split() == [str(png), str(pdf)]


@pytest.mark.parametrize(
    ("case", "option"),
    [
        ("no_latents", "RUN_DIR"),
        ("missing_run", "RUN_DIR_OR_FILE"),
        ("rows", "RUN_DIR"),
        ("suffix", "--out"),
        ("labels", "--labels"),
        ("no_truth", "--data"),
        ("malformed_latents", "RUN_DIR"),
    ],
)
def test_cli_plot_latent_bad_input(fig3_inputs, tmp_path, case, option, external_dataset):
    _, data, good, _, _ = fig3_inputs
    runs, data_arg, out, extra = [str(good)], str(data), tmp_path / "fig", []
    if case == "no_latents":
        empty = tmp_path / "empty"
        empty.mkdir()
        runs = [str(empty)]
    elif case == "missing_run":
        runs = [str(tmp_path / "nope")]
    elif case == "rows":
        runs = [str(_write_run(tmp_path / "short", np.zeros((10, 2)), "idcf"))]
    elif case == "suffix":
        out = tmp_path / "fig.txt"
    elif case == "labels":
        extra = ["--labels", "a,b"]
    elif case == "no_truth":
        data_arg = str(external_dataset("coat"))  # a real dataset: no truth
    elif case == "malformed_latents":
        broken = tmp_path / "broken"
        broken.mkdir()
        (broken / "latents.npy").write_bytes(b"not a numpy file")
        runs = [str(broken)]
    result = CliRunner().invoke(
        main, ["plot", "latent", *runs, "--data", data_arg, "--out", str(out), *extra]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and option in lines[0], result.output
    assert not any(p.suffix in (".png", ".pdf") for p in tmp_path.rglob("*"))


def _fake_fit(dataset, config, spec):
    rng = np.random.default_rng([spec.seed, int(spec.value), len(spec.model)])
    score = 0.9 - 0.02 * float(spec.value) + (0.05 if spec.model == "ividr" else 0.0)
    metrics = {"mcc": score + 0.01 * rng.normal(), "mcc_weak": score, "ndcg@5": 0.5}
    metrics["recall@5"] = 0.4
    return {"metrics": metrics, "latents": None, "config": {"model": spec.model}}


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "s"
    config = SweepConfig(
        preset="idcf", values=(0, 10, 20), models=("idcf", "ividr"), seeds=2, n_users=100,
        n_items=30,
    )  # fmt: skip
    run_sweep(config, out, fit_fn=_fake_fit)
    return out


def test_plot_sweep_one_line_per_model_with_error_bars(sweep_dir):
    fig = plot_sweep(sweep_dir)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xlabel() == "gamma" and ax.get_ylabel() == "MCC"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["iDCF (n=2)", "IViDR (n=2)"]
    assert len(ax.containers) == 2  # one errorbar container per model
    line = ax.containers[1].lines[0]
    np.testing.assert_allclose(line.get_xdata(), [0, 10, 20])
    np.testing.assert_allclose(line.get_ydata(), [0.95, 0.75, 0.55], atol=0.05)


def test_cli_plot_sweep_files_and_bad_input(sweep_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["plot", "sweep", str(sweep_dir), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.png").stat().st_size > 0 and (tmp_path / "m.pdf").stat().st_size > 0
    for args, option in (
        ([str(tmp_path), "--out", str(tmp_path / "x")], "SWEEP_DIR"),  # not a sweep
        ([str(sweep_dir), "--out", str(tmp_path / "x"), "--metric", "auc"], "--metric"),
        ([str(sweep_dir), "--out", str(tmp_path / "x.jpg")], "--out"),
        ([str(sweep_dir), "--out", str(tmp_path / "x"), "--paper"], "--paper"),  # not 0..20
    ):
        result = runner.invoke(main, ["plot", "sweep", *args])
        assert result.exit_code == 2 and option in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    assert not list(tmp_path.glob("x*"))


def test_figure_paths():
    assert [p.name for p in figure_paths("a/fig.pdf")] == ["fig.png", "fig.pdf"]
    assert [p.name for p in figure_paths("fig")] == ["fig.png", "fig.pdf"]
    with pytest.raises(PlotError, match="must end in"):
        figure_paths("fig.svg")


@pytest.mark.slow
def test_demo_small_end_to_end(tmp_path):
    """`python -m ividr.cli.demo` (`make demo`), shrunk: MCCs printed, Figure 3 written."""
    import subprocess
    import sys

    out = tmp_path / "demo"
    args = [sys.executable, "-m", "ividr.cli.demo", "--out", str(out), "--users", "300"]
    args += ["--items", "60", "--epochs", "2", "--quiet"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line}
    for model in ("idcf", "ividr"):
        assert 0.0 <= float(lines[model][1]) <= 1.0  # its MCC
        assert lines[model][2] == "-"  # not the paper's draw: no paper figure
        # beside it: prior-only, proxy oracle, the two supervised ceilings and chance
        assert all(0.0 <= float(cell) <= 1.0 for cell in lines[model][3:8])
    assert lines["model"][:4] == ["model", "MCC", "paper", "prior-only"]
    assert "How" in lines and "proxy oracle" in result.stdout
    # It says what the data are and what it chose to stay quick.
    assert "not the paper's draw" in result.stdout and "1 latent restart" in result.stdout
    assert (out / "figure3.png").stat().st_size > 0 and (out / "figure3.pdf").stat().st_size > 0
    assert (out / "data" / "meta.json").is_file()


def test_demo_table_puts_each_mcc_beside_its_reference_levels():
    from ividr.cli.demo import READING, format_results

    row = {
        "mcc": 0.61,
        "paper_mcc": 0.6475,
        "mcc_prior_only": 0.72,
        "ref_proxy_chance": 0.48,
        "ref_oracle": 0.94,
        "ref_supervised_exposure_w": 0.9,
        "ref_supervised_exposure": 0.5,
        "ref_chance": 0.02,
        "mcc_weak": 0.7,
        "ndcg@5": 0.8,
        "recall@5": 0.6,
        "fit_seconds": 12.0,
    }
    lines = format_results({"idcf": row, "ividr": {"mcc": 0.5, "mcc_weak": 0.6}})
    head = lines[0].split()
    assert head[:5] == ["model", "MCC", "paper", "prior-only", "W-chance"]
    assert lines[0].index("oracle") < lines[0].index("ceil A+W") < lines[0].index(" chance")
    assert lines[1].split()[:9] == [
        "idcf",
        "0.6100",
        "0.6475",
        "0.7200",
        "0.4800",
        "0.9400",
        "0.9000",
        "0.5000",
        "0.0200",
    ]
    # A figure the row lacks (no truth, no reference) prints as "-"; the columns stay aligned.
    assert lines[2].split()[:3] == ["ividr", "0.5000", "-"]
    assert len({len(line) for line in lines[:3]}) == 1
    assert lines[-1] == READING and READING.startswith("How to read it")


def test_demo_shows_the_paper_figure_only_on_the_paper_draw():
    from ividr.cli.demo import paper_mcc
    from simulator.config import SimConfig

    paper = SimConfig.from_preset("ividr-paper", gamma=10.0)
    assert (paper_mcc(paper, "idcf"), paper_mcc(paper, "ividr")) == (0.6475, 0.7659)
    assert paper_mcc(paper, "mf") is None
    for other in (
        paper.replace(n_users=500),
        paper.replace(seed=0),
        paper.replace(gamma=7.0),
        SimConfig.from_preset("ividr-code", gamma=10.0),
    ):
        assert paper_mcc(other, "idcf") is None


def test_demo_choices_besides_restarts_leave_the_fit_unchanged():
    """The demo turns off the MCC trace and the bootstrap: the fit itself is the same."""
    import numpy as np

    from ividr.api import FitConfig, fit_model
    from ividr.cli.demo import DEMO_FIT
    from simulator import SimConfig, generate

    data = generate(SimConfig.from_preset("ividr-paper", n_users=150, n_items=40)).to_dataset()
    short = {"latent_epochs": 4, "epochs": 2, "restarts": 1}
    plain = fit_model(data, FitConfig(model="idcf", trace_every=1, n_boot=2, **short))
    demo = fit_model(data, FitConfig(model="idcf", **{**short, **DEMO_FIT}))
    assert set(DEMO_FIT) == {"restarts", "trace_every", "n_boot"}
    np.testing.assert_array_equal(plain.latents, demo.latents)
    assert plain.metrics["ndcg@5"] == demo.metrics["ndcg@5"]
