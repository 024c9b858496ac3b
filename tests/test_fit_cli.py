"""``ividr fit``: files written, exit codes, one-line errors, nothing written on bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ividr.api import load_model
from ividr.cli import main


@pytest.fixture(scope="module")
def coat(external_dataset) -> Path:
    return external_dataset("coat")


def run(*args: str):
    return CliRunner().invoke(main, ["fit", *args])


@pytest.mark.slow
def test_fit_writes_every_file(tmp_path, coat):
    out = tmp_path / "run"
    res = run("--data", str(coat), "--model", "idcf", "--out", str(out), "--epochs", "3")
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert {"metrics.json", "latents.npy", "config.json", "model.pt", "scores.csv"} <= names
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("ndcg@5", "recall@5", "val_ndcg@5", "val_recall@5", "epochs_run", "seconds"):
        assert key in metrics
    assert metrics["model"] == "idcf" and metrics["seed"] == 0
    assert np.load(out / "latents.npy").shape == (290, 16)
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "idcf" and config["epochs"] == 3
    assert load_model(out / "model.pt").get_params()["epochs"] == 3
    # Progress went to stderr, one line per epoch.
    assert "[recommender]" in res.stderr and "[latent]" in res.stderr
    assert res.stdout == ""
    # No temporary folder is left beside the output.
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_quiet_and_overwrite(tmp_path, coat):
    out = tmp_path / "run"
    args = ["--data", str(coat), "--model", "mf", "--out", str(out), "--epochs", "2", "--quiet"]
    args += ["--threads", "1", "--loss", "mse"]
    first = run(*args)
    assert first.exit_code == 0 and first.stderr == ""
    before = (out / "metrics.json").read_text()
    again = run(*args)
    assert again.exit_code == 2
    assert again.stderr.count("\n") == 1 and "--overwrite" in again.stderr
    assert (out / "metrics.json").read_text() == before
    forced = run(*args, "--overwrite", "--seed", "1")
    assert forced.exit_code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 1 and config["loss"] == "mse"
    assert not (out / "latents.npy").exists()  # MF has no latents


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--model", "no-such-model"], "'--model'"),
        (["--model", "mf", "--epochs", "0"], "'--epochs'"),
        (["--model", "mf", "--lr", "-1"], "'--lr'"),
        (["--model", "mf", "--weight-decay", "-1"], "'--weight-decay'"),
        (["--model", "mf", "--latent-dim", "0"], "'--latent-dim'"),
        (["--model", "mf", "--seed", "-2"], "'--seed'"),
        (["--model", "mf", "--loss", "hinge"], "'--loss'"),
        (["--model", "mf", "--threads", "-1"], "'--threads'"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, coat, args, needle):
    out = tmp_path / "run"
    res = run("--data", str(coat), "--out", str(out), *args)
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and needle in res.stderr
    assert "Traceback" not in res.output
    assert not out.exists()


def test_missing_and_malformed_dataset_files(tmp_path, coat):
    out = tmp_path / "run"
    res = run("--data", str(tmp_path / "absent"), "--model", "mf", "--out", str(out))
    assert res.exit_code == 2 and "'--data'" in res.stderr and res.stderr.count("\n") == 1
    data = tmp_path / "coat"
    shutil.copytree(coat, data)
    (data / "user_features.ascii").unlink()
    res = run("--data", str(data), "--model", "mf", "--out", str(out))
    assert res.exit_code == 2 and "user_features.ascii" in res.stderr
    assert res.stderr.count("\n") == 1
    shutil.copy(coat / "user_features.ascii", data)
    (data / "train.ascii").write_text("1 2 x\n")
    res = run("--data", str(data), "--model", "mf", "--out", str(out))
    assert res.exit_code == 2 and "train.ascii" in res.stderr
    assert not out.exists()


def test_help_states_defaults():
    res = CliRunner().invoke(main, ["fit", "--help"])
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    for needle in ("--grid", "--overwrite", "default: 100", "default: fit-out"):
        assert needle in text


# -- options that change the fit, on a tiny simulated dataset ---------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from simulator import SimConfig, generate
    from simulator.writer import write_dataset

    path = tmp_path_factory.mktemp("tiny") / "data"
    write_dataset(generate(SimConfig.from_preset("idcf", n_users=60, n_items=30, seed=0)), path)
    return path


def fit_tiny(data: Path, out: Path, *args: str) -> tuple[dict, dict]:
    """Run ``ividr fit`` on ``data`` (short, quiet) and return its config.json and metrics.json."""
    common = ["--data", str(data), "--out", str(out), "--n-boot", "0", "--no-references"]
    res = run(*common, "--threads", "1", "--quiet", *args)
    assert res.exit_code == 0, res.output
    return (
        json.loads((out / "config.json").read_text()),
        json.loads((out / "metrics.json").read_text()),
    )


def history_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_lr_and_weight_decay_reach_the_recommender(tiny, tmp_path):
    args = ["--model", "mf", "--epochs", "2"]
    given = ["--lr", "0.02", "--weight-decay", "0.001"]
    config, metrics = fit_tiny(tiny, tmp_path / "set", *args, *given)
    assert (config["lr"], config["weight_decay"]) == (0.02, 0.001)
    assert (config["estimator_params"]["lr"], config["estimator_params"]["weight_decay"]) == (
        0.02,
        0.001,
    )
    chosen = metrics["chosen"]["recommender"]
    assert (chosen["lr"], chosen["weight_decay"]) == (0.02, 0.001)
    rows = history_rows(tmp_path / "set")
    assert rows and {(float(r["lr"]), float(r["weight_decay"])) for r in rows} == {(0.02, 0.001)}
    # The training used them: the same seed at the default lr and weight decay learns otherwise.
    fit_tiny(tiny, tmp_path / "default", *args)
    default = history_rows(tmp_path / "default")
    assert {(float(r["lr"]), float(r["weight_decay"])) for r in default} == {(1e-3, 1e-5)}
    assert [r["loss"] for r in rows] != [r["loss"] for r in default]


def test_grid_searches_lr_and_weight_decay_and_keeps_the_best_validation_point(tiny, tmp_path):
    out = tmp_path / "grid"
    config, metrics = fit_tiny(tiny, out, "--model", "mf", "--epochs", "2", "--grid")
    assert config["grid"] is True
    rows = history_rows(out)
    # The papers' grid (iDCF's and IViDR's tuning mode): lr x weight decay, 10 points.
    grid = {(lr, wd) for lr in (1e-3, 5e-4, 1e-4, 5e-5, 1e-5) for wd in (1e-5, 1e-6)}
    assert {(float(r["lr"]), float(r["weight_decay"])) for r in rows} == grid
    chosen = metrics["chosen"]["recommender"]
    selected = {(float(r["lr"]), float(r["weight_decay"])) for r in rows if r["selected"] == "True"}
    assert selected == {(chosen["lr"], chosen["weight_decay"])}
    assert chosen["val_ndcg@5"] == pytest.approx(max(float(r["val_ndcg@5"]) for r in rows))
    assert metrics["val_ndcg@5"] == pytest.approx(chosen["val_ndcg@5"])
    # --grid overrides --lr / --weight-decay: giving both is a usage error.
    bad_args = ["--data", str(tiny), "--out", str(tmp_path / "bad"), "--model", "mf", "--grid"]
    bad = run(*bad_args, "--lr", "0.02")
    assert bad.exit_code == 2 and "'--lr'" in bad.stderr and not (tmp_path / "bad").exists()


def test_latent_dim_and_latent_grid(tiny, tmp_path):
    out = tmp_path / "latent"
    args = ["--model", "idcf", "--latent-dim", "3", "--latent-grid", "--restarts", "1"]
    args += ["--latent-epochs", "2", "--epochs", "1", "--trace-every", "0"]
    config, metrics = fit_tiny(tiny, out, *args)
    # --latent-dim 3: three latent columns (the truth has 2, the default), a 3-dim prior.
    assert config["latent_dim"] == 3 and config["latent_grid"] is True
    latents = np.load(out / "latents.npy")
    assert latents.shape == (60, 3)
    assert metrics["identifiability"]["aux"]["latent_dim"] == 3
    # --latent-grid: latent lr 1e-3, 5e-4 x L2 penalty 0, 0.01 (the help's grid), the lowest
    # held-out negative ELBO kept.
    points = metrics["latent_grid"]
    assert sorted((p["latent_lr"], p["l2_penalty"]) for p in points) == [
        (5e-4, 0.0),
        (5e-4, 0.01),
        (1e-3, 0.0),
        (1e-3, 0.01),
    ]
    best = min(points, key=lambda p: p["val_loss"])
    assert [p["kept"] for p in points] == [p is best for p in points]
    assert (metrics["latent_grid_lr"], metrics["latent_grid_l2"]) == (
        best["latent_lr"],
        best["l2_penalty"],
    )
    kept = metrics["chosen"]["latent"]
    assert (kept["latent_lr"], kept["l2_penalty"]) == (best["latent_lr"], best["l2_penalty"])
