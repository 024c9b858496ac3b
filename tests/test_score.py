"""``ividr score`` and its API (docs/design.md §5, §6, §7): any latents scored as a fit scores its
own; the SVD baselines; Figure 3 from a latents file."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from ividr.cli import main
from ividr.cli.score import SCORE_MARKER
from ividr.reporting.scoring import LatentsError, read_latents, score_latents
from metrics.mcc import mcc
from simulator import SimConfig, generate
from simulator.loaders import load_dataset
from simulator.references import references_for
from simulator.writer import write_dataset

N_USERS = 300


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A small simgen folder whose reference levels are cached (references.json) already."""
    out = tmp_path_factory.mktemp("score") / "data"
    write_dataset(generate(SimConfig.from_preset("ividr", n_users=N_USERS, n_items=60)), out)
    references_for(out)
    return out


@pytest.fixture(scope="module")
def dataset(data_dir):
    return load_dataset(data_dir)


@pytest.fixture(scope="module")
def refs(data_dir, dataset):
    return references_for(data_dir, dataset)


def _score(*args):
    return CliRunner().invoke(main, ["score", *map(str, args)])


def _csv(path, latents, order):
    lines = ["user_id," + ",".join(f"z{k}" for k in range(latents.shape[1]))]
    for u in order:  # an id outside the data gets any values
        lines.append(f"{u}," + ",".join(repr(float(v)) for v in latents[u % len(latents)]))
    path.write_text("\n".join(lines) + "\n")
    return path


def _tree(root):
    """Every path under ``root`` with its content's digest: what a failed command must not
    change."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
    }


# -- the same figures as a fit -------------------------------------------------------------------
@pytest.mark.parametrize("model", ["ivae", "svd-w"])
def test_scoring_what_fit_wrote_gives_the_fits_figures(model, data_dir, tmp_path):
    run = tmp_path / "run"
    args = ["fit", "--data", data_dir, "--model", model, "--out", run, "-q", "--seed", "3"]
    if model == "ivae":
        args += ["--epochs", "3", "--restarts", "1"]
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    fit = json.loads((run / "metrics.json").read_text())
    extra = ["--prior", run / "prior_mean.npy"] if model == "ivae" else []
    out = tmp_path / "score"
    res = _score(
        "--data", data_dir, "--latents", run / "latents.npy", "--out", out, "--seed", 3, *extra
    )
    assert res.exit_code == 0, res.output
    got = json.loads((out / "metrics.json").read_text())
    keys = ["mcc", "mcc_weak", "mcc_matching", "mcc_ci"] + (["mcc_prior_only"] if extra else [])
    for key in keys:
        assert got[key] == fit[key], key
    assert got["references"] == fit["references"]
    assert got["identifiability"]["aux"]["latent_dim"] == 2
    assert (out / SCORE_MARKER).is_file()
    assert "How to read it" in res.output and f"{fit['mcc']:.4f}" in res.output


def test_the_written_json_is_strict_and_the_prior_matrix_is_not_claimed(
    data_dir, dataset, tmp_path
):
    np.save(tmp_path / "c.npy", dataset.confounder)
    out = tmp_path / "s"
    assert _score("--data", data_dir, "--latents", tmp_path / "c.npy", "--out", out).exit_code == 0
    text = (out / "metrics.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    got = json.loads(text)
    assert got["mcc"] == pytest.approx(1.0) and got["identifiability"]["prior_matrix"] is None
    assert got["mcc_ci"][0] <= got["mcc"] <= got["mcc_ci"][1] + 1e-12


# -- what the score is invariant to ------------------------------------------------------------
def test_a_permuted_csv_with_ids_scores_like_the_array(data_dir, dataset, tmp_path):
    c = dataset.confounder
    z = (c / c.std(axis=0)) @ np.array([[1.0, 1.0], [-1.0, 1.0]])
    np.save(tmp_path / "z.npy", z)
    order = np.random.default_rng(5).permutation(N_USERS)
    _csv(tmp_path / "z.csv", z, order)
    assert np.array_equal(read_latents(tmp_path / "z.csv", N_USERS), z)
    outs = {}
    for name in ("z.npy", "z.csv"):
        out = tmp_path / f"out-{name}"
        res = _score("--data", data_dir, "--latents", tmp_path / name, "--out", out, "--n-boot", 20)
        assert res.exit_code == 0, res.output
        outs[name] = json.loads((out / "metrics.json").read_text())
    for key in ("mcc", "mcc_weak", "mcc_ci", "mcc_matching"):
        assert outs["z.npy"][key] == outs["z.csv"][key], key
    assert outs["z.npy"]["mcc"] < 0.9  # the mixing is not a permutation: strong MCC sees it


def test_copies_of_c_score_one_and_shuffled_rows_score_chance(dataset, refs):
    c = dataset.confounder
    rng = np.random.default_rng(0)
    turn = np.pi / 5
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    rotated = 3.0 * (c / c.std(axis=0)) @ rotation + 1.0
    rotated = score_latents(dataset, rotated, n_boot=0, references=refs)
    assert rotated["mcc_weak"] == pytest.approx(1.0) and rotated["mcc"] < 0.9
    swapped = score_latents(dataset, c[:, ::-1] * [-2.0, 0.5], n_boot=0, references=refs)
    assert swapped["mcc"] == pytest.approx(1.0) and swapped["mcc_weak"] == pytest.approx(1.0)
    assert swapped["mcc_matching"]["learned_dims"] == [1, 0]
    assert swapped["mcc_matching"]["signs"] == [1, -1]
    shuffled = score_latents(dataset, c[rng.permutation(N_USERS)], n_boot=0, references=refs)
    assert shuffled["mcc"] <= refs["mcc_chance"]["p95"]
    assert shuffled["mcc_weak"] < 0.25


def test_a_latent_dimension_other_than_the_truths_gets_its_own_chance(dataset, refs):
    z = np.c_[dataset.confounder, np.random.default_rng(1).normal(size=(N_USERS, 3))]
    out = score_latents(dataset, z, n_boot=0, references=refs)
    assert out["latent_dim"] == 5 and out["mcc"] == pytest.approx(1.0)
    own = out["mcc_chance_latent_dim"]
    assert own["d_learned"] == 5 and own["mean"] > refs["mcc_chance"]["mean"]


def test_the_api_refuses_a_dataset_without_truth_and_bad_arrays(dataset, refs):
    import dataclasses

    bare = dataclasses.replace(dataset, truth=None)
    with pytest.raises(LatentsError, match="no true confounder"):
        score_latents(bare, dataset.confounder)
    with pytest.raises(LatentsError, match="rows"):
        score_latents(dataset, dataset.confounder[1:], references=refs)
    with pytest.raises(LatentsError, match="n_boot"):
        score_latents(dataset, dataset.confounder, n_boot=1, references=refs)


# -- bad input: exit 2, one line, nothing written ------------------------------------------------
def _bad_files(tmp_path, dataset):
    c = dataset.confounder
    nan = c.copy()
    nan[7, 1] = np.nan
    np.save(tmp_path / "short.npy", c[:-1])
    np.save(tmp_path / "nan.npy", nan)
    np.savez(tmp_path / "two.npz", a=c, b=c)
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    (tmp_path / "c.txt").write_text("1,2\n")
    _csv(tmp_path / "outside.csv", c, [*range(N_USERS - 1), N_USERS + 4])
    _csv(tmp_path / "twice.csv", c, [*range(N_USERS - 1), 0])
    _csv(tmp_path / "short.csv", c, range(N_USERS - 1))
    (tmp_path / "noid.csv").write_text("a,b\n" + "1,2\n" * N_USERS)
    (tmp_path / "text.csv").write_text("user_id,z\n" + "".join(f"{u},x\n" for u in range(N_USERS)))
    return ["short.npy", "nan.npy", "two.npz", "junk.npy", "c.txt"] + [
        f"{s}.csv" for s in ("outside", "twice", "short", "noid", "text")
    ]


def test_every_bad_latents_file_exits_2_in_one_line_and_writes_nothing(data_dir, dataset, tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    names = _bad_files(files, dataset)
    np.save(files / "ok.npy", dataset.confounder)
    before = _tree(tmp_path), _tree(data_dir)
    for name in names:
        for option in ("--latents", "--prior"):
            latents = files / (name if option == "--latents" else "ok.npy")
            extra = [option, files / name] if option == "--prior" else []
            res = _score(
                "--data", data_dir, "--latents", latents, "--out", tmp_path / "out", *extra
            )
            assert res.exit_code == 2, (name, option, res.output)
            assert res.stderr.count("\n") == 1 and option in res.stderr, (name, res.stderr)
            assert "Traceback" not in res.output
    assert (_tree(tmp_path), _tree(data_dir)) == before


def test_a_dataset_without_truth_exits_2(data_dir, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(data_dir, bare)
    (bare / "truth.npz").unlink()
    meta = json.loads((bare / "meta.json").read_text())
    del meta["sha256"]["truth.npz"]
    (bare / "meta.json").write_text(json.dumps(meta))
    np.save(tmp_path / "z.npy", np.zeros((N_USERS, 2)))
    before = _tree(tmp_path)
    res = _score("--data", bare, "--latents", tmp_path / "z.npy", "--out", tmp_path / "out")
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "'--data'" in res.stderr
    assert "no true confounder" in res.stderr
    assert _tree(tmp_path) == before


def test_out_must_not_touch_the_data_nor_a_folder_score_did_not_write(data_dir, dataset, tmp_path):
    np.save(tmp_path / "c.npy", dataset.confounder)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    before = _tree(tmp_path), _tree(data_dir)
    cases = [
        (data_dir, []),
        (data_dir.parent, ["--overwrite"]),
        (data_dir / "sub", []),
        (foreign, ["--overwrite"]),
        (foreign / "notes.txt", []),
    ]
    for out, extra in cases:
        res = _score("--data", data_dir, "--latents", tmp_path / "c.npy", "--out", out, *extra)
        assert res.exit_code == 2, (out, res.output)
        assert res.stderr.count("\n") == 1 and "'--out'" in res.stderr, res.stderr
    res = _score(
        "--data", data_dir, "--latents", tmp_path / "c.npy", "--n-boot", 1, "--out", tmp_path / "o"
    )
    assert res.exit_code == 2 and "'--n-boot'" in res.stderr
    assert (_tree(tmp_path), _tree(data_dir)) == before


def test_overwrite_replaces_only_a_folder_score_wrote(data_dir, dataset, tmp_path):
    np.save(tmp_path / "c.npy", dataset.confounder)
    np.save(tmp_path / "half.npy", dataset.confounder * [1.0, 0.0])
    out = tmp_path / "out"
    args = ["--data", data_dir, "--out", out, "--n-boot", 0, "-q"]
    assert _score(*args, "--latents", tmp_path / "c.npy").exit_code == 0
    first = (out / "metrics.json").read_text()
    again = _score(*args, "--latents", tmp_path / "half.npy")
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert (out / "metrics.json").read_text() == first
    res = _score(*args, "--latents", tmp_path / "half.npy", "--overwrite")
    assert res.exit_code == 0, res.output
    assert json.loads((out / "metrics.json").read_text())["mcc"] < json.loads(first)["mcc"]


# -- the SVD baselines -----------------------------------------------------------------------------
def test_the_svd_baselines_are_models_of_the_registry(dataset, tmp_path):
    from ividr.api import FitConfig, fit_model, load_model, save_model
    from ividr.models.svd import svd_factors

    for model, inputs in (("svd", "exposure"), ("svd-w", "exposure_w")):
        result = fit_model(dataset, FitConfig(model=model, n_boot=0))
        user, item, _ = svd_factors(dataset, 2, inputs=inputs, seed=0)
        assert np.array_equal(result.latents, user)
        assert result.metrics["mcc"] == mcc(dataset.confounder, user)
        assert "stop_on" not in result.metrics and result.latents.shape == (N_USERS, 2)
        pairs = np.array([0, 5, 9]), np.array([1, 2, 3])
        expected = (user[pairs[0]] * item[pairs[1]]).sum(axis=1)
        assert np.allclose(result.estimator.score(*pairs), expected)
        save_model(result.estimator, tmp_path / f"{model}.pt")
        loaded = load_model(tmp_path / f"{model}.pt")
        assert np.array_equal(loaded.score(*pairs), result.estimator.score(*pairs))


def test_svd_w_sees_more_of_c_than_svd_on_the_papers_process(dataset, refs):
    """W proxies C (the proxy oracle is high), so adding one-hot W to the matrix helps."""
    from ividr.models.svd import svd_factors

    plain = score_latents(dataset, svd_factors(dataset, 2)[0], n_boot=0, references=refs)
    with_w = score_latents(
        dataset, svd_factors(dataset, 2, inputs="exposure_w")[0], n_boot=0, references=refs
    )
    assert with_w["mcc_weak"] > plain["mcc_weak"]
    assert with_w["mcc_weak"] <= refs["mcc_supervised"]["exposure_w"] + 0.05


# -- Figure 3 with an outside model ---------------------------------------------------------------
def test_plot_latent_takes_a_latents_file_beside_a_run(data_dir, dataset, tmp_path):
    order = np.random.default_rng(2).permutation(N_USERS)
    _csv(tmp_path / "outside.csv", dataset.confounder * 2.0, order)
    run = tmp_path / "run"
    res = CliRunner().invoke(
        main, ["fit", "--data", str(data_dir), "--model", "svd", "--out", str(run), "-q"]
    )
    assert res.exit_code == 0, res.output
    fig = tmp_path / "fig"
    res = CliRunner().invoke(
        main,
        ["plot", "latent", str(run), str(tmp_path / "outside.csv"), "--data", str(data_dir)]
        + ["--out", str(fig), "-q"],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "fig.png").stat().st_size > 0
    np.save(tmp_path / "short.npy", dataset.confounder[:-3])
    res = CliRunner().invoke(
        main,
        ["plot", "latent", str(tmp_path / "short.npy"), "--data", str(data_dir)]
        + ["--out", str(tmp_path / "fig2"), "-q"],
    )
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "rows" in res.stderr
    assert not (tmp_path / "fig2.png").exists()


def test_strict_json_makes_nan_null_and_keeps_inf_only_when_asked():
    from ividr.reporting.scoring import strict_json

    value = {"a": np.array([1.0, np.nan, np.inf]), 2: (np.int64(3), np.bool_(True))}
    assert strict_json(value) == {"a": [1.0, None, None], "2": [3, True]}
    assert strict_json(value, keep_inf=True) == {"a": [1.0, None, float("inf")], "2": [3, True]}
