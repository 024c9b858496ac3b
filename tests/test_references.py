"""Issue 6: reference levels of a dataset (proxy oracle, chance, exposure R^2), their cache,
the prior-only MCC, the --shuffle-aux ablation, and the reference lines of the sweep and its plot.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ividr.cli import main
from metrics.mcc import mcc
from simulator.dataset import DatasetError, Interactions, RecDataset
from simulator.references import (
    REFERENCES_FILE,
    dataset_references,
    flat_references,
    references_for,
)

TINY_SIM = dict(n_users=240, n_items=50)


def make_dataset(c: np.ndarray, w: np.ndarray, *, seed: int = 0) -> RecDataset:
    """A RecDataset with truth C, proxy W (one field) and random exposures."""
    rng = np.random.default_rng(seed)
    n, m = len(c), 40
    exposed = rng.random((n, m)) < 0.2
    exposed[np.arange(n), rng.integers(0, m, n)] = True  # every user has one exposure
    user, item = np.nonzero(exposed)
    train = Interactions(user, item, rng.integers(1, 6, len(user)))
    unbiased = Interactions(np.arange(n), rng.integers(0, m, n), rng.integers(1, 6, n))
    w = np.asarray(w, dtype=np.int64).reshape(n, 1)
    levels = (int(w.max()) + 1,)
    return RecDataset(
        name="constructed",
        n_users=n,
        n_items=m,
        train=train,
        unbiased=unbiased,
        proxy=w,
        proxy_levels=levels,
        instrument=w.copy(),
        instrument_levels=levels,
        truth={"C": np.asarray(c, dtype=float)},
    )


@pytest.fixture(scope="module")
def simgen_dir(tmp_path_factory) -> Path:
    from simulator.config import SimConfig
    from simulator.generate import generate
    from simulator.writer import write_dataset

    path = tmp_path_factory.mktemp("refs") / "data"
    write_dataset(generate(SimConfig.from_preset("idcf", seed=3, **TINY_SIM)), path)
    return path


def _digests(path: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.iterdir())
        if p.is_file()
    }


# -- dataset-level figures --------------------------------------------------------------------
def test_proxy_oracle_is_one_when_c_is_a_function_of_w():
    rng = np.random.default_rng(0)
    w = rng.integers(0, 6, 600)
    c = np.c_[np.sin(w), w**2 - 3 * w].astype(float)
    refs = dataset_references(make_dataset(c, w))
    assert refs["mcc_proxy_oracle"]["strong"] == pytest.approx(1.0, abs=1e-12)
    assert refs["mcc_proxy_oracle"]["weak"] > 0.999
    assert refs["mcc_proxy_oracle"]["r2"] == pytest.approx(1.0)
    assert refs["r2_exposure"]["proxy"] > 0.99
    assert refs["mcc_chance"]["p95"] < 0.2 and refs["d_true"] == 2
    # The supervised ceiling reaches the oracle from W; the random exposures alone say nothing.
    assert refs["mcc_supervised"]["exposure_w"] > 0.99
    assert refs["mcc_supervised"]["exposure"] < 0.3
    assert "HistGradientBoostingRegressor" in refs["mcc_supervised"]["estimator"]


def test_proxy_oracle_is_near_chance_when_c_is_independent_of_w():
    rng = np.random.default_rng(1)
    n = 2000
    w = rng.integers(0, 4, n)
    c = rng.normal(size=(n, 2))
    refs = dataset_references(make_dataset(c, w))
    oracle, chance = refs["mcc_proxy_oracle"]["strong"], refs["mcc_chance"]
    # The in-sample oracle is of order sqrt((groups - 1) / n) = 0.039; chance mean ~0.024.
    assert oracle < 0.08
    assert abs(oracle - chance["mean"]) < 3 * chance["p95"]
    assert refs["r2_exposure"]["exposure"] < 0.05  # random exposures say nothing about C


def test_chance_matches_simulation_and_falls_with_n():
    rng = np.random.default_rng(2)
    means = []
    for n in (60, 600):
        w = rng.integers(0, 3, n)
        c = rng.normal(size=(n, 2))
        refs = dataset_references(make_dataset(c, w), n_draws=200)
        chance = refs["mcc_chance"]
        simulated = np.mean([mcc(c, rng.normal(size=(n, 2))) for _ in range(200)])
        assert simulated == pytest.approx(chance["mean"], rel=0.15)
        assert chance["mean"] < chance["p95"] and chance["n_draws"] == 200
        means.append(chance["mean"])
    assert means[1] < 0.5 * means[0]  # ~ 1/sqrt(n): a factor sqrt(10) from 60 to 600 users


def test_no_truth_raises_and_flat_references():
    data = make_dataset(np.zeros((10, 1)), np.zeros(10))
    data.truth = None
    with pytest.raises(DatasetError, match="no true confounder"):
        dataset_references(data)
    assert flat_references(None) == {}
    rng = np.random.default_rng(3)
    w = rng.integers(0, 3, 200)
    flat = flat_references(dataset_references(make_dataset(rng.normal(size=(200, 2)), w)))
    assert set(flat) == {
        "ref_oracle",
        "ref_oracle_weak",
        "ref_chance",
        "ref_chance_p95",
        "ref_proxy_chance",
        "ref_proxy_chance_p95",
        "ref_r2_exposure",
        "ref_r2_proxy",
        "ref_supervised_exposure_w",
        "ref_supervised_exposure",
    }


# -- caching ----------------------------------------------------------------------------------
def test_references_are_cached_beside_meta(tmp_path, monkeypatch):
    from simulator.config import SimConfig
    from simulator.generate import generate
    from simulator.writer import write_dataset

    path = tmp_path / "data"
    write_dataset(generate(SimConfig.from_preset("idcf", seed=1, **TINY_SIM)), path)
    assert not (path / REFERENCES_FILE).exists()  # simgen's own output is unchanged
    before = _digests(path)
    refs = references_for(path)
    assert (path / REFERENCES_FILE).is_file()
    assert _digests(path) == {**before, REFERENCES_FILE: _digests(path)[REFERENCES_FILE]}
    assert json.loads((path / REFERENCES_FILE).read_text()) == refs
    assert 0.8 < refs["mcc_proxy_oracle"]["strong"] <= 1  # the idcf process: W explains C
    assert not list(path.glob(".*tmp*"))  # written atomically, no temporary left

    import simulator.references as module

    def boom(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(module, "dataset_references", boom)
    assert references_for(path) == refs  # read from the cache
    # A different meta.json (another dataset in the same place) makes the cache stale.
    meta = json.loads((path / "meta.json").read_text())
    meta["note"] = "changed"
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(AssertionError, match="recomputed"):
        references_for(path, write=False)


@pytest.mark.slow
def test_an_old_cache_without_the_supervised_ceiling_is_recomputed(tmp_path):
    from simulator.config import SimConfig
    from simulator.generate import generate
    from simulator.references import REFERENCES_VERSION, read_references
    from simulator.writer import write_dataset

    path = tmp_path / "data"
    write_dataset(generate(SimConfig.from_preset("idcf", seed=1, **TINY_SIM)), path)
    refs = references_for(path)
    sup = refs["mcc_supervised"]
    assert 0 <= sup["exposure"] <= 1 and 0.8 < sup["exposure_w"] <= 1
    assert flat_references(refs)["ref_supervised_exposure_w"] == sup["exposure_w"]
    # A cache written before the ceiling existed: version 1, no "mcc_supervised" key.
    old = {k: v for k, v in refs.items() if k != "mcc_supervised"}
    for version in (1, REFERENCES_VERSION):  # also a current version stamp missing the key
        (path / REFERENCES_FILE).write_text(json.dumps({**old, "version": version}))
        assert read_references(path) is None
        assert references_for(path) == refs  # recomputed, not a KeyError
        assert json.loads((path / REFERENCES_FILE).read_text()) == refs  # and rewritten
    # An old figure set read through flat_references gives None for the ceiling.
    flat = flat_references(old)
    assert flat["ref_supervised_exposure_w"] is None and flat["ref_supervised_exposure"] is None


def test_other_layouts_are_never_written(tmp_path):
    from simulator.config import SimConfig
    from simulator.generate import generate
    from simulator.writer import write_dataset

    path = tmp_path / "data"
    write_dataset(
        generate(SimConfig.from_preset("idcf", seed=2, **TINY_SIM)), path, formats=("idcf",)
    )
    before = _digests(path / "idcf")
    refs = references_for(path / "idcf")
    assert refs is not None and refs["n_users"] == TINY_SIM["n_users"]
    assert _digests(path / "idcf") == before


def test_simgen_references_option(tmp_path):
    from simulator.cli import simgen

    out = tmp_path / "d"
    args = ["--preset", "idcf", "--users", "200", "--items", "40", "--out", str(out)]
    res = CliRunner().invoke(simgen, [*args, "--references"])
    assert res.exit_code == 0, res.output
    assert "proxy oracle MCC" in res.output
    refs = json.loads((out / REFERENCES_FILE).read_text())
    assert refs == references_for(out)  # fresh: the same figures, read back


# -- ividr fit: prior-only MCC, references, --shuffle-aux ---------------------------------------
def _fit(data: Path, out: Path, *extra: str):
    args = ["fit", "--data", str(data), "--model", "ivae", "--seed", "1", "--epochs", "3"]
    res = CliRunner().invoke(main, [*args, "--out", str(out), "--quiet", "--threads", "1", *extra])
    assert res.exit_code == 0, res.output
    return json.loads((out / "metrics.json").read_text())


def test_fit_metrics_have_prior_only_and_references(simgen_dir, tmp_path):
    metrics = _fit(simgen_dir, tmp_path / "a")
    assert {"mcc", "mcc_weak", "mcc_prior_only", "references"} <= set(metrics)
    assert "shuffle_aux" not in metrics
    prior = np.load(tmp_path / "a" / "prior_mean.npy")
    truth = np.load(simgen_dir / "truth.npz")["C"]
    assert metrics["mcc_prior_only"] == pytest.approx(mcc(truth, prior))
    assert metrics["references"] == references_for(simgen_dir)
    assert metrics["references"]["mcc_proxy_oracle"]["strong"] > 0.8
    assert not (tmp_path / "a" / "aux_permutation.npy").exists()


def test_shuffle_aux_permutes_w_only_and_is_reproducible(simgen_dir, tmp_path):
    truth_before = _digests(simgen_dir)
    metrics = _fit(simgen_dir, tmp_path / "s1", "--shuffle-aux")
    assert metrics["shuffle_aux"] is True and "mcc_prior_only" in metrics
    perm = np.load(tmp_path / "s1" / "aux_permutation.npy")
    n = TINY_SIM["n_users"]
    assert sorted(perm) == list(range(n)) and (perm != np.arange(n)).mean() > 0.9
    # The prior mean mu_w(W) is a function of the W used in training: constant within the groups
    # of the permuted W, not within the groups of the stored W.
    w = np.loadtxt(simgen_dir / "user_features.csv", delimiter=",", skiprows=1, dtype=int)[:, 1]
    prior = np.load(tmp_path / "s1" / "prior_mean.npy")

    def spread_within(codes):
        return max(np.ptp(prior[codes == k], axis=0).max() for k in np.unique(codes))

    assert spread_within(w[perm]) < 1e-9
    assert spread_within(w) > 1e-3
    # The truth (and every file of the dataset) is untouched; MCC is scored against it.
    assert {k: v for k, v in _digests(simgen_dir).items() if k != REFERENCES_FILE} == {
        k: v for k, v in truth_before.items() if k != REFERENCES_FILE
    }
    truth = np.load(simgen_dir / "truth.npz")["C"]
    assert metrics["mcc"] == pytest.approx(mcc(truth, np.load(tmp_path / "s1" / "latents.npy")))
    # Reproducible for a seed.
    again = _fit(simgen_dir, tmp_path / "s2", "--shuffle-aux")
    assert np.array_equal(perm, np.load(tmp_path / "s2" / "aux_permutation.npy"))
    assert np.array_equal(
        np.load(tmp_path / "s1" / "latents.npy"), np.load(tmp_path / "s2" / "latents.npy")
    )
    assert again["mcc"] == metrics["mcc"]


def test_shuffle_aux_api_keeps_truth_and_permutes_instrument_equal_to_w():
    from ividr.api import FitConfig, aux_permutation, with_shuffled_aux

    rng = np.random.default_rng(4)
    w = rng.integers(0, 5, 100)
    data = make_dataset(rng.normal(size=(100, 2)), w)
    shuffled, perm = with_shuffled_aux(data, 7)
    assert np.array_equal(perm, aux_permutation(100, 7))
    assert np.array_equal(shuffled.proxy, data.proxy[perm])
    assert np.array_equal(shuffled.instrument, shuffled.proxy)  # Z was W: permuted with it
    assert shuffled.truth["C"] is data.truth["C"]
    assert not np.array_equal(aux_permutation(100, 7), aux_permutation(100, 8))
    with pytest.raises(ValueError, match="'shuffle_aux'"):
        FitConfig(model="idcf", shuffle_aux=1).validate()


# -- sweep summary and plot -------------------------------------------------------------------
@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    from ividr.experiments.grid import SweepConfig
    from ividr.experiments.runner import run_sweep

    out = tmp_path_factory.mktemp("sweep") / "s"
    config = SweepConfig(
        preset="idcf",
        values=(0.0, 20.0),
        models=("ivae",),
        variants={"shuffle": {"shuffle_aux": True}},
        seeds=1,
        n_users=150,
        n_items=40,
        epochs=2,
    )
    outcome = run_sweep(config, out)
    assert outcome.failures == {}
    return out


def test_sweep_rows_and_summary_carry_references(sweep_dir):
    from ividr.experiments.grid import SweepConfig

    config = SweepConfig(models=("idcf",), variants={"shuffle": {"shuffle_aux": True}})
    assert config.fit_config("idcf", 2, "shuffle").shuffle_aux
    with open(sweep_dir / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    for row in rows:
        assert float(row["ref_oracle"]) > 0.8 and 0 < float(row["ref_chance"]) < 0.3
        assert row["mcc_prior_only"] != ""
    shuffled = [r for r in rows if (r["model"], r["variant"]) == ("ivae", "shuffle")]
    assert all(r["shuffle_aux"] == "True" for r in shuffled)
    run = sweep_dir / "runs" / "gamma=0__ivae__variant=shuffle__seed=0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["references"]["mcc_proxy_oracle"]["strong"] == pytest.approx(
        float(shuffled[0]["ref_oracle"])
    )
    assert (sweep_dir / "data" / "gamma=0_seed=0" / REFERENCES_FILE).is_file()

    with open(sweep_dir / "summary.csv", newline="") as fh:
        summary = list(csv.DictReader(fh))
    mcc_row = next(s for s in summary if s["metric"] == "mcc" and s["gamma"] == "20")
    assert float(mcc_row["proxy_oracle"]) == pytest.approx(
        float(next(r["ref_oracle"] for r in rows if r["value"] == "20"))
    )
    assert float(mcc_row["chance_mean"]) < float(mcc_row["chance_p95"])
    prior_rows = [s for s in summary if s["metric"] == "mcc_prior_only"]
    assert {s["model"] for s in prior_rows} == {"ivae", "ivae[shuffle]"}
    ndcg_row = next(s for s in summary if s["metric"] == "ndcg@5")
    assert ndcg_row["proxy_oracle"] == ""
    md = (sweep_dir / "summary.md").read_text()
    assert "_reference: proxy oracle E[C|W]_" in md
    assert "_reference: chance, mean / p95_" in md
    assert "## MCC of the learned prior mean mu_w(W) alone" in md
    assert "| ridge R^2 of C on the exposures |" in md


def test_plot_sweep_draws_reference_lines(sweep_dir):
    from ividr.experiments.store import load_results
    from ividr.reporting.plots import (
        CHANCE_LABEL,
        ORACLE_BAND_LABEL,
        ORACLE_LABEL,
        PRIOR_ONLY_SUFFIX,
        plot_sweep,
        reference_legend,
    )

    _, rows = load_results(sweep_dir)
    fig = plot_sweep(sweep_dir)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    bands = {c.get_label(): c for c in ax.collections}
    oracle = lines[ORACLE_LABEL]
    want = [next(r["ref_oracle"] for r in rows if r["value"] == v) for v in (0.0, 20.0)]
    assert np.allclose(oracle.get_ydata(), want)
    assert ORACLE_BAND_LABEL in bands and CHANCE_LABEL in bands
    # The chance band spans chance mean .. p95.
    verts = bands[CHANCE_LABEL].get_paths()[0].vertices
    chance = [next(r["ref_chance"] for r in rows if r["value"] == v) for v in (0.0, 20.0)]
    p95 = [next(r["ref_chance_p95"] for r in rows if r["value"] == v) for v in (0.0, 20.0)]
    assert verts[:, 1].min() == pytest.approx(min(chance))
    assert verts[:, 1].max() == pytest.approx(max(p95))
    assert "iVAE" + PRIOR_ONLY_SUFFIX in lines
    assert "iVAE (W shuffled)" + PRIOR_ONLY_SUFFIX in lines
    legend = reference_legend(fig)
    assert ORACLE_LABEL in [t.get_text() for t in legend.get_texts()]
    assert CHANCE_LABEL in [t.get_text() for t in legend.get_texts()]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "iVAE (n=1)",
        "iVAE (W shuffled) (n=1)",
    ]

    weak = plot_sweep(sweep_dir, metric="mcc_weak").axes[0]
    assert ORACLE_LABEL in {line.get_label() for line in weak.get_lines()}
    assert CHANCE_LABEL not in {c.get_label() for c in weak.collections}
    bare = plot_sweep(sweep_dir, show_references=False).axes[0]
    assert ORACLE_LABEL not in {line.get_label() for line in bare.get_lines()}
    assert not any(line.get_label().endswith(PRIOR_ONLY_SUFFIX) for line in bare.get_lines())
    assert reference_legend(bare.figure) is None


def test_plot_sweep_cli_no_references(sweep_dir, tmp_path, monkeypatch):
    import ividr.reporting.plots as plots

    drawn = {}  # --out name -> the labels of the saved figure's lines and bands
    save = plots.save_figure

    def keep_labels(fig, out):
        ax = fig.axes[0]
        labels = {line.get_label() for line in ax.get_lines()}
        labels |= {c.get_label() for c in ax.collections}
        drawn[Path(out).name] = labels | {t.get_text() for t in ax.get_legend().get_texts()}
        return save(fig, out)

    monkeypatch.setattr(plots, "save_figure", keep_labels)
    for name, extra in (("with", []), ("without", ["--no-references"])):
        args = ["plot", "sweep", str(sweep_dir), "--out", str(tmp_path / name), "--quiet"]
        res = CliRunner().invoke(main, [*args, *extra])
        assert res.exit_code == 0, res.output
        assert (tmp_path / f"{name}.png").is_file()
    refs = {plots.ORACLE_LABEL, plots.CHANCE_LABEL}
    assert refs <= drawn["with"]
    assert any(label.endswith(plots.PRIOR_ONLY_SUFFIX) for label in drawn["with"])
    assert not refs & drawn["without"]
    assert not any(label.endswith(plots.PRIOR_ONLY_SUFFIX) for label in drawn["without"])
    # The models' own curves are drawn either way.
    assert {"iVAE (n=1)", "iVAE (W shuffled) (n=1)"} <= drawn["without"]
