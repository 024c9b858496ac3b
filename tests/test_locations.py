"""The one data-location setting (docs/design.md §8): IVIDR_DATA, its default, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import locations
from simulator.dataset import DatasetError
from simulator.locations import (
    DATA_ENV,
    DatasetNotFoundError,
    data_root,
    dataset_path,
    default_dataset_path,
    display_path,
    find_dataset,
)


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """A data root holding only ``coat``, named by IVIDR_DATA."""
    (tmp_path / "coat").mkdir()
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    return tmp_path


def test_the_environment_variable_names_the_root(root):
    assert data_root() == root.resolve()
    assert dataset_path("coat") == root.resolve() / "coat"
    assert find_dataset("idcf-sim") is None


def test_an_absent_dataset_raises_one_line_naming_the_setting(root):
    with pytest.raises(DatasetNotFoundError) as info:
        dataset_path("ividr-sim")
    message = str(info.value)
    assert "\n" not in message and DATA_ENV in message and str(root.resolve()) in message
    assert isinstance(info.value, DatasetError)


def test_unset_or_empty_falls_back_to_the_folder_beside_the_repository(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setattr(locations, "repository_root", lambda: repo)
    for value in (None, ""):
        if value is None:
            monkeypatch.delenv(DATA_ENV, raising=False)
        else:
            monkeypatch.setenv(DATA_ENV, value)
        assert data_root() is None  # no ../shared/datasets beside this repository
        assert default_dataset_path("coat") == tmp_path / "shared" / "datasets" / "coat"
        (tmp_path / "shared" / "datasets").mkdir(parents=True, exist_ok=True)
        assert data_root() == tmp_path / "shared" / "datasets"
        (tmp_path / "shared" / "datasets").rmdir()


def test_the_working_directory_does_not_matter(root, tmp_path, monkeypatch):
    before = dataset_path("coat")
    monkeypatch.chdir(tmp_path / "coat")
    assert dataset_path("coat") == before


def test_reports_name_data_by_the_setting(root, tmp_path):
    assert display_path(root / "coat" / "gamma_0") == "$IVIDR_DATA/coat/gamma_0"
    elsewhere = tmp_path.parent / "elsewhere"
    assert display_path(elsewhere) == str(elsewhere)


def test_unknown_names_are_rejected(root):
    with pytest.raises(ValueError, match="'name' parameter of dataset_path"):
        find_dataset("yahoo")
