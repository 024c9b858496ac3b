"""Loaders of the real and peer datasets (Coat, iDCF layout) and their error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.dataset import DatasetError, RecDataset
from simulator.loaders import detect_format, load_dataset

IDCF_EXPOSURES = {0: 38728, 5: 33339, 10: 31679, 15: 31065, 20: 30746}


@pytest.fixture(scope="module")
def coat(external_dataset) -> Path:
    return external_dataset("coat")


@pytest.fixture(scope="module")
def idcf_sim(external_dataset) -> Path:
    return external_dataset("idcf-sim")


def test_coat_loads_with_the_published_counts(coat):
    data = load_dataset(coat)
    assert isinstance(data, RecDataset)
    assert (data.n_users, data.n_items) == (290, 300)
    assert len(data.train) == 6960 and len(data.unbiased) == 4640
    assert int(data.train.positive.sum()) == 1905
    assert int(data.unbiased.positive.sum()) == 860
    # 16 random items per user in the unbiased split
    assert np.all(np.bincount(data.unbiased.user, minlength=290) == 16)
    assert data.proxy.shape == (290, 4) and data.proxy_levels == (2, 6, 3, 3)
    assert data.proxy_onehot().sum(axis=1).tolist() == [4.0] * 290
    assert data.item_features.shape == (300, 4)
    assert data.truth is None


@pytest.mark.parametrize("gamma", sorted(IDCF_EXPOSURES))
def test_idcf_sim_loads_every_gamma(idcf_sim, gamma):
    data = load_dataset(idcf_sim / f"gamma_{gamma}")
    assert (data.n_users, data.n_items) == (2000, 300)
    assert len(data.train) == IDCF_EXPOSURES[gamma]
    assert len(data.unbiased) == 2000 * 15
    assert data.proxy.shape == (2000, 1)
    assert set(np.unique(data.proxy)) == {0, 1, 2, 3, 4}
    assert data.confounder.shape == (2000, 2)
    assert data.meta["instrument_is_proxy"] is True


def test_exposure_matrix_matches_train_pairs(idcf_sim):
    data = load_dataset(idcf_sim / "gamma_0")
    a = data.exposure()
    assert a.shape == (2000, 300) and a.dtype == np.float32
    assert a.sum() == len(data.train)
    assert a[data.train.user[0], data.train.item[0]] == 1.0


def test_split_unbiased_is_by_user_and_seeded(coat):
    data = load_dataset(coat)
    val, test = data.split_unbiased(0.3, random_state=3)
    assert len(val) + len(test) == len(data.unbiased)
    assert not set(val.user) & set(test.user)
    assert len(set(val.user)) == round(0.3 * 290)
    val2, _ = data.split_unbiased(0.3, random_state=3)
    assert np.array_equal(val.user, val2.user)
    val3, _ = data.split_unbiased(0.3, random_state=4)
    assert not np.array_equal(np.unique(val.user), np.unique(val3.user))
    with pytest.raises(ValueError, match="val_fraction"):
        data.split_unbiased(1.5)


def _write_idcf(tmp_path: Path, train: str, random: str, labels: str | None) -> Path:
    (tmp_path / "train.csv").write_text(train)
    (tmp_path / "random.csv").write_text(random)
    if labels is not None:
        (tmp_path / "user_feat_label.csv").write_text(labels)
    return tmp_path


GOOD_TRAIN = "user_id,item_id,rating\n0,1,4.0\n1,0,2.0\n"
GOOD_RANDOM = "user_id,item_id,rating\n0,0,5\n1,1,1\n"


def test_tiny_idcf_folder_round_trips(tmp_path):
    data = load_dataset(_write_idcf(tmp_path, GOOD_TRAIN, GOOD_RANDOM, "0\n1\n0\n"))
    assert detect_format(tmp_path) == "idcf"
    assert (data.n_users, data.n_items) == (2, 2)
    assert data.train.rating.tolist() == [4, 2]
    assert data.truth is None


@pytest.mark.parametrize(
    ("train", "random", "labels", "bad_file", "what"),
    [
        ("user,item\n0,1\n", GOOD_RANDOM, "0\n1\n0\n", "train.csv", "header"),
        (GOOD_TRAIN, "user_id,item_id,rating\n0,0,9\n", "0\n1\n0\n", "random.csv", "1..5"),
        (GOOD_TRAIN, "user_id,item_id,rating\n0,x,3\n", "0\n1\n0\n", "random.csv", "malformed"),
        (GOOD_TRAIN, GOOD_RANDOM, None, "user_feat", "neither"),
        (GOOD_TRAIN, GOOD_RANDOM, "0\n0\n", "user_feat_label.csv", "users"),
    ],
)
def test_malformed_idcf_folder_names_the_file(tmp_path, train, random, labels, bad_file, what):
    folder = _write_idcf(tmp_path, train, random, labels)
    with pytest.raises(DatasetError) as info:
        load_dataset(folder)
    message = str(info.value)
    assert bad_file in message and what in message


def test_coat_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(DatasetError, match="not a directory"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no dataset recognised"):
        load_dataset(tmp_path)
    (tmp_path / "train.ascii").write_text("0 3\n1 0\n")
    with pytest.raises(DatasetError, match=r"test\.ascii: file is missing"):
        load_dataset(tmp_path)
    (tmp_path / "test.ascii").write_text("0 3\n1 0\n2 2\n")
    with pytest.raises(DatasetError, match=r"test\.ascii: expected shape"):
        load_dataset(tmp_path)
    (tmp_path / "test.ascii").write_text("0 7\n1 0\n")
    (tmp_path / "user_features.ascii").write_text(
        "1 0 1 0 0 0 0 0 1 0 0 1 0 0\n0 1 0 1 0 0 0 0 0 1 0 0 1 0\n"
    )
    with pytest.raises(DatasetError, match=r"test\.ascii: ratings must be integers in 1\.\.5"):
        load_dataset(tmp_path)


def test_unknown_format_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="'format' parameter"):
        load_dataset(tmp_path, format="yahoo")
