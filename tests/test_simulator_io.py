"""The dataset directory of docs/design.md §3: contents, byte-identity, atomic writes, round
trip."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from simulator import DatasetError, SimConfig, generate, load_dataset, write_dataset
from simulator.loaders import load_simgen, sha256_file
from simulator.tables import format_int_rows
from simulator.writer import OutputExistsError

writer = importlib.import_module("simulator.writer")
gen = importlib.import_module("simulator.generate")

FILES = ["train.csv", "random.csv", "user_features.csv", "item_features.csv", "truth.npz"]


def small(preset: str = "dual", **kw) -> SimConfig:
    knobs = {"n_users": 700, "n_items": 120, "gamma": 2.0}
    knobs.update(kw)
    return SimConfig.from_preset(preset, **knobs)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    data = generate(small())
    path = write_dataset(data, tmp_path_factory.mktemp("io") / "data")
    return data, path


def test_format_int_rows_matches_python():
    rng = np.random.default_rng(0)
    cols = [
        np.array([0, 9, 10, 99, 100, 12345, 7]),
        rng.integers(0, 10**9, size=7),
        np.array([1, 5, 3, 2, 4, 0, 5], dtype=np.int8),
    ]
    expected = "".join(
        f"{a},{b},{c}\n" for a, b, c in zip(*[c.tolist() for c in cols], strict=True)
    )
    assert format_int_rows(cols).decode() == expected
    assert format_int_rows([np.array([], dtype=int)]) == b""
    with pytest.raises(ValueError):
        format_int_rows([np.array([-1])])


def test_directory_holds_the_documented_files(written):
    data, path = written
    assert sorted(p.name for p in path.iterdir()) == sorted(FILES + ["meta.json"])
    assert (path / "train.csv").read_text().splitlines()[0] == "user_id,item_id,rating"
    assert (path / "random.csv").read_text().splitlines()[0] == "user_id,item_id,rating"
    assert (path / "user_features.csv").read_text().splitlines()[0] == "user_id,w,z_0,z_1,z_2"
    assert (path / "item_features.csv").read_text().splitlines()[0] == "item_id,m"
    n_train = len((path / "train.csv").read_text().splitlines()) - 1
    assert n_train == len(data.train)
    with np.load(path / "truth.npz", allow_pickle=False) as npz:
        for key in ("C", "V", "B", "W", "M", "Z", "e_Hi", "Mx", "e_u", "e_i", "R", "Y"):
            np.testing.assert_array_equal(npz[key], data.truth[key], err_msg=key)
        assert "exposure_prob_mean" in npz.files and "exposure_prob_hist" in npz.files


def test_meta_json(written):
    data, path = written
    meta = json.loads((path / "meta.json").read_text())
    cfg = data.config
    assert meta["config"] == cfg.to_dict(runtime=False)
    assert set(meta["config"]) >= {"alpha", "beta", "gamma", "item_mixing", "iv_strength"}
    assert (meta["preset"], meta["seed"], meta["n_users"], meta["n_items"]) == ("dual", 0, 700, 120)
    assert meta["version"]
    assert meta["counts"]["train"] == len(data.train) and meta["counts"]["random"] == 700 * 15
    assert meta["exposure_density"] == pytest.approx(len(data.train) / (700 * 120))
    assert sum(meta["rating_histogram"]["train"].values()) == len(data.train)
    assert meta["quantiles"]["method"] == "exact" and meta["q05"] == data.q05
    assert meta["instrument_levels"] == [4, 4, 4]
    assert meta["shapes"]["C"] == [700, 2]
    assert sorted(meta["sha256"]) == sorted(FILES)
    for name, digest in meta["sha256"].items():
        assert sha256_file(path / name) == digest


def test_round_trip_through_load_dataset(written):
    data, path = written
    ds, mem = load_dataset(path), data.to_dataset()
    for part in ("train", "unbiased"):
        for field in ("user", "item", "rating"):
            np.testing.assert_array_equal(
                getattr(getattr(ds, part), field), getattr(getattr(mem, part), field)
            )
    np.testing.assert_array_equal(ds.proxy, mem.proxy)
    np.testing.assert_array_equal(ds.instrument, mem.instrument)
    np.testing.assert_array_equal(ds.item_features, mem.item_features)
    assert (ds.proxy_levels, ds.instrument_levels) == (mem.proxy_levels, mem.instrument_levels)
    assert ds.truth.keys() == mem.truth.keys()
    for key in ds.truth:
        np.testing.assert_array_equal(ds.truth[key], mem.truth[key], err_msg=key)
    assert ds.meta["config"] == mem.meta["config"]


def test_byte_identical_whatever_chunk_size_and_other_seed_differs(tmp_path):
    cfg = small(n_users=1100)
    for label, chunk in (("a", 1), ("b", 700), ("c", 4096)):
        write_dataset(generate(cfg.replace(chunk_users=chunk)), tmp_path / label)
    write_dataset(generate(cfg.replace(seed=1)), tmp_path / "other")
    for name in FILES + ["meta.json"]:
        ref = (tmp_path / "a" / name).read_bytes()
        assert (tmp_path / "b" / name).read_bytes() == ref, name
        assert (tmp_path / "c" / name).read_bytes() == ref, name
    for name in ("train.csv", "random.csv", "truth.npz"):
        assert (tmp_path / "other" / name).read_bytes() != (tmp_path / "a" / name).read_bytes()


def test_refuses_existing_dir_and_overwrite_replaces(tmp_path):
    out = tmp_path / "d"
    write_dataset(generate(small(seed=0)), out)
    before = (out / "train.csv").read_bytes()
    with pytest.raises(OutputExistsError):
        write_dataset(generate(small(seed=1)), out)
    assert (out / "train.csv").read_bytes() == before
    write_dataset(generate(small(seed=1)), out, overwrite=True)
    assert (out / "train.csv").read_bytes() != before
    assert json.loads((out / "meta.json").read_text())["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no temporary left


def test_overwrite_never_deletes_a_foreign_directory(tmp_path):
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep")
    with pytest.raises(OutputExistsError, match="not a folder written by simgen"):
        write_dataset(generate(small()), foreign, overwrite=True)
    assert (foreign / "precious.txt").read_text() == "keep"


def test_failure_leaves_nothing_half_written(tmp_path, monkeypatch):
    data = generate(small())

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_write_npz", boom)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(data, tmp_path / "new")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    write_dataset(data, tmp_path / "old")
    before = {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()}
    monkeypatch.setattr(writer, "_write_npz", boom)
    with pytest.raises(OSError):
        write_dataset(generate(small(seed=3)), tmp_path / "old", overwrite=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


def test_unwritable_destination(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PermissionError):
        write_dataset(generate(small()), tmp_path / "file" / "sub")


def test_tampered_file_is_named(written, tmp_path):
    data, _ = written
    path = write_dataset(data, tmp_path / "t")
    with open(path / "train.csv", "a") as fh:
        fh.write("0,0,5\n")
    with pytest.raises(DatasetError, match="train.csv"):
        load_simgen(path)


def test_large_matrix_not_saved_and_sample_quantiles_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(gen, "FULL_MATRIX_MAX_CELLS", 1000)
    monkeypatch.setattr(gen, "QUANTILE_SAMPLE_SIZE", 10_000)
    path = write_dataset(generate(small()), tmp_path / "big")
    meta = json.loads((path / "meta.json").read_text())
    assert meta["quantiles"]["method"] == "sample" and meta["full_matrix_saved"] is False
    assert "sample" in meta["quantiles"]["how"] or "drawn" in meta["quantiles"]["how"]
    assert meta["quantiles"]["cells"] == 10_000 and "10000 cells" in meta["quantiles"]["how"]
    ds = load_dataset(path)
    assert "R" not in ds.truth and "Y" not in ds.truth and ds.truth["C"].shape == (700, 2)


def test_ividr_code_round_trip(tmp_path):
    data = generate(small("ividr-code"))
    ds = load_dataset(write_dataset(data, tmp_path / "code"))
    assert ds.instrument_levels == (5,) and ds.instrument.shape == (700, 1)
    np.testing.assert_array_equal(ds.instrument[:, 0], ds.proxy[:, 0])
    assert ds.meta["instrument_is_proxy"] is True
    np.testing.assert_array_equal(ds.confounder, data.truth["C"])
