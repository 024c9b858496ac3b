"""``ividr fit``: files written, exit codes, one-line errors, nothing written on bad input."""

from __future__ import annotations

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
