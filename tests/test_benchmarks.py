"""The benchmark scripts run end to end on tiny sizes and write the tables the README cites."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = ["--values", "0", "--models", "idcf", "--users", "60", "--items", "30"]
TINY += ["--latent-epochs", "3", "--jobs", "1", "--quiet"]


def test_table5_writes_its_table(tmp_path):
    main = _script("table5.py").main
    args = ["--presets", "idcf", *TINY, "--seeds", "2", "--epochs", "1", "--trace-every", "0"]
    args += ["--threads", "1", "--out-root", str(tmp_path / "runs")]
    res = CliRunner().invoke(main, [*args, "--results-dir", str(tmp_path / "results")])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "results" / "table5_idcf.md").read_text()
    assert "# Sweep over gamma: preset `idcf`, 60 users x 30 items, 2 seed(s)" in md
    assert "## MCC (strong, Pearson)" in md and "| model | gamma=0 |" in md
    line = next(ln for ln in md.splitlines() if ln.startswith("| idcf | ") and "±" in ln)
    assert line.count("|") == 3
    assert "Wall time: 2 runs" in md


def test_stopping_regret_writes_its_tables(tmp_path):
    main = _script("stopping_regret.py").main
    args = ["--presets", "idcf", *TINY, "--seeds", "1", "--out-root", str(tmp_path / "runs")]
    res = CliRunner().invoke(main, [*args, "--results-dir", str(tmp_path / "results")])
    assert res.exit_code == 0, res.output
    with open(tmp_path / "results" / "stopping_regret_runs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["rule"] for r in rows) == ["elbo", "epochs", "ndcg"]
    assert {r["preset"] for r in rows} == {"idcf"} and {r["model"] for r in rows} == {"idcf"}
    md = (tmp_path / "results" / "stopping_regret.md").read_text()
    assert md.startswith("# Stopping regret: which rule keeps the epoch with the best MCC?")
    assert "## MCC at the kept checkpoint" in md


@pytest.mark.slow
def test_bench_simgen_quick_prints_its_table():
    # Interpreter start and the 10k x 1k cases, once each: a few seconds.
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_simgen.py"), "--quick", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert any("10,000 x 1,000 yardstick" in ln for ln in lines)
    assert any("generation / yardstick (median)" in ln for ln in lines)
