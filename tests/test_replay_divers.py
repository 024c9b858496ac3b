"""Preset ``ividr-paper``: the released IViDR generator replayed (simulator/replay_divers.py).

The comparison with the authors' own draw (``ividr-sim`` under the data root) is exact: the same
exposures (user, item, rating), the same unbiased set, W and z_true, for every gamma present.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from simulator import ConfigError, SimConfig, generate, load_dataset
from simulator.cli import simgen
from simulator.config import PAPER_MAX_CELLS

ROOT = Path(__file__).resolve().parents[1]
GAMMAS = (0, 5, 10, 15, 20)


def data_root() -> Path:
    """``IVIDR_DATA`` when set, else ``../shared/datasets`` beside the repository.

    A local stand-in for the project's shared helper (issue 22, item 1).
    """
    env = os.environ.get("IVIDR_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "datasets"


def paper_draw(gamma: int) -> Path:
    """The authors' draw for ``gamma``; skips the test when it is absent."""
    path = data_root() / "ividr-sim" / f"gamma_{gamma}"
    if not path.is_dir():
        pytest.skip(f"{path} is absent (set IVIDR_DATA to the folder holding ividr-sim/)")
    return path


def small(**knobs):
    return generate(SimConfig.from_preset("ividr-paper", n_users=300, n_items=60, **knobs))


def assert_same_interactions(ours, theirs) -> None:
    for field in ("user", "item", "rating"):
        np.testing.assert_array_equal(getattr(ours, field), getattr(theirs, field), err_msg=field)


# -- the authors' draw ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("gamma", GAMMAS)
def test_replay_equals_the_authors_draw(gamma):
    theirs = load_dataset(paper_draw(gamma))  # the iDCF layout: train, random, W, z_true
    ours = generate(SimConfig.from_preset("ividr-paper", gamma=float(gamma)))
    assert (ours.n_users, ours.n_items) == (theirs.n_users, theirs.n_items) == (10_000, 1_000)
    assert_same_interactions(ours.train, theirs.train)
    assert_same_interactions(ours.unbiased, theirs.unbiased)
    np.testing.assert_array_equal(ours.W, theirs.proxy[:, 0])
    np.testing.assert_array_equal(ours.C, theirs.confounder)  # float32 values, bit for bit


# -- the replay on its own ------------------------------------------------------------------------
def test_replay_is_deterministic_and_gamma_moves_only_the_exposures():
    a, b, noisy = small(gamma=0.0), small(gamma=0.0), small(gamma=10.0)
    assert_same_interactions(a.train, b.train)
    assert_same_interactions(a.unbiased, b.unbiased)
    # Every draw is made whatever gamma is: only the exposures change.
    for key in ("C", "W", "e_u", "e_i", "e_Hi", "Mx", "Y", "R"):
        np.testing.assert_array_equal(a.truth[key], noisy.truth[key], err_msg=key)
    assert_same_interactions(a.unbiased, noisy.unbiased)
    assert len(a.train) != len(noisy.train)
    # Another seed is another draw.
    assert not np.array_equal(a.C, small(seed=1).C)


def test_replay_layout_and_truth():
    data = small(gamma=5.0)
    assert data.config.seed == 1234 and data.C.shape == (300, 2)
    np.testing.assert_array_equal(data.Z[:, 0], data.W)  # the instrument is W
    assert set(np.unique(data.W)) <= set(range(5)) and not data.M.any()
    items = data.unbiased.item.reshape(300, 15)
    assert all(len(set(row)) == 15 for row in items)  # distinct items per user
    R = data.truth["R"]
    np.testing.assert_array_equal(data.train.rating, R[data.train.user, data.train.item])
    C = data.truth["C0"] + 0.1 * data.truth["C_prime"] + 0.1 * data.truth["C_noise"]
    np.testing.assert_array_equal(data.C, C.astype(np.float32))
    meta = data.meta()
    assert meta["instrument_is_proxy"] and meta["process"] == "ividr-paper"
    assert "DIVERS" in meta["provenance"]["source"] and meta["provenance"]["torch_version"]


@pytest.mark.parametrize(
    ("knob", "value"),
    [("clusters", 4), ("item_mixing", 1.0), ("iv_strength", 0.5), ("hidden_strength", 1.0)],
)
def test_replay_refuses_knobs_the_released_code_lacks(knob, value):
    with pytest.raises(ConfigError) as info:
        SimConfig.from_preset("ividr-paper", **{knob: value})
    assert info.value.param == knob


def test_replay_size_is_bounded_by_torch_quantile():
    SimConfig.from_preset("ividr-paper", n_users=PAPER_MAX_CELLS // 1000)
    with pytest.raises(ConfigError, match="2\\^24") as info:
        SimConfig.from_preset("ividr-paper", n_users=PAPER_MAX_CELLS // 1000 + 1)
    assert info.value.param == "n_users"


def test_simgen_writes_the_replay_in_its_own_layout(tmp_path):
    out = tmp_path / "paper"
    args = ["--preset", "ividr-paper", "--users", "200", "--items", "40", "--gamma", "10"]
    res = CliRunner().invoke(simgen, [*args, "--out", str(out), "--format", "idcf"])
    assert res.exit_code == 0, res.output
    assert "seed 1234" in res.output
    ours = load_dataset(out)  # simgen's layout, meta.json included
    released = load_dataset(out, format="idcf")  # and the released layout beside it
    assert_same_interactions(ours.train, released.train)
    np.testing.assert_array_equal(ours.confounder, released.confounder)
    assert ours.meta["config"]["process"] == "ividr-paper"


def test_simgen_rejects_a_knob_of_another_process(tmp_path):
    res = CliRunner().invoke(
        simgen, ["--preset", "ividr-paper", "--item-mixing", "1", "--out", str(tmp_path / "x")]
    )
    assert res.exit_code == 2
    assert "--item-mixing" in res.output and "ividr-paper" in res.output
    assert not (tmp_path / "x").exists()


def test_only_the_replay_imports_torch():
    code = (
        "import sys; import simulator, simulator.cli, simulator.references; "
        "from simulator import SimConfig, generate; "
        "generate(SimConfig.from_preset('ividr-code', n_users=50, n_items=20)); "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "generate(SimConfig.from_preset('ividr-paper', n_users=50, n_items=20)); "
        "assert 'torch' in sys.modules"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
