"""The benchmark scripts run end to end on tiny sizes and write the tables docs/results/ cites."""

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
    """Import ``benchmarks/<name>`` as module ``bench_<stem>``, registered so that a process
    pool can pickle its functions by reference."""
    module_name = f"bench_{Path(name).stem}"
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "benchmarks" / name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


TINY = ["--values", "0", "--models", "idcf", "--users", "60", "--items", "30"]
TINY += ["--latent-epochs", "3", "--jobs", "1", "--quiet"]


@pytest.mark.slow  # real fits, two seeds
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


@pytest.mark.slow  # a real fit on idcf-sim's 2,000 users
def test_idcf_sim_writes_its_report_and_runs(tmp_path, external_dataset):
    main = _script("idcf_sim.py").main
    args = ["--data", str(external_dataset("idcf-sim"))]
    args += ["--values", "0", "--models", "idcf", "--seeds", "1", "--latent-epochs", "3"]
    args += ["--epochs", "1", "--restarts", "1", "--trace-every", "0", "--timing-fits", "0"]
    args += ["--jobs", "1", "--quiet", "--out", str(tmp_path / "out")]
    res = CliRunner().invoke(main, [*args, "--results-dir", str(tmp_path / "results")])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "results" / "idcf_sim.md").read_text(encoding="utf-8")
    assert md.startswith("# Peer benchmark: iDCF's synthetic data (idcf-sim)")
    assert "## How this was run" in md and "1/1 fits finished" in md
    with open(tmp_path / "results" / "idcf_sim_runs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["gamma"], r["model"], r["seed"]) for r in rows] == [("0", "idcf", "0")]
    assert 0.0 <= float(rows[0]["mcc"]) <= 1.0
    # The wall-time record sits in the sweep directory and counts this invocation.
    assert (tmp_path / "out" / ".benchmark-wall.json").is_file()
    bad = CliRunner().invoke(main, [*args, "--values", "7"])
    assert bad.exit_code == 2 and "'--values'" in bad.output


def test_collapse_ablation_writes_one_row_per_variant(tmp_path, external_dataset):
    main = _script("collapse_ablation.py").main
    args = ["--data", str(external_dataset("idcf-sim"))]
    args += ["--gamma", "5", "--seeds", "2", "--variants", "base,lr5e-4", "--jobs", "1"]
    args += ["--latent-epochs", "3", "--results-dir", str(tmp_path)]
    args += ["--out", str(tmp_path / "sweeps")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    with open(tmp_path / "collapse_ablation_g5_runs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["variant"], r["seed"]) for r in rows) == [
        ("base", "0"),
        ("base", "1"),
        ("lr5e-4", "0"),
        ("lr5e-4", "1"),
    ]
    assert all(int(r["epochs"]) <= 3 for r in rows)
    md = (tmp_path / "collapse_ablation_g5.md").read_text()
    body = [ln for ln in md.splitlines() if ln.startswith(("| base |", "| lr5e-4 |"))]
    assert len(body) == 2
    # One resumable sweep: running the same command again fits nothing and writes the same rows.
    (sweep,) = (tmp_path / "sweeps").iterdir()
    assert len(list((sweep / "runs").iterdir())) == 4
    runs_csv = (tmp_path / "collapse_ablation_g5_runs.csv").read_text()
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert (tmp_path / "collapse_ablation_g5_runs.csv").read_text() == runs_csv
    bad = CliRunner().invoke(main, [*args, "--variants", "nope"])
    assert bad.exit_code == 2 and "nope" in bad.output


def test_refs_measure_runs_a_sweep_resumes_and_reports(tmp_path):
    main = _script("refs_measure.py").main
    out = tmp_path / "sweeps"
    args = ["--presets", "idcf", "--gammas", "0", "--users", "60", "--items", "30"]
    args += ["--models", "idcf,idcf+shuffle", "--latent-epochs", "3", "--out", str(out)]
    args += ["--jobs", "1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert res.output.count("] gamma=0__idcf__") == 2  # each run's progress line
    (sweep_dir,) = out.iterdir()  # one sweep per preset: idcf and idcf[shuffle]
    assert sweep_dir.name.startswith("idcf-")
    assert len(list((sweep_dir / "runs").iterdir())) == 2
    report = [ln for ln in res.output.splitlines() if ln.startswith("|")]
    table = [ln for ln in report if ln.startswith("| idcf (60x30) | 0 | 0 |")]
    assert len(table) == 1 and "| idcf |" in table[0] and "–" not in table[0]
    again = CliRunner().invoke(main, args)  # resumable: nothing is fitted twice
    assert again.exit_code == 0, again.output
    assert "] gamma=" not in again.output  # no run's progress line: no fit
    assert len(list((sweep_dir / "runs").iterdir())) == 2
    assert [ln for ln in again.output.splitlines() if ln.startswith("|")] == report
    only = CliRunner().invoke(main, [*args, "--report"])
    assert only.exit_code == 0 and only.output.splitlines() == report
    bad = CliRunner().invoke(main, [*args, "--models", "mf"])
    assert bad.exit_code == 2 and "--models" in bad.output


@pytest.mark.slow
def test_coat_table_writes_its_tables_and_resumes(tmp_path, external_dataset):
    module = _script("coat_table.py")
    main, coat_fields = module.main, module.FIELDS
    args = ["--data", str(external_dataset("coat"))]
    args += ["--protocol", "released", "--models", "mf", "--seeds", "2", "--jobs", "1"]
    args += ["--results-dir", str(tmp_path), "--out", str(tmp_path / "sweeps")]
    # A row of another section, written before: this invocation keeps it as it is.
    other = "mf,0,ours,bce,True,,0.5,0.5,0.5,0.5,0.001,1e-05,3,,,,1.0\n"
    (tmp_path / "coat_runs.csv").write_text(",".join(coat_fields) + "\n" + other)
    res = CliRunner().invoke(main, args + ["--released-split"])
    assert res.exit_code == 0, res.output
    with open(tmp_path / "coat_runs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["model"], r["seed"], r["protocol"]) for r in rows] == [
        ("mf", "0", "ours"),
        ("mf", "0", "released-split"),
        ("mf", "1", "released-split"),
    ]
    assert rows[0]["ndcg@5"] == "0.5"  # kept as it was
    assert all(0.0 <= float(r["ndcg@5"]) <= 1.0 for r in rows)
    assert {(r["loss"], r["grid"], r["lr"]) for r in rows[1:]} == {("mse", "False", "0.0005")}
    md = (tmp_path / "coat_table.md").read_text()
    section = md.split("released codes' one split")[1]
    line = next(ln for ln in section.splitlines() if ln.startswith("| MF |"))
    assert "0.5590" in line and line.endswith("| 2 |")  # the paper's figure beside ours; 2 runs
    # It ran as one sweep over the Coat folder, the released split a fit setting of it.
    (sweep,) = (tmp_path / "sweeps").iterdir()
    assert sorted(p.name for p in (sweep / "runs").iterdir()) == [
        "data=data__mf__seed=0",
        "data=data__mf__seed=1",
    ]
    assert '"split": "released"' in (sweep / "sweep.json").read_text()
    again = CliRunner().invoke(main, args + ["--released-split"])  # resumable: no fit twice
    assert again.exit_code == 0 and "] data=" not in again.output
    with open(tmp_path / "coat_runs.csv", newline="") as fh:
        assert list(csv.DictReader(fh)) == rows
    bad = CliRunner().invoke(main, [*args, "--models", "svd"])
    assert bad.exit_code == 2 and "--models" in bad.output


@pytest.mark.slow
def test_iv4r_factors_writes_one_row_per_variant(tmp_path, external_dataset):
    main = _script("iv4r_factors.py").main
    args = ["--data", str(external_dataset("coat"))]
    args += ["--protocol", "released", "--variants", "MF", "--seeds", "1", "--jobs", "1"]
    args += ["--out", str(tmp_path / "sweeps")]
    res = CliRunner().invoke(main, [*args, "--results-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "iv4r_factors.md").read_text()
    assert "## protocol released" in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| MF |"))
    assert row.rstrip().endswith("| 1 |")  # one run
    # It ran as a sweep of MF alone, the released protocol its own setting: one run.
    (sweep,) = (tmp_path / "sweeps").iterdir()
    assert [p.name for p in (sweep / "runs").iterdir()] == ["data=data__mf__seed=0"]
    assert '"protocol": "released"' in (sweep / "sweep.json").read_text()
    bad = CliRunner().invoke(main, [*args, "--variants", "nope", "--results-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "nope" in bad.output


def test_svd_baselines_writes_its_table(tmp_path):
    from simulator import SimConfig, generate
    from simulator.writer import write_dataset

    data = tmp_path / "data"
    for gamma in (0, 10):
        config = SimConfig.from_preset("ividr", n_users=120, n_items=40, gamma=float(gamma))
        write_dataset(generate(config), data / f"gamma_{gamma}")
    main = _script("svd_baselines.py").main
    args = ["--data", str(data), "--values", "0,10", "--n-boot", "10"]
    args += ["--out", str(tmp_path / "sweeps"), "--results-dir", str(tmp_path / "results")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    md = (tmp_path / "results" / "svd_baselines.md").read_text(encoding="utf-8")
    assert md.startswith("# Linear baselines on the paper's draw")
    with open(tmp_path / "results" / "svd_baselines_runs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["gamma"], r["model"]) for r in rows] == [
        ("0", "svd"),
        ("0", "svd-w"),
        ("10", "svd"),
        ("10", "svd-w"),
    ]
    assert all(0.0 <= float(r["mcc"]) <= 1.0 and float(r["ref_oracle"]) > 0.5 for r in rows)
    assert all(float(r["mcc_ci_low"]) <= float(r["mcc"]) + 1e-9 for r in rows)
    # one resumable sweep of the four fits: the same command again fits nothing, same figures
    (sweep,) = (tmp_path / "sweeps").iterdir()
    assert len(list((sweep / "runs").iterdir())) == 4
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "] gamma=" not in again.output, again.output  # no fit
    with open(tmp_path / "results" / "svd_baselines_runs.csv", newline="") as fh:
        assert [r["mcc"] for r in csv.DictReader(fh)] == [r["mcc"] for r in rows]
    bad = CliRunner().invoke(main, [*args, "--values", "7"])
    assert bad.exit_code == 2 and "'--values'" in bad.output
