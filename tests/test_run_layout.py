"""One run layout (§6): `ividr fit` and each run of `ividr sweep` write the same folder, so the
plots read either; one atomic-write helper and one JSON encoder (simulator.files)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

from ividr.cli import main  # noqa: E402
from ividr.experiments.layout import RUN_FILES, write_run  # noqa: E402
from simulator.files import atomic_directory, atomic_write_text, dumps_json  # noqa: E402

TINY = ["--preset", "idcf", "--users", "300", "--items", "60", "--epochs", "2"]
TINY += ["--latent-epochs", "10", "--threads", "1", "-q"]


def test_plot_history_and_latent_work_on_a_sweep_run_folder(tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "--out", str(out), *TINY, "--values", "0", "--models", "idcf", "--seeds", "1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    run = out / "runs" / "gamma=0__idcf__seed=0"
    names = {p.name for p in run.iterdir()}
    assert {"result.json", "metrics.json", "config.json", "history.json", "latents.npy"} <= names
    assert names <= set(RUN_FILES)
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "idcf" and config["estimator"] == "IDCF"
    res = CliRunner().invoke(main, ["plot", "history", str(run), "--out", str(tmp_path / "h")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "h.png").stat().st_size > 0
    data = out / "data" / "gamma=0_seed=0"
    fig = tmp_path / "latent"
    res = CliRunner().invoke(
        main, ["plot", "latent", str(run), "--data", str(data), "--out", str(fig), "-q"]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "latent.pdf").is_file()


def test_write_run_is_atomic_and_refuses_to_clobber(tmp_path):
    out = tmp_path / "a" / "run"
    write_run(out, metrics={"mcc": np.float32(0.5)}, config={"model": "x"}, latents=np.eye(3))
    assert json.loads((out / "metrics.json").read_text()) == {"mcc": 0.5}
    with pytest.raises(FileExistsError):
        write_run(out, metrics={}, config={})
    with pytest.raises(RuntimeError), atomic_directory(out, overwrite=True) as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("killed")
    assert (out / "latents.npy").is_file() and not (out / "half").exists()
    assert [p.name for p in out.parent.iterdir()] == ["run"]  # no temporary left
    write_run(out, metrics={"mcc": 1}, config={}, overwrite=True)
    assert not (out / "latents.npy").exists()


def test_json_encoder_and_atomic_text(tmp_path):
    text = dumps_json({"a": np.int64(3), "b": np.array([1.5, 2.0]), "c": np.bool_(True)})
    assert json.loads(text) == {"a": 3, "b": [1.5, 2.0], "c": True}
    path = tmp_path / "t.txt"
    atomic_write_text(path, "one\n")
    atomic_write_text(path, "two\n")
    assert path.read_text() == "two\n" and [p.name for p in tmp_path.iterdir()] == ["t.txt"]
