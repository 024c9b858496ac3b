"""Exporters (issue 5 item 6): iDCF's and RecBole's layouts round-trip through our loaders and
have the columns the peers' code reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from simulator import (
    DatasetError,
    RecDataset,
    SimConfig,
    export_idcf,
    export_recbole,
    generate,
    load_dataset,
    write_dataset,
)
from simulator.cli import simgen
from simulator.loaders import detect_format, load_recbole, sha256_file

INTER_HEADER = "user_id:token\titem_id:token\trating:float"


@pytest.fixture(scope="module")
def data():
    return generate(SimConfig.from_preset("idcf", n_users=200, n_items=50, seed=3))


@pytest.fixture(scope="module")
def written(data, tmp_path_factory):
    return write_dataset(
        data, tmp_path_factory.mktemp("exp") / "d", formats=("simgen", "idcf", "recbole")
    )


def header(path: Path) -> str:
    with open(path) as fh:
        return fh.readline().rstrip("\n")


def assert_same_interactions(got, want):
    for attr in ("user", "item", "rating"):
        assert np.array_equal(getattr(got, attr), getattr(want, attr)), attr


def test_idcf_round_trip(data, written):
    want = data.to_dataset()
    for got in (load_dataset(written / "idcf"), load_dataset(written, format="idcf")):
        assert got.name == "idcf" and (got.n_users, got.n_items) == (200, 50)
        assert_same_interactions(got.train, want.train)
        assert_same_interactions(got.unbiased, want.unbiased)
        assert np.array_equal(got.proxy, want.proxy) and got.proxy_levels == (5,)
        assert got.truth["C"].shape == (200, 2)
        assert np.array_equal(got.truth["C"], data.C.astype(np.float32))


def test_idcf_files_have_the_columns_idcf_reads(data, written):
    folder = written / "idcf"
    for name in ("train.csv", "random.csv"):
        assert header(folder / name) == "user_id,item_id,rating"
    first = (folder / "train.csv").read_text().splitlines()[1]
    u, i, r = data.train.user[0], data.train.item[0], data.train.rating[0]
    assert first == f"{u},{i},{r}.0"  # as pandas writes the reference files
    labels = (folder / "user_feat_label.csv").read_text().splitlines()
    assert labels[0] == "0" and len(labels) == 201
    assert [int(v) for v in labels[1:]] == data.W.tolist()
    onehot = (folder / "user_feat_onehot.csv").read_text().splitlines()
    assert onehot[0] == "0,1,2,3,4" and len(onehot) == 201
    mat = np.array([[int(v) for v in row.split(",")] for row in onehot[1:]])
    assert np.array_equal(mat.argmax(axis=1), data.W) and np.all(mat.sum(axis=1) == 1)
    z_true = np.load(folder / "z_true.npy")
    assert z_true.dtype == np.float32 and z_true.shape == (200, 2)


def test_idcf_files_match_the_reference_benchmark(written, external_dataset):
    # user_feat_label.csv and z_true.npy: exactly the shape of the reference benchmark's files.
    folder, ref = written / "idcf", external_dataset("idcf-sim")
    labels = (folder / "user_feat_label.csv").read_text().splitlines()
    assert labels[0] == (ref / "user_feat_label.csv").read_text().splitlines()[0]
    assert np.load(folder / "z_true.npy").dtype == np.load(ref / "z_true.npy").dtype


def test_recbole_round_trip(data, written):
    want = data.to_dataset()
    folder = written / "recbole"
    assert detect_format(folder) == "recbole"
    for got in (load_dataset(folder), load_dataset(written, format="recbole")):
        assert got.name == "recbole" and (got.n_users, got.n_items) == (200, 50)
        assert_same_interactions(got.train, want.train)
        assert_same_interactions(got.unbiased, want.unbiased)
        assert np.array_equal(got.proxy, want.proxy)
        assert np.array_equal(got.instrument, want.instrument)
        assert got.instrument_levels == want.instrument_levels
        assert np.array_equal(got.item_features, want.item_features)


def test_recbole_files_follow_the_atomic_conventions(data, written):
    folder = written / "recbole"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        ["recbole.inter", "recbole.train.inter", "recbole.valid.inter", "recbole.test.inter"]
        + ["recbole.user", "recbole.item", "recbole.yaml"]
    )
    for name in names:
        if name.endswith(".inter"):
            assert header(folder / name) == INTER_HEADER
    assert (
        header(folder / "recbole.user") == "user_id:token\tw:token\tz_0:token\tz_1:token\tz_2:token"
    )
    assert header(folder / "recbole.item") == "item_id:token\tm:token"
    rows = (folder / "recbole.user").read_text().splitlines()[1:]
    assert len(rows) == 200 and rows[7].split("\t")[:2] == ["7", str(data.W[7])]
    assert (folder / "recbole.inter").read_bytes() == (folder / "recbole.train.inter").read_bytes()
    # valid/test: the unbiased users split 30/70, as our models split them.
    val, test = data.to_dataset().split_unbiased(0.3, random_state=3)
    for part, want in (("valid", val), ("test", test)):
        lines = (folder / f"recbole.{part}.inter").read_text().splitlines()[1:]
        assert len(lines) == len(want)
        assert lines[0] == f"{want.user[0]}\t{want.item[0]}\t{want.rating[0]}"
    assert set(np.unique(val.user)).isdisjoint(np.unique(test.user))
    yaml = (folder / "recbole.yaml").read_text()
    assert "benchmark_filename: [train, valid, test]" in yaml and "rating: 4" in yaml


def test_meta_json_records_the_exported_files(written):
    meta = json.loads((written / "meta.json").read_text())
    assert {"idcf/user_feat_onehot.csv", "recbole/recbole.user"} <= set(meta["sha256"])
    for name, digest in meta["sha256"].items():
        assert sha256_file(written / name) == digest
    assert meta["exports"]["recbole"]["dataset"] == "recbole"
    assert meta["exports"]["idcf"]["has_truth"] is True
    load_dataset(written)  # verify=True checks every listed file


def test_default_write_has_no_exports(data, tmp_path):
    path = write_dataset(data, tmp_path / "plain")
    assert not (path / "idcf").exists() and not (path / "recbole").exists()
    assert "exports" not in json.loads((path / "meta.json").read_text())
    with pytest.raises(ValueError, match="'formats' parameter"):
        write_dataset(data, tmp_path / "bad", formats=("yahoo",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_coat_exports_round_trip(tmp_path, external_dataset):
    coat = load_dataset(external_dataset("coat"))
    via_idcf = load_dataset(export_idcf(coat, tmp_path / "i"))
    via_recbole = load_dataset(export_recbole(coat, tmp_path / "r"))
    for got in (via_idcf, via_recbole):
        assert (got.n_users, got.n_items) == (coat.n_users, coat.n_items)
        assert_same_interactions(got.train, coat.train)
        assert_same_interactions(got.unbiased, coat.unbiased)
        assert np.array_equal(got.proxy, coat.proxy) and got.proxy_levels == coat.proxy_levels
    assert header(tmp_path / "i" / "user_feat_label.csv") == "0,1,2,3"
    assert header(tmp_path / "i" / "user_feat_onehot.csv") == ",".join(map(str, range(14)))
    assert not (tmp_path / "i" / "z_true.npy").exists()  # Coat has no truth
    assert header(tmp_path / "r" / "r.user").startswith("user_id:token\tw_0:token\tw_1:token")
    assert np.array_equal(via_recbole.item_features, coat.item_features)


def test_standalone_exports_are_atomic_and_careful(data, tmp_path):
    export_idcf(data, tmp_path / "i")
    with pytest.raises(FileExistsError):
        export_idcf(data, tmp_path / "i")
    export_idcf(data, tmp_path / "i", overwrite=True)
    write_dataset(data, tmp_path / "sim")
    with pytest.raises(FileExistsError, match="not a folder written by export_recbole"):
        export_recbole(data, tmp_path / "sim", overwrite=True)  # never replaces a simgen dir
    assert (tmp_path / "sim" / "meta.json").is_file()
    with pytest.raises(TypeError, match="'data' parameter of export_recbole"):
        export_recbole({"not": "a dataset"}, tmp_path / "x")
    with pytest.raises(ValueError, match="val_fraction"):
        export_recbole(data, tmp_path / "x", val_fraction=1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i", "sim"]


def test_recbole_loader_names_bad_files(data, tmp_path):
    folder = export_recbole(data, tmp_path / "r")
    (folder / "r.user").write_text("user_id\tw\n0\t1\n")
    with pytest.raises(DatasetError, match=r"r\.user: expected a header of name:type"):
        load_recbole(folder)
    (folder / "r.user").write_text("user_id:token\tw:token\n0\t1\n")
    with pytest.raises(DatasetError, match=r"r\.user: has 1 users"):
        load_recbole(folder)
    (folder / "r.test.inter").write_text(INTER_HEADER + "\n0\t1\t9\n")
    with pytest.raises(DatasetError, match=r"r\.test\.inter: ratings must lie in 1\.\.5"):
        load_recbole(folder)
    (folder / "other.inter").write_text(INTER_HEADER + "\n")
    (folder / "other.train.inter").write_text(INTER_HEADER + "\n")
    with pytest.raises(DatasetError, match="one dataset"):
        load_recbole(folder)


def test_exporting_a_loaded_dataset_gives_the_same_files(written, tmp_path):
    loaded = load_dataset(written)
    assert isinstance(loaded, RecDataset) and loaded.meta["seed"] == 3  # seeds valid/test
    export_idcf(loaded, tmp_path / "idcf")
    export_recbole(loaded, tmp_path / "recbole")
    for fmt in ("idcf", "recbole"):
        theirs = sorted(p.name for p in (written / fmt).iterdir())
        assert sorted(p.name for p in (tmp_path / fmt).iterdir()) == theirs
        for name in theirs:
            assert (tmp_path / fmt / name).read_bytes() == (written / fmt / name).read_bytes()


def test_cli_writes_both_layouts(tmp_path):
    out = tmp_path / "d"
    args = ["--preset", "idcf", "--users", "200", "--items", "50", "--out", str(out)]
    result = CliRunner().invoke(simgen, [*args, "--format", "idcf,recbole"])
    assert result.exit_code == 0, result.output
    assert f"idcf layout:       {out / 'idcf'}" in result.stdout
    assert load_dataset(out / "idcf").truth is not None
    assert load_dataset(out / "recbole").n_users == 200
    again = CliRunner().invoke(
        simgen, [*args[:-1], str(tmp_path / "e"), "--format", "recbole", "--format", "simgen"]
    )
    assert again.exit_code == 0, again.output
    assert (tmp_path / "e" / "recbole").is_dir() and not (tmp_path / "e" / "idcf").exists()


@pytest.mark.parametrize("value", ["yahoo", "idcf,bogus", ""])
def test_cli_bad_format_one_line_exit_2(tmp_path, value):
    out = tmp_path / "never"
    result = CliRunner().invoke(simgen, ["--users", "50", "--format", value, "--out", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--format" in lines[0] and "'recbole'" in lines[0]
    assert "Traceback" not in result.output and result.stdout == ""
    assert list(tmp_path.iterdir()) == []
