"""The ``simgen`` command: options, output, §7 errors and exit codes (CliRunner and subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from simulator import load_dataset
from simulator.cli import simgen

SMALL = ["--users", "300", "--items", "60"]


def run(args):
    return CliRunner().invoke(simgen, args)


def test_generates_writes_and_summarises(tmp_path):
    out = tmp_path / "d"
    result = run([*SMALL, "--gamma", "10", "--preset", "dual", "--seed", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    assert "exposure density" in result.stdout and "ratings train" in result.stdout
    ds = load_dataset(out)
    meta = ds.meta
    assert meta["config"]["gamma"] == 10.0 and meta["preset"] == "dual" and meta["seed"] == 4
    assert meta["config"]["iv_strength"] == 1.0  # from the preset
    assert f"{len(ds.train):,d}" in result.stdout
    assert result.stderr == ""  # not a terminal: no progress bar


def test_default_out_dir_named_from_knobs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run([*SMALL, "--gamma", "10"])
    assert result.exit_code == 0, result.output
    made = os.listdir("simgen-out")
    assert made == ["ividr_u300_i60_gamma10_seed0"]
    assert str(tmp_path / "simgen-out" / made[0]) in result.stdout


def test_quiet_prints_only_the_path(tmp_path):
    result = run([*SMALL, "--quiet", "--out", str(tmp_path / "q")])
    assert result.exit_code == 0
    assert result.stdout.strip() == str(tmp_path / "q") and result.stderr == ""


def test_chunk_size_does_not_change_the_files(tmp_path):
    hashes = []
    for chunk in ("1", "1000"):
        out = tmp_path / chunk
        assert (
            run([*SMALL, "--users", "1100", "--chunk-users", chunk, "--out", str(out)]).exit_code
            == 0
        )
        hashes.append(json.loads((out / "meta.json").read_text())["sha256"])
    assert hashes[0] == hashes[1]


@pytest.mark.parametrize(
    ("args", "option", "fragment"),
    [
        (["--users", "0"], "--users", "x>=1"),
        (["--items", "-5"], "--items", "x>=1"),
        (["--alpha", "0"], "--alpha", "0.0<x<=1.0"),
        (["--alpha", "1.5"], "--alpha", "0.0<x<=1.0"),
        (["--gamma", "-1"], "--gamma", "x>=0"),
        (["--gamma", "nan"], "--gamma", "finite"),
        (["--beta", "nan"], "--beta", "finite"),
        (["--rating-noise", "inf"], "--rating-noise", "finite"),
        (["--random-items", "61"], "--random-items", "[1, 60]"),
        (["--clusters", "0"], "--clusters", "x>=1"),
        (["--w-prior", "normal"], "--w-prior", "gaussian"),
        (["--preset", "nope"], "--preset", "ividr"),
        (["--seed", "-2"], "--seed", "x>=0"),
        (["--chunk-users", "0"], "--chunk-users", "x>=1"),
        (["--preset", "ividr-code", "--clusters", "4"], "--clusters", "5"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, args, option, fragment):
    out = tmp_path / "never"
    result = run([*SMALL, *args, "--out", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert option in lines[0] and fragment in lines[0]
    assert "Traceback" not in result.output and result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_existing_out_needs_overwrite(tmp_path):
    out = tmp_path / "d"
    assert run([*SMALL, "--out", str(out)]).exit_code == 0
    before = (out / "meta.json").read_text()
    result = run([*SMALL, "--seed", "1", "--out", str(out)])
    assert result.exit_code == 2 and "--out" in result.stderr and "--overwrite" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (out / "meta.json").read_text() == before
    result = run([*SMALL, "--seed", "1", "--out", str(out), "--overwrite"])
    assert result.exit_code == 0
    assert json.loads((out / "meta.json").read_text())["seed"] == 1


def test_unwritable_out(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run([*SMALL, "--out", str(tmp_path / "file" / "sub")])
    assert result.exit_code == 2 and "--out" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_help_lists_every_option():
    result = run(["--help"])
    assert result.exit_code == 0
    for option in (
        "--preset", "--users", "--items", "--alpha", "--beta", "--gamma", "--item-mixing",
        "--iv-strength", "--hidden-strength", "--clusters", "--latent-dim", "--random-items",
        "--rating-noise", "--w-prior", "--seed", "--chunk-users", "--out", "--overwrite", "--quiet",
    ):  # fmt: skip
        assert option in result.stdout
    assert "default" in result.stdout


def test_as_a_subprocess(tmp_path):
    cmd = [sys.executable, "-m", "simulator.cli", *SMALL, "--preset", "idcf"]
    ok = subprocess.run(
        [*cmd, "--out", str(tmp_path / "d")], capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stderr
    assert "wrote" in ok.stdout and ok.stderr == ""
    assert load_dataset(tmp_path / "d").meta["preset"] == "idcf"
    bad = subprocess.run(
        [*cmd, "--alpha", "nan", "--out", str(tmp_path / "e")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "--alpha" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "e").exists()
