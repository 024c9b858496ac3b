"""FitConfig.split: the validation/test split of the unbiased users, by seed or the released one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ividr.api import FitConfig, unbiased_split
from simulator import SimConfig, generate


@pytest.fixture(scope="module")
def tiny():
    return generate(SimConfig(n_users=120, n_items=40, seed=3)).to_dataset()


def released_code_test_users(users: np.ndarray) -> np.ndarray:
    """``split_by_user(df, 0.7)`` of the released ``utils.py``, line for line (global seed)."""
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(1234)  # noqa: NPY002 (the released code's calls)
        return np.random.choice(users, size=int(len(users) * 0.7), replace=False)  # noqa: NPY002
    finally:
        np.random.set_state(state)  # noqa: NPY002


def test_released_split_is_the_released_codes_draw(tiny):
    users = np.unique(tiny.unbiased.user)
    val, test = tiny.split_unbiased_released()
    assert set(np.unique(test.user)) == set(released_code_test_users(users))
    assert set(np.unique(val.user)) == set(users) - set(np.unique(test.user))
    assert len(val) + len(test) == len(tiny.unbiased)


def test_released_split_is_the_same_for_every_seed_and_the_seeded_one_is_not(tiny):
    def val_users(seed: int, split: str) -> set[int]:
        val, _ = unbiased_split(tiny, FitConfig(model="mf", seed=seed, split=split))
        return set(np.unique(val.user).tolist())

    assert val_users(0, "released") == val_users(1, "released")
    assert val_users(0, "seed") != val_users(1, "seed")
    # 'seed' is the split every fit made before the field existed.
    seeded, _ = tiny.split_unbiased(0.3, random_state=1)
    assert val_users(1, "seed") == set(np.unique(seeded.user).tolist())


def test_bad_split_arguments_are_named(tiny):
    with pytest.raises(ValueError, match="test_fraction"):
        tiny.split_unbiased_released(test_fraction=1.5)
    with pytest.raises(ValueError, match="'split'.*seed.*released"):
        FitConfig(model="mf", split="half").validate()


def test_coat_released_split_has_203_test_users(external_dataset):
    from simulator.loaders import load_dataset

    data = load_dataset(external_dataset("coat"))
    val, test = data.split_unbiased_released()
    # int(0.7 * 290) = 203 test users, the other 87 validate; 16 unbiased ratings each.
    assert (np.unique(test.user).size, np.unique(val.user).size) == (203, 87)
    assert (len(test), len(val)) == (203 * 16, 87 * 16)


def test_cli_fit_split_released_scores_the_released_split(tiny, tmp_path):
    from click.testing import CliRunner

    from ividr.cli import main
    from simulator.writer import write_dataset

    data_dir = tmp_path / "tiny"
    write_dataset(generate(SimConfig(n_users=120, n_items=40, seed=3)), data_dir)
    out = tmp_path / "fit"
    args = ["fit", "--data", str(data_dir), "--model", "mf", "--out", str(out), "--quiet"]
    result = CliRunner().invoke(
        main, [*args, "--epochs", "2", "--seed", "5", "--split", "released"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["split"] == "released"
    lines = (out / "scores.csv").read_text().splitlines()[1:]
    test_users = {int(ln.split(",")[0]) for ln in lines if ln.endswith(",test")}
    _, expected = tiny.split_unbiased_released()
    assert test_users == set(np.unique(expected.user).tolist())
