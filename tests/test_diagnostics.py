"""Issue 5: MCC over training, stopping rules, preconditions, instrument strength, bootstrap,
paired tests in sweeps, and the CLI options that expose them (small sizes)."""

from __future__ import annotations

import csv
import dataclasses
import json
import zlib

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from matplotlib.figure import Figure

from ividr.api import FitConfig, fit_model
from ividr.cli import main
from ividr.experiments.grid import SweepConfig
from ividr.experiments.reports import paired_tests_table
from ividr.experiments.run import flat_diagnostics
from ividr.experiments.runner import run_sweep
from ividr.experiments.summaries import paired_comparison, paired_tests, summarize
from ividr.reporting import diagnostics
from ividr.reporting import trace as mcc_trace
from ividr.reporting.plot_history import plot_history
from metrics.identifiability import aux_preconditions
from metrics.iv import first_stage_strength
from metrics.mcc import mcc
from simulator import PRESETS, SimConfig, generate

FAST = dict(epochs=3, latent_epochs=30, kl_anneal_epochs=5, latent_patience=5, lr=5e-3, restarts=1)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small():
    cfg = SimConfig.from_preset("dual", n_users=300, n_items=60, rating_noise=2.0, seed=1)
    return generate(cfg).to_dataset()


def test_mcc_trace_equals_mcc_of_saved_latents(small):
    saved: dict[int, np.ndarray] = {}

    def keep(epoch, est):
        saved[epoch] = est.user_latents_.copy()

    cfg = FitConfig(model="idcf", trace_every=3, n_boot=0, **FAST)
    res = fit_model(small, cfg, callback=keep)
    trace = mcc_trace.latent_trace(res.history)
    assert [r["epoch"] for r in trace] == list(range(0, len(saved), 3))
    truth = small.confounder
    for r in trace:
        assert r["mcc"] == pytest.approx(mcc(truth, saved[r["epoch"]]), abs=1e-12)
        weak = mcc(truth, saved[r["epoch"]], weak=True, random_state=cfg.seed)
        assert r["mcc_weak"] == pytest.approx(weak, abs=1e-12)
    m = res.metrics
    assert m["mcc_at_checkpoint"] == m["mcc"]
    assert m["mcc_best"] >= max(r["mcc"] for r in trace) - 1e-12
    assert m["stopping_regret"] == pytest.approx(m["mcc_best"] - m["mcc_at_checkpoint"])
    # The kept checkpoint's latents are the final ones.
    ckpt = m["checkpoint_epoch"]
    assert np.allclose(saved[ckpt], res.latents, atol=1e-6)


def test_stopping_regret_zero_at_best_epoch_and_positive_otherwise():
    hist = [
        {"stage": "latent", "epoch": 0, "mcc": 0.3},
        {"stage": "latent", "epoch": 1, "mcc": 0.8, "checkpoint": True},
        {"stage": "latent", "epoch": 2, "mcc": 0.5},
        {"stage": "recommender", "epoch": 0},
    ]
    s = mcc_trace.stopping_summary(hist, 0.8)
    assert s["stopping_regret"] == 0.0 and s["mcc_best_epoch"] == 1
    assert s["checkpoint_epoch"] == 1 and s["n_traced"] == 3
    hist[1]["checkpoint"], hist[2]["checkpoint"] = False, True
    s = mcc_trace.stopping_summary(hist, 0.5)
    assert s["stopping_regret"] == pytest.approx(0.3) and s["mcc_best_epoch"] == 1


def test_stop_rules_pick_their_checkpoint(small):
    base = dict(FAST, kl_anneal_epochs=2, latent_patience=3, n_boot=0, trace_every=1)
    last = fit_model(small, FitConfig(model="ivae", stop_on="epochs", **{**base, "epochs": 12}))
    assert last.metrics["checkpoint_epoch"] == 11 and last.metrics["epochs_run"] == 12
    assert last.metrics["stop_on"] == "epochs"
    res = fit_model(small, FitConfig(model="ivae", stop_on="ndcg", **{**base, "epochs": 40}))
    rows = [r for r in res.history if r["stage"] == "latent" and r["epoch"] >= 1]
    best = max(r["val_recon_ndcg@5"] for r in rows)
    ckpt = [r for r in rows if r.get("checkpoint")]
    assert len(ckpt) == 1 and ckpt[0]["val_recon_ndcg@5"] == best
    assert 0.0 <= best <= 1.0
    # The kept latents are the checkpoint's (its traced MCC is the final MCC).
    assert ckpt[0]["mcc"] == pytest.approx(res.metrics["mcc"], abs=1e-9)
    with pytest.raises(ValueError, match="stop_on"):
        FitConfig(model="idcf", stop_on="mcc").validate()


def test_replayed_rules_pick_what_real_runs_keep(small):
    # One run over the whole budget answers for every rule: each replayed checkpoint is the one
    # a real run with that rule keeps (same seed, same trajectory), with the same MCC.
    base = dict(FAST, kl_anneal_epochs=3, latent_patience=4, n_boot=0, trace_every=1)
    full = fit_model(small, FitConfig(model="idcf", stop_on="epochs", **{**base, "epochs": 2}))
    replay = full.metrics["stop_rules"]
    assert set(replay) == {"elbo", "ndcg", "epochs"}
    assert replay["epochs"]["checkpoint_epoch"] == FAST["latent_epochs"] - 1
    assert any(replay[r]["stop_epoch"] < FAST["latent_epochs"] - 1 for r in ("elbo", "ndcg"))
    for rule in ("elbo", "ndcg"):
        real = fit_model(small, FitConfig(model="idcf", stop_on=rule, **{**base, "epochs": 2}))
        latent = [r for r in real.history if r["stage"] == "latent"]
        assert replay[rule]["stop_epoch"] == latent[-1]["epoch"]
        assert replay[rule]["checkpoint_epoch"] == real.metrics["checkpoint_epoch"]
        assert replay[rule]["mcc_at_checkpoint"] == pytest.approx(real.metrics["mcc"], abs=1e-6)
        assert replay[rule]["stopping_regret"] == pytest.approx(
            real.metrics["stopping_regret"], abs=1e-6
        )
        assert replay[rule]["regret_full"] >= replay[rule]["stopping_regret"] - 1e-12


def test_replay_on_a_constructed_trace():
    val = [9.0, 8.0, 5.0, 6.0, 4.0, 4.5, 4.6, 4.7, 3.0]  # elbo: best 4.0 at 4, stop at 7
    ndcg = [0.1, 0.2, 0.3, 0.9, 0.5, 0.4, 0.3, 0.2, 0.1]  # ndcg: best 0.9 at 3, stop at 6
    mcc_ = [0.1, 0.2, 0.3, 0.4, 0.5, 0.9, 0.2, 0.3, 0.6]
    hist = [{"stage": "mf", "epoch": 0}] + [
        {"stage": "latent", "epoch": e, "val_loss": v, "val_recon_ndcg@5": n, "mcc": m}
        for e, (v, n, m) in enumerate(zip(val, ndcg, mcc_, strict=True))
    ]
    out = mcc_trace.replay_stop_rules(hist, patience=3, kl_anneal_epochs=2)
    assert (out["elbo"]["checkpoint_epoch"], out["elbo"]["stop_epoch"]) == (4, 7)
    assert (out["ndcg"]["checkpoint_epoch"], out["ndcg"]["stop_epoch"]) == (3, 6)
    assert (out["epochs"]["checkpoint_epoch"], out["epochs"]["stop_epoch"]) == (8, 8)
    assert out["elbo"]["stopping_regret"] == pytest.approx(0.9 - 0.5)
    assert out["ndcg"]["mcc_best_epoch"] == 5 and out["ndcg"]["regret_full"] == pytest.approx(0.5)
    assert out["epochs"]["stopping_regret"] == pytest.approx(0.9 - 0.6)
    # Annealing longer than the trace: no rule ever starts counting, every one keeps the last.
    late = mcc_trace.replay_stop_rules(hist, patience=3, kl_anneal_epochs=50)
    assert {r["checkpoint_epoch"] for r in late.values()} == {8}
    del hist[4]["mcc"]
    with pytest.raises(ValueError, match="trace_every=1"):
        mcc_trace.replay_stop_rules(hist, patience=3, kl_anneal_epochs=2)
    # The sweep's results rows carry every rule's figures as flat columns.
    flat = flat_diagnostics({"stop_rules": out})
    assert flat["stop_elbo_checkpoint_epoch"] == 4 and flat["stop_ndcg_checkpoint_epoch"] == 3
    assert flat["stop_epochs_stopping_regret"] == pytest.approx(0.3)


def test_preconditions_flag_too_few_w_levels_and_pass_presets(small):
    two = dataclasses.replace(
        small, proxy=(small.proxy[:, :1] % 2).astype(small.proxy.dtype), proxy_levels=(2,)
    )
    res = fit_model(two, FitConfig(model="ivae", latent_dim=2, n_boot=0, trace_every=0, **FAST))
    aux = res.metrics["identifiability"]["aux"]
    assert aux["n_distinct"] == 2 and aux["n_required"] == 5 and not aux["ok"]
    # Two W levels give L of shape (4, 1): rank 1 < 4.
    pm = res.metrics["identifiability"]["prior_matrix"]
    assert pm["rank"] <= 1 and not pm["ok"]
    warnings = diagnostics.diagnostic_warnings(res.metrics)
    assert any("distinct values" in w for w in warnings) and len(warnings) >= 2
    for preset in PRESETS:
        data = generate(SimConfig.from_preset(preset, n_users=400, n_items=40)).to_dataset()
        check = aux_preconditions(data.proxy, data.confounder.shape[1])
        assert check["ok"], preset


def _sim_treatment(zeta: float):
    """The simulator's own treatment: mean over the user's exposed items of e_Zi (the item side
    of the instrument's term zeta * g_Z(Z_u) . e_Zi in the exposure logit)."""
    cfg = SimConfig.from_preset("dual", n_users=600, n_items=80, iv_strength=zeta, seed=1)
    data = generate(cfg).to_dataset()
    a = data.exposure()
    t = (a @ data.truth["e_Zi"]) / np.maximum(a.sum(1, keepdims=True), 1)
    return t, data.instrument_onehot()


def test_first_stage_f_low_without_instrument_high_with_a_strong_one():
    weak = first_stage_strength(*_sim_treatment(0.0))
    strong = first_stage_strength(*_sim_treatment(3.0))
    assert weak["f_median"] < 3.0 and weak["weak_instrument"]
    assert strong["f_median"] > 10.0
    assert strong["partial_r2"] > weak["partial_r2"]


def test_instrument_and_bootstrap_entries_of_a_fit(small):
    res = fit_model(small, FitConfig(model="ividr", n_boot=20, **FAST))
    iv = res.metrics["instrument"]
    assert set(iv) >= {"f_stat", "f_median", "partial_r2", "weak_instrument"}
    assert iv["weak_instrument"] == (iv["f_stat"] < 10)
    lo, hi = res.metrics["mcc_ci"]
    assert lo <= hi and -1e-9 <= lo and hi <= 1.0
    lo, hi = res.metrics["ndcg@5_ci"]
    assert lo <= res.metrics["ndcg@5"] + 1e-9 and hi >= res.metrics["ndcg@5"] - 1e-9
    mf = fit_model(small, FitConfig(model="mf", epochs=2, n_boot=0))
    assert "instrument" not in mf.metrics and "identifiability" not in mf.metrics


def run_fit(*args: str):
    return CliRunner().invoke(main, ["fit", *args])


def test_cli_stop_on_trace_every_and_plot(tmp_path, external_dataset):
    out = tmp_path / "run"
    gamma_0 = str(external_dataset("idcf-sim") / "gamma_0")
    common = ["--data", gamma_0, "--model", "ivae", "--epochs", "5", "--no-references"]
    common += ["--threads", "1", "--quiet"]
    res = run_fit(*common, "--out", str(out), "--stop-on", "epochs", "--trace-every", "2")
    assert res.exit_code == 0, res.output
    with open(out / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    traced = [int(r["epoch"]) for r in rows if r["stage"] == "latent" and r["mcc"] != ""]
    assert traced == [0, 2, 4]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stop_on"] == "epochs" and metrics["checkpoint_epoch"] == 4
    assert {"mcc_best", "mcc_best_epoch", "stopping_regret", "mcc_ci", "ndcg@5_ci"} <= set(metrics)
    assert metrics["identifiability"]["aux"]["ok"]
    for bad, needle in (
        (["--stop-on", "mcc"], "'--stop-on'"),
        (["--trace-every", "-1"], "'--trace-every'"),
        (["--n-boot", "1"], "'--n-boot'"),
    ):
        bad_out = tmp_path / "bad"
        res = run_fit(*common, "--out", str(bad_out), *bad)
        assert res.exit_code == 2 and res.stderr.count("\n") == 1 and needle in res.stderr
        assert not bad_out.exists()
    fig = plot_history([out])
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    res = CliRunner().invoke(main, ["plot", "history", str(out), "--out", str(tmp_path / "h")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "h.png").stat().st_size > 0 and (tmp_path / "h.pdf").exists()
    res = CliRunner().invoke(main, ["plot", "history", str(tmp_path), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "history.json" in res.stderr


def fake_fit(dataset, config, spec):
    rng = np.random.default_rng(zlib.crc32(spec.run_id.encode()))
    stop_on = config.fit_config(spec.model, spec.seed, spec.variant).stop_on
    shift = 0.2 if stop_on == "epochs" else 0.0
    metrics = {
        "mcc": float(rng.uniform(0.4, 0.5)) + shift,
        "mcc_weak": 0.5,
        "ndcg@5": float(rng.uniform()),
        "recall@5": 0.5,
        "stopping_regret": float(rng.uniform(0, 0.1)),
        "seconds": 0.0,
    }
    return {"metrics": metrics, "latents": None, "config": {"model": spec.model}}


def test_sweep_stop_rules_regret_rows_and_paired_tests(tmp_path):
    # an old stored sweep.json's suffixed names still read (legacy), new sweeps use variants
    fc = SweepConfig(models=("idcf+shuffle@ndcg",)).fit_config("idcf+shuffle@ndcg", 0)
    assert (fc.model, fc.stop_on, fc.shuffle_aux) == ("idcf", "ndcg", True)
    config = SweepConfig(
        preset="idcf",
        values=(0.0,),
        models=("idcf",),
        seeds=3,
        n_users=200,
        n_items=40,
        variants={"epochs": {"stop_on": "epochs"}},
    )
    run_sweep(config, tmp_path / "s", fit_fn=fake_fit)
    with open(tmp_path / "s" / "summary.csv", newline="") as fh:
        summary = list(csv.DictReader(fh))
    regret = [r for r in summary if r["metric"] == "stopping_regret"]
    assert {r["model"] for r in regret} == {"idcf", "idcf[epochs]"}
    with open(tmp_path / "s" / "summary_tests.csv", newline="") as fh:
        tests = list(csv.DictReader(fh))
    row = next(t for t in tests if t["metric"] == "mcc")
    assert (row["model_a"], row["model_b"], int(row["n"])) == ("idcf", "idcf[epochs]", 3)
    assert float(row["mean_diff"]) < -0.1 and float(row["p"]) < 0.05
    assert "p = " in (tmp_path / "s" / "summary_tests.md").read_text()
    rows = [
        {"model": "a", "value": 0.0, "seed": s, "mcc": 0.5 + 0.1 * s, "ndcg@5": 0.1}
        for s in range(3)
    ] + [{"model": "b", "value": 0.0, "seed": s, "mcc": 0.4 + 0.09 * s} for s in range(3)]
    cfg = SweepConfig(values=(0.0,), models=("a", "b"), seeds=3)
    t = next(e for e in paired_tests(rows, cfg) if e["metric"] == "mcc")
    assert t["mean_diff"] == pytest.approx(0.11) and t["p"] < 0.05 and t["n"] == 3
    nd = next(e for e in paired_tests(rows, cfg) if e["metric"] == "ndcg@5")
    assert nd["n"] == 0 and nd["p"] is None
    assert not any(e["metric"] == "stopping_regret" for e in summarize(rows, cfg))
    res = CliRunner().invoke(
        main, ["sweep", "--out", str(tmp_path / "bad"), "--stop-on", "elbo,mcc", "--quiet"]
    )
    assert res.exit_code == 2 and "'--stop-on'" in res.stderr and res.stderr.count("\n") == 1


def test_one_paired_comparison_and_one_table_in_both_shapes():
    """Runs are paired by seed once (summaries.paired_comparison); the one renderer draws the
    sweep's wide table (a column per knob value) and Coat's long one (a row per comparison)."""
    c = paired_comparison({0: 0.5, 1: 0.6, 2: 0.9}, {1: 0.4, 2: 0.5, 3: 0.1})
    assert c["n"] == 2 and c["wins"] == 2 and c["mean_diff"] == pytest.approx(0.3)
    assert c["mean_a"] == pytest.approx(0.75) and c["std_diff"] == pytest.approx(2**0.5 / 10)
    lone = paired_comparison({0: 0.5}, {0: 0.25})
    assert lone["mean_diff"] == 0.25 and lone["t"] is None and paired_comparison({}, {})["n"] == 0
    tests = [{"pair": "a vs b", "value": v} | c for v in (0, 5)]
    tests[1] |= lone
    wide = paired_tests_table(
        tests,
        {"A vs B": lambda t: t["pair"]},
        {f"v={v}": (lambda t, v=v: t["value"] == v) for v in (0, 5, 9)},
    )
    assert wide[:2] == ["| A vs B | v=0 | v=5 | v=9 |", "|---|---|---|---|"]
    assert wide[2].startswith("| a vs b | +0.3000 (p = 0.") and wide[2].endswith(
        " | +0.2500 (p = –, n=1) | – |"
    )
    long = paired_tests_table(tests, {"pair": lambda t: t["pair"]})
    assert long[0] == "| pair | n | mean a | mean b | mean diff | std diff | t | p | a wins |"
    assert long[3] == "| a vs b | 1 | 0.5000 | 0.2500 | +0.2500 | – | – | – | 1/1 |"
