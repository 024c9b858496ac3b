"""benchmarks/ividr_factors.py (issue 20): the factor table on a tiny subsample, and the runs
CSV gaining a column without losing a value."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from benchmarks import ividr_factors as bench

DEFAULT = "default (t standardized + split-half)"


def test_the_default_row_is_the_standardized_fit_with_its_estimate_shrunk(
    external_dataset, tmp_path
):
    external_dataset("idcf-sim")
    args = ["--data", "idcf-sim g5", "--factors", f"t standardized,{DEFAULT}", "--seeds", "1"]
    args += ["--users", "200", "--latent-epochs", "4", "--epochs", "1", "--jobs", "1"]
    args += ["--out", str(tmp_path / "cache"), "--results-dir", str(tmp_path)]
    # A row of another dataset, from an earlier invocation: kept as it is.
    other = ["ividr-sim g0", "0", "paper"] + ["0.5"] * (len(bench.FIELDS) - 3)
    runs_csv = tmp_path / "ividr_factors_runs.csv"
    runs_csv.write_text(",".join(bench.FIELDS) + "\n" + ",".join(other) + "\n")
    res = CliRunner().invoke(bench.main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "] gamma=5__ividr__seed=0" in res.output  # the base of ividr is the default
    assert "] gamma=5__ividr__variant=t_standardized__seed=0" in res.output
    with open(runs_csv, newline="") as fh:
        all_rows = list(csv.DictReader(fh))
    assert [r["data"] for r in all_rows] == ["ividr-sim g0", "idcf-sim g5", "idcf-sim g5"]
    assert list(all_rows[0].values()) == other
    rows = {r["factor"]: r for r in all_rows[1:]}
    # One sweep of the idcf-sim folder; its two factors shared one cached stage 1.
    (sweep,) = (tmp_path / "cache").glob("factors-idcf-sim-*")
    assert len(list((sweep / "runs").iterdir())) == 2
    assert len(list((tmp_path / "cache" / "stage1").glob("*.npz"))) == 1
    again = CliRunner().invoke(bench.main, args, catch_exceptions=False)  # resumed: no fit
    assert again.exit_code == 0 and "] gamma=" not in again.output
    with open(runs_csv, newline="") as fh:
        assert list(csv.DictReader(fh)) == all_rows
    standardized, default = rows["t standardized"], rows[DEFAULT]
    # The same training (the shrinkage only reads the trained net): the same posterior means.
    for column in ("mcc_fused", "mcc_shifted", "mcc_plain", "val_loss"):
        assert standardized[column] == default[column]
    assert float(default["mcc_shrunk"]) == float(default["mcc_shrunk"])  # not nan
    assert "shrunk (split-half)" in (tmp_path / "ividr_factors.md").read_text()


def test_a_runs_csv_from_before_a_column_gains_it_empty(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("data,seed,factor\nx,0,paper\ny,1,t zero\n")
    bench.add_columns(path, ("data", "seed", "factor", "mcc_shrunk"))
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [
        {"data": "x", "seed": "0", "factor": "paper", "mcc_shrunk": ""},
        {"data": "y", "seed": "1", "factor": "t zero", "mcc_shrunk": ""},
    ]
    with pytest.raises(Exception, match="not a prefix"):
        bench.add_columns(path, ("seed", "data", "factor", "mcc_shrunk", "more"))
