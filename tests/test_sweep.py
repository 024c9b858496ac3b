"""`ividr sweep`: rows and summary, atomic resume after SIGKILL, Ray == local, bad input."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ividr.cli import main
from ividr.experiments.errors import SweepError
from ividr.experiments.grid import SweepConfig
from ividr.experiments.runner import run_sweep
from ividr.experiments.store import finished_runs, load_results
from ividr.experiments.summaries import summarize

ROOT = Path(__file__).resolve().parents[1]
IVIDR = Path(sys.executable).with_name("ividr")
TINY = ["--preset", "idcf", "--users", "300", "--items", "60", "--epochs", "2"]
TINY += ["--latent-epochs", "20", "--restarts", "1"]


def fake_fit(dataset, config, spec):
    """A deterministic stand-in for fit_model: scores depend on the data and the run only."""
    key = f"{spec.run_id}|{len(dataset.train)}|{int(dataset.train.rating.sum())}"
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    latents = rng.normal(size=(dataset.n_users, 2))
    metrics = {
        "mcc": float(rng.uniform()),
        "mcc_weak": float(rng.uniform()),
        "ndcg@5": float(rng.uniform()),
        "recall@5": float(rng.uniform()),
        "seconds": 0.0,
    }
    return {"metrics": metrics, "latents": latents, "config": {"model": spec.model}}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def tiny_config(**changes) -> SweepConfig:
    base = dict(
        preset="idcf", values=(0.0, 5.0), models=("idcf", "ividr"), seeds=2, n_users=300, n_items=60
    )
    base.update(changes)
    return SweepConfig(**base)


def test_small_sweep_rows_summary_and_resume(tmp_path):
    config = tiny_config()
    out = tmp_path / "sweep"
    outcome = run_sweep(config, out, fit_fn=fake_fit)
    assert outcome.failures == {}
    assert len(outcome.ran) == 8 and outcome.skipped == []

    rows = read_csv(out / "results.csv")
    assert len(rows) == 8
    assert sorted(r["run_id"] for r in rows) == sorted(s.run_id for s in config.runs())
    assert {(r["value"], r["model"], r["seed"]) for r in rows} == {
        (v, m, s) for v in ("0", "5") for m in ("idcf", "ividr") for s in ("0", "1")
    }
    assert json.loads((out / "sweep.json").read_text()) == config.to_dict()
    assert len(json.loads((out / "results.json").read_text())["runs"]) == 8
    # Each run is a plottable run directory; datasets are cached once per (value, seed).
    run_dir = out / "runs" / "gamma=0__idcf__seed=0"
    assert np.load(run_dir / "latents.npy").shape == (300, 2)
    assert sorted(p.name for p in (out / "data").iterdir() if not p.name.startswith(".")) == [
        "gamma=0_seed=0",
        "gamma=0_seed=1",
        "gamma=5_seed=0",
        "gamma=5_seed=1",
    ]

    # summary.csv: mean and sample std over the two seeds of each (model, value).
    summary = read_csv(out / "summary.csv")
    assert len(summary) == 4 * 2 * 2  # metrics x models x values
    cell = next(
        s for s in summary if s["metric"] == "mcc" and s["model"] == "ividr" and s["gamma"] == "5"
    )
    mine = [float(r["mcc"]) for r in rows if r["model"] == "ividr" and r["value"] == "5"]
    assert float(cell["mean"]) == pytest.approx(np.mean(mine))
    assert float(cell["std"]) == pytest.approx(np.std(mine, ddof=1))
    assert cell["n"] == "2"
    md = (out / "summary.md").read_text()
    assert "| model | gamma=0 | gamma=5 |" in md
    assert md.count("| idcf |") == 4 and md.count("| ividr |") == 4  # one table per metric
    assert f"{np.mean(mine):.4f} ± {np.std(mine, ddof=1):.4f}" in md

    # Running again does nothing and changes nothing.
    before = (out / "results.csv").read_text()
    again = run_sweep(config, out, fit_fn=fake_fit)
    assert again.ran == [] and len(again.skipped) == 8
    assert (out / "results.csv").read_text() == before


@pytest.mark.slow
def test_parallel_local_equals_serial(tmp_path):
    config = tiny_config(seeds=1)
    serial = run_sweep(config, tmp_path / "a", fit_fn=fake_fit)
    parallel = run_sweep(config, tmp_path / "b", jobs=2, fit_fn=fake_fit)
    assert not parallel.failures
    key = ("run_id", "mcc", "mcc_weak", "ndcg@5", "recall@5", "n_train")
    assert [tuple(r[k] for k in key) for r in parallel.rows] == [
        tuple(r[k] for k in key) for r in serial.rows
    ]
    # The two runs of each dataset shared one generation, byte-identical to the serial one.
    for name in ("gamma=0_seed=0", "gamma=5_seed=0"):
        a = (tmp_path / "a" / "data" / name / "train.csv").read_bytes()
        assert a == (tmp_path / "b" / "data" / name / "train.csv").read_bytes()


def test_crossed_data_and_model_seeds(tmp_path):
    """--data-seeds 2 --model-seeds 3: 2 x 3 fits per value and model, on 2 datasets."""
    config = tiny_config(data_seeds=2, model_seeds=3)
    out = tmp_path / "sweep"
    outcome = run_sweep(config, out, fit_fn=fake_fit)
    assert not outcome.failures and len(outcome.ran) == 2 * 2 * 2 * 3
    rows = read_csv(out / "results.csv")
    for value in ("0", "5"):
        for model in ("idcf", "ividr"):
            cell = [r for r in rows if r["value"] == value and r["model"] == model]
            assert sorted((r["data_seed"], r["model_seed"]) for r in cell) == [
                (str(d), str(t)) for d in range(2) for t in range(3)
            ]
            # Model seed t seeds the fit; data seed d the draw: one dataset per (value, d).
            assert all(r["seed"] == r["model_seed"] for r in cell)
            by_draw = {r["data_seed"]: r["n_train"] for r in cell}
            assert all(r["n_train"] == by_draw[r["data_seed"]] for r in cell)
            assert by_draw["0"] != by_draw["1"]
    assert sorted(p.name for p in (out / "data").iterdir() if not p.name.startswith(".")) == [
        f"gamma={v}_seed={d}" for v in (0, 5) for d in (0, 1)
    ]
    summary = read_csv(out / "summary.csv")
    cell = next(
        x for x in summary if x["metric"] == "mcc" and x["model"] == "idcf" and x["gamma"] == "5"
    )
    groups = {
        d: [
            float(r["mcc"])
            for r in rows
            if r["model"] == "idcf" and r["value"] == "5" and r["data_seed"] == d
        ]
        for d in ("0", "1")
    }
    means = [np.mean(g) for g in groups.values()]
    assert cell["n"] == "6"
    assert float(cell["sd_between"]) == pytest.approx(np.std(means, ddof=1))
    pooled = np.sqrt(np.mean([np.var(g, ddof=1) for g in groups.values()]))
    assert float(cell["sd_within"]) == pytest.approx(pooled)
    md = (out / "summary.md").read_text()
    assert "2 data seed(s) x 3 model seed(s)" in md and "between draws / within a draw" in md
    # Paired tests pair runs by (data seed, model seed): 6 pairs a cell.
    tests = read_csv(out / "summary_tests.csv")
    assert {t["n"] for t in tests} == {"6"}
    # Resumed: nothing redone, one row per run.
    shutil.rmtree(out / "runs" / "gamma=5__ividr__data=1__seed=2")
    again = run_sweep(config, out, fit_fn=fake_fit)
    assert again.ran == ["gamma=5__ividr__data=1__seed=2"]
    rows = read_csv(out / "results.csv")
    assert len(rows) == len({r["run_id"] for r in rows}) == 24


def test_variance_split_of_a_constructed_results_table():
    """Rows x = a_d + b_t: the split finds the draw effect between and the seed effect within."""
    draw_effect, seed_effect = [0.2, 0.5, 0.9], [0.0, 0.1, -0.1, 0.3]
    rows = [
        {"value": 0.0, "model": "idcf", "seed": t, "data_seed": d, "mcc": a + b}
        for d, a in enumerate(draw_effect)
        for t, b in enumerate(seed_effect)
    ]
    config = tiny_config(values=(0.0,), models=("idcf",), data_seeds=3, model_seeds=4)
    entry = next(e for e in summarize(rows, config) if e["metric"] == "mcc")
    assert entry["n"] == 12
    means = np.array(draw_effect) + np.mean(seed_effect)
    assert entry["sd_between"] == pytest.approx(np.std(means, ddof=1))
    assert entry["sd_within"] == pytest.approx(np.std(seed_effect, ddof=1))
    v_w = np.var(seed_effect, ddof=1)
    v_b = np.var(means, ddof=1) - v_w / 4
    assert entry["share_between"] == pytest.approx(v_b / (v_b + v_w))
    # A paired sweep has one run per draw: no within-draw part.
    paired = [dict(r, data_seed=r["seed"]) for r in rows if r["data_seed"] == 0]
    entry = next(
        e
        for e in summarize(paired, tiny_config(values=(0.0,), models=("idcf",)))
        if e["metric"] == "mcc"
    )
    assert entry["sd_within"] is None and entry["share_between"] is None


@pytest.mark.slow
def test_existing_data_folder_of_gammas(tmp_path, external_dataset):
    idcf_sim = external_dataset("idcf-sim")
    config = SweepConfig(
        preset="data", knob="gamma", values=(0, 20), models=("idcf",), seeds=1, data=str(idcf_sim)
    )
    outcome = run_sweep(config, tmp_path / "s", fit_fn=fake_fit)
    assert [r["value"] for r in outcome.rows] == [0, 20]
    assert [r["n_train"] for r in outcome.rows] == [38728, 30746]  # the README's counts
    assert not (tmp_path / "s" / "data").exists()  # nothing generated


def test_failed_run_is_reported_not_recorded_then_retried(tmp_path):
    config = tiny_config(values=(0.0,), models=("idcf",), seeds=2)
    outcome = run_sweep(config, tmp_path / "s", fit_fn=_fail_on_seed_1)
    assert list(outcome.failures) == ["gamma=0__idcf__seed=1"]
    assert "boom" in outcome.failures["gamma=0__idcf__seed=1"]
    assert (tmp_path / "s" / "failures" / "gamma=0__idcf__seed=1.txt").is_file()
    assert len(read_csv(tmp_path / "s" / "results.csv")) == 1
    retry = run_sweep(config, tmp_path / "s", fit_fn=fake_fit)
    assert retry.ran == ["gamma=0__idcf__seed=1"] and not retry.failures
    assert len(read_csv(tmp_path / "s" / "results.csv")) == 2
    assert not (tmp_path / "s" / "failures" / "gamma=0__idcf__seed=1.txt").exists()


def _fail_on_seed_1(dataset, config, spec):
    if spec.seed == 1:
        raise RuntimeError("boom")
    return fake_fit(dataset, config, spec)


def test_refuses_a_different_sweep_in_the_same_dir(tmp_path):
    out = tmp_path / "s"
    run_sweep(tiny_config(values=(0.0,), models=("idcf",), seeds=1), out, fit_fn=fake_fit)
    with pytest.raises(SweepError, match="holds a different sweep"):
        run_sweep(tiny_config(values=(0.0,), models=("idcf",), seeds=2), out, fit_fn=fake_fit)
    before = sorted(p.name for p in out.rglob("*"))
    result = CliRunner().invoke(
        main,
        ["sweep", "--out", str(out), *TINY, "--values", "0", "--models", "idcf", "--seeds", "3"],
    )
    assert result.exit_code == 2
    assert "--out" in result.output and "seeds: 1 there vs 3 now" in result.output
    assert sorted(p.name for p in out.rglob("*")) == before


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--knob", "nope"], "--knob"),
        (["--knob", "seed"], "--knob"),
        (["--values", "0,x"], "--values"),
        (["--values", "0,-5"], "--values"),  # gamma must be >= 0
        (["--values", "0,0"], "--values"),
        (["--knob", "n_users", "--values", "10,2.5"], "--values"),
        (["--models", "idcf,nope"], "--models"),
        (["--seeds", "0"], "--seeds"),
        (["--seeds", "2", "--data-seeds", "2"], "--seeds"),
        (["--model-seeds", "0"], "--model-seeds"),
        (["--restarts", "0"], "--restarts"),
        (["--jobs", "0"], "--jobs"),
        (["--users", "0"], "--users"),
        (["--preset", "nope"], "--preset"),
        (["--address", "ray://x:1"], "--address"),
        (["--set", "alpha=2"], "--set"),  # alpha must be in (0, 1]
        (["--data", "{tmp}"], "--data"),  # not a dataset
    ],
)
def test_cli_bad_input_exit_2_nothing_written(tmp_path, args, option):
    out = tmp_path / "s"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(main, ["sweep", "--out", str(out), "--quiet", *args])
    assert result.exit_code == 2, result.output
    assert option in result.output.splitlines()[-1]
    assert "Traceback" not in result.output
    assert not out.exists()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_gives_one_row_per_run(tmp_path):
    """A real `ividr sweep` process (2 local workers) killed with SIGKILL, then run again."""
    out = tmp_path / "s"
    args = [str(IVIDR), "sweep", "--out", str(out), *TINY, "--values", "0,5", "--seeds", "1"]
    args += ["--jobs", "2", "--threads", "1", "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(args, env=env, start_new_session=True, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not finished_runs(out):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no run finished in 120 s"
            time.sleep(0.01)
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers must notice and exit
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    survived = finished_runs(out)
    assert 1 <= len(survived) < 4
    assert workers, "the sweep ran no worker processes"
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    orphans = [p for p in workers if _alive(p)]
    for pid in orphans:  # do not leave them running, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not orphans, "worker processes outlived the killed sweep"
    rows = read_csv(out / "results.csv")
    assert len({r["run_id"] for r in rows}) == len(rows) <= len(survived)

    stamps = {
        run_id: (out / "runs" / run_id / "result.json").stat().st_mtime_ns for run_id in survived
    }
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = read_csv(out / "results.csv")
    assert len(rows) == 4
    assert sorted(r["run_id"] for r in rows) == sorted(
        f"gamma={v}__{m}__seed=0" for v in (0, 5) for m in ("idcf", "ividr")
    )
    for run_id, stamp in stamps.items():  # finished runs were kept, not redone
        assert (out / "runs" / run_id / "result.json").stat().st_mtime_ns == stamp
    assert not [p for p in (out / "runs").iterdir() if p.name.startswith(".")]
    assert all(0.0 <= float(r["mcc"]) <= 1.0 for r in rows)


@pytest.mark.slow
def test_ray_backend_equals_local(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("RAY_worker_niceness", "0")  # Ray's default 15 starves them on busy CI
    config = tiny_config(
        values=(5.0,),
        models=("idcf", "ividr"),
        seeds=1,
        epochs=2,
        fit_overrides={"latent_epochs": 20},
    )
    local = run_sweep(config, tmp_path / "local", threads=1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run_sweep(config, tmp_path / "ray", backend="ray", threads=1)
    finally:
        ray.shutdown()
    assert not local.failures and not remote.failures
    assert len(remote.rows) == 2
    for a, b in zip(local.rows, remote.rows, strict=True):
        assert a["run_id"] == b["run_id"]
        for key in ("mcc", "mcc_weak", "ndcg@5", "recall@5", "n_train"):
            assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), (a["run_id"], key)
    _, rows = load_results(tmp_path / "ray")
    assert len(rows) == 2


# -- the CLI's options, run for real on tiny data ---------------------------------------------
SMALL = ["--preset", "idcf", "--users", "60", "--items", "30", "--epochs", "1", "--quiet"]
SMALL += ["--threads", "1"]


def sweep_cli(out: Path, *args: str) -> list[dict[str, str]]:
    """Run ``ividr sweep`` into ``out``; return its results.csv rows."""
    result = CliRunner().invoke(main, ["sweep", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return read_csv(out / "results.csv")


def meta_config(folder: Path) -> dict:
    return json.loads((folder / "meta.json").read_text())["config"]


def test_cli_data_seeds_set_and_protocol_on_the_local_backend(tmp_path):
    from simulator import SimConfig

    assert SimConfig.from_preset("idcf").alpha != 0.2  # --set changes something
    out = tmp_path / "s"
    args = [*SMALL, "--values", "0", "--models", "idcf", "--latent-epochs", "2"]
    args += ["--restarts", "1", "--trace-every", "0", "--backend", "local"]
    args += ["--data-seeds", "2", "--model-seeds", "1", "--set", "alpha=0.2"]
    rows = sweep_cli(out, *args, "--protocol", "released")
    # --data-seeds 2: two draws (simulator seeds 0 and 1), each fitted once.
    assert sorted((r["data_seed"], r["model_seed"]) for r in rows) == [("0", "0"), ("1", "0")]
    for seed in (0, 1):
        config = meta_config(out / "data" / f"gamma=0_seed={seed}")
        # --set alpha=0.2 in every dataset, drawn from its data seed.
        assert (config["seed"], config["alpha"], config["n_users"]) == (seed, 0.2, 60)
    assert rows[0]["n_train"] != rows[1]["n_train"]  # two different draws
    # --protocol released reached every fit (iDCF's released latent lr 5e-4, patience 100); the
    # explicit --latent-epochs is kept.
    assert {r["protocol"] for r in rows} == {"released"}
    for run_id in (r["run_id"] for r in rows):
        config = json.loads((out / "runs" / run_id / "config.json").read_text())
        assert config["protocol"] == "released"
        params = config["estimator_params"]
        assert (params["latent_lr"], params["latent_patience"], params["loss"]) == (
            5e-4,
            100,
            "mse",
        )
        assert params["latent_epochs"] == 2
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["sim_overrides"] == {"alpha": 0.2} and saved["data_seeds"] == 2


def test_cli_sweeps_another_knob(tmp_path):
    out = tmp_path / "s"
    args = ["--knob", "alpha", "--values", "0.05,0.3", "--models", "mf", "--seeds", "1"]
    rows = sweep_cli(out, *SMALL, *args)
    assert sorted((r["knob"], r["value"]) for r in rows) == [("alpha", "0.05"), ("alpha", "0.3")]
    for value in ("0.05", "0.3"):
        config = meta_config(out / "data" / f"alpha={value}_seed=0")
        assert config["alpha"] == float(value) and config["gamma"] == 0.0
    by_value = {r["value"]: int(r["n_train"]) for r in rows}
    assert by_value["0.05"] < by_value["0.3"]  # a sparser draw at the lower ratio
    assert "| model | alpha=0.05 | alpha=0.3 |" in (out / "summary.md").read_text()


def test_cli_fits_a_folder_of_datasets(tmp_path):
    from simulator import SimConfig, generate
    from simulator.loaders import load_dataset
    from simulator.writer import write_dataset

    data = tmp_path / "data"
    for gamma in (0, 5):
        config = SimConfig.from_preset("idcf", n_users=60, n_items=30, gamma=float(gamma))
        write_dataset(generate(config), data / f"gamma_{gamma}")
    out = tmp_path / "s"
    args = ["--data", str(data), "--models", "mf", "--seeds", "1", "--epochs", "1", "--quiet"]
    rows = sweep_cli(out, *args)
    assert [(r["knob"], r["value"], r["model"]) for r in rows] == [
        ("gamma", "0", "mf"),
        ("gamma", "5", "mf"),
    ]
    for row in rows:  # each run fitted the given folder's data
        assert int(row["n_train"]) == len(load_dataset(data / f"gamma_{row['value']}").train)
    assert not (out / "data").exists()  # nothing generated
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["preset"] == "data" and saved["data"] == str(data.resolve())


@pytest.mark.slow  # starts a local Ray (~10 s)
def test_cli_ray_backend_gives_the_local_rows(tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="--backend ray needs the ray extra (pip install .[ray])")
    monkeypatch.setenv("RAY_worker_niceness", "0")  # Ray's default 15 starves them on busy CI
    args = [*SMALL, "--values", "0", "--models", "mf", "--seeds", "1"]
    local = sweep_cli(tmp_path / "local", *args, "--backend", "local")
    remote = sweep_cli(tmp_path / "ray", *args, "--backend", "ray")
    assert [r["run_id"] for r in remote] == [r["run_id"] for r in local] == ["gamma=0__mf__seed=0"]
    for key in ("ndcg@5", "recall@5", "n_train"):
        assert float(remote[0][key]) == pytest.approx(float(local[0][key]), rel=1e-9), key
