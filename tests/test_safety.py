"""Never lose a user's data, never record a setting that was not used (issue 21, docs/design.md §7).

Every bad input below goes through the real CLIs: exit 2, one line on stderr naming the option,
no traceback, and every file under the test's folder (the input, a pre-existing --out, anything
else) byte-identical before and after, with nothing added.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ividr.cli import main
from simulator.cli import simgen
from simulator.config import SimConfig
from simulator.files import dumps_json
from simulator.generate import generate
from simulator.writer import write_dataset

UNWRITABLE = "/proc/nope/x"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A simgen dataset of 60 users x 40 items (idcf preset), written once."""
    path = tmp_path_factory.mktemp("tiny") / "data"
    write_dataset(generate(SimConfig.from_preset("idcf", n_users=60, n_items=40)), path)
    return path


def _tree(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (and the folders, as "dir")."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _strict_loads(text: str):
    def refuse(name: str):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


# -- the scenes: each builds its files under `root` and returns the command line --------------
def _notes(root: Path) -> Path:
    notes = root / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("my own notes\n")
    return notes


def _data(root: Path, tiny: Path) -> Path:
    return Path(shutil.copytree(tiny, root / "D"))


def _empty_idcf(root: Path, tiny: Path) -> Path:
    folder = root / "E" / "gamma_0"
    folder.mkdir(parents=True)
    for name in ("train.csv", "random.csv"):
        (folder / name).write_text("user_id,item_id,rating\n")
    (root / "E" / "user_feat_label.csv").write_text("0\n1\n2\n")
    return folder


def _fake_fit_run(root: Path, name: str = "run") -> Path:
    """A folder that says `ividr fit` wrote it (its marker), with a latents file."""
    run = root / name
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "vae", "written_by": "ividr fit"}))
    np.save(run / "latents.npy", np.zeros((60, 2)))
    return run


def _fake_sweep(root: Path) -> Path:
    sweep = root / "S"
    sweep.mkdir()
    (sweep / "sweep.json").write_text("{}")
    return sweep


def _simgen_named(root: Path, tiny: Path) -> Path:
    """A folder of datasets under simgen's names, one named gamma_99 holding gamma 0 data."""
    folder = root / "F"
    folder.mkdir()
    shutil.copytree(tiny, folder / "idcf_u60_i40_gamma0_seed0")
    shutil.copytree(tiny, folder / "gamma_99")
    return folder


def _our_figure(root: Path) -> Path:
    from matplotlib.figure import Figure

    from ividr.reporting.plots import save_figure

    fig = Figure()
    fig.add_subplot().plot([0, 1])
    save_figure(fig, root / "fig")
    return root / "fig"


Scene = Callable[[Path, Path], list[str]]

FIT = ["fit", "--model", "mf", "-q"]
SWEEP = ["sweep", "--models", "mf", "--seeds", "1", "-q"]
SMALL_SIM = ["--preset", "idcf", "--users", "20", "--items", "30", "-q"]

#: (id, command: "ividr" or "simgen", scene -> argv, the option the message names)
CASES: list[tuple[str, str, Scene, str]] = [
    # ividr fit: the --out rule
    (
        "fit-out-is-data-overwrite",
        "ividr",
        lambda r, t: [*FIT, "--data", str(_data(r, t)), "--out", str(r / "D"), "--overwrite"],
        "'--out'",
    ),
    (
        "fit-out-is-foreign-folder-overwrite",
        "ividr",
        lambda r, t: [*FIT, "--data", str(_data(r, t)), "--out", str(_notes(r)), "--overwrite"],
        "'--out'",
    ),
    (
        "fit-out-foreign-folder-no-overwrite",
        "ividr",
        lambda r, t: [*FIT, "--data", str(_data(r, t)), "--out", str(_notes(r))],
        "'--out'",
    ),
    (
        "fit-out-holds-data-overwrite",
        "ividr",
        lambda r, t: [*FIT, "--data", str(_data(r, t)), "--out", str(r), "--overwrite"],
        "'--out'",
    ),
    (
        "fit-out-inside-data",
        "ividr",
        lambda r, t: [*FIT, "--data", str(_data(r, t)), "--out", str(r / "D" / "run")],
        "'--out'",
    ),
    (
        "fit-out-dot",
        "ividr",
        lambda r, t: [*FIT, "--data", str(_data(r, t)), "--out", "."],
        "'--out'",
    ),
    (
        "fit-out-dotdot",
        "ividr",
        lambda r, t: [*FIT, "--data", str(_data(r, t)), "--out", str(r / "D" / "..")],
        "'--out'",
    ),
    (
        "fit-out-unwritable",
        "ividr",
        lambda r, t: [*FIT, "--data", str(_data(r, t)), "--out", UNWRITABLE],
        "'--out'",
    ),
    (
        "fit-out-is-a-file",
        "ividr",
        lambda r, t: [*FIT, "--data", str(_data(r, t)), "--out", str(_notes(r) / "todo.txt")],
        "'--out'",
    ),
    (
        "fit-own-run-without-overwrite",
        "ividr",
        lambda r, t: [*FIT, "--data", str(_data(r, t)), "--out", str(_fake_fit_run(r))],
        "'--out'",
    ),
    # ividr fit: the data
    (
        "fit-empty-idcf-csvs",
        "ividr",
        lambda r, t: [*FIT, "--data", str(_empty_idcf(r, t)), "--out", str(r / "o")],
        "'--data'",
    ),
    # ividr fit: options that do not apply or conflict
    (
        "fit-vae-epochs-and-latent-epochs",
        "ividr",
        lambda r, t: [
            *FIT,
            "--data",
            str(_data(r, t)),
            "--out",
            str(r / "o"),
            "--model",
            "vae",
            "--epochs",
            "3",
            "--latent-epochs",
            "5",
        ],
        "'--latent-epochs'",
    ),
    (
        "fit-mf-shuffle-aux",
        "ividr",
        lambda r, t: [*FIT, "--data", str(_data(r, t)), "--out", str(r / "o"), "--shuffle-aux"],
        "'--shuffle-aux'",
    ),
    (
        "fit-latent-grid-stop-on-ndcg",
        "ividr",
        lambda r, t: [
            *FIT,
            "--data",
            str(_data(r, t)),
            "--out",
            str(r / "o"),
            "--model",
            "idcf",
            "--latent-grid",
            "--stop-on",
            "ndcg",
        ],
        "'--stop-on'",
    ),
    (
        "fit-grid-and-lr",
        "ividr",
        lambda r, t: [
            *FIT,
            "--data",
            str(_data(r, t)),
            "--out",
            str(r / "o"),
            "--grid",
            "--lr",
            "0.5",
        ],
        "'--lr'",
    ),
    (
        "fit-vae-lr",
        "ividr",
        lambda r, t: [
            *FIT,
            "--data",
            str(_data(r, t)),
            "--out",
            str(r / "o"),
            "--model",
            "vae",
            "--lr",
            "0.1",
        ],
        "'--lr'",
    ),
    (
        "fit-mf-trace-every",
        "ividr",
        lambda r, t: [
            *FIT,
            "--data",
            str(_data(r, t)),
            "--out",
            str(r / "o"),
            "--trace-every",
            "2",
        ],
        "'--trace-every'",
    ),
    (
        "fit-released-protocol-and-loss",
        "ividr",
        lambda r, t: [
            *FIT,
            "--data",
            str(_data(r, t)),
            "--out",
            str(r / "o"),
            "--protocol",
            "released",
            "--loss",
            "bce",
        ],
        "'--loss'",
    ),
    (
        "fit-threads-above-cpus",
        "ividr",
        lambda r, t: [
            *FIT,
            "--data",
            str(_data(r, t)),
            "--out",
            str(r / "o"),
            "--threads",
            "100000",
        ],
        "'--threads'",
    ),
    # ividr plot
    (
        "plot-latent-unwritable",
        "ividr",
        lambda r, t: [
            "plot",
            "latent",
            str(_fake_fit_run(r)),
            "--data",
            str(_data(r, t)),
            "--out",
            UNWRITABLE,
        ],
        "'--out'",
    ),
    (
        "plot-latent-inside-data",
        "ividr",
        lambda r, t: [
            "plot",
            "latent",
            str(_fake_fit_run(r)),
            "--data",
            str(_data(r, t)),
            "--out",
            str(r / "D" / "fig"),
        ],
        "'--out'",
    ),
    (
        "plot-sweep-unwritable",
        "ividr",
        lambda r, t: ["plot", "sweep", str(_fake_sweep(r)), "--out", UNWRITABLE],
        "'--out'",
    ),
    (
        "plot-history-unwritable",
        "ividr",
        lambda r, t: ["plot", "history", str(_fake_fit_run(r)), "--out", UNWRITABLE],
        "'--out'",
    ),
    (
        "plot-history-existing-figure-no-overwrite",
        "ividr",
        lambda r, t: ["plot", "history", str(_fake_fit_run(r)), "--out", str(_our_figure(r))],
        "'--out'",
    ),
    (
        "plot-history-foreign-file-overwrite",
        "ividr",
        lambda r, t: [
            "plot",
            "history",
            str(_fake_fit_run(r)),
            "--out",
            str(_foreign_png(r)),
            "--overwrite",
        ],
        "'--out'",
    ),
    (
        "plot-history-out-is-run-dir",
        "ividr",
        lambda r, t: ["plot", "history", str(_fake_fit_run(r, "fig.png")), "--out", str(r / "fig")],
        "'--out'",
    ),
    # ividr sweep
    (
        "sweep-name-and-meta-disagree",
        "ividr",
        lambda r, t: [*SWEEP, "--data", str(_simgen_named(r, t)), "--out", str(r / "s")],
        "'--data'",
    ),
    (
        "sweep-out-inside-data",
        "ividr",
        lambda r, t: [*SWEEP, "--data", str(_data(r, t)), "--out", str(r / "D" / "s")],
        "'--out'",
    ),
    (
        "sweep-out-is-data",
        "ividr",
        lambda r, t: [*SWEEP, "--data", str(_data(r, t)), "--out", str(r / "D")],
        "'--out'",
    ),
    (
        "sweep-out-foreign-folder",
        "ividr",
        lambda r, t: [*SWEEP, "--data", str(_data(r, t)), "--out", str(_notes(r))],
        "'--out'",
    ),
    (
        "sweep-out-dot",
        "ividr",
        lambda r, t: [*SWEEP, "--data", str(_data(r, t)), "--out", "."],
        "'--out'",
    ),
    (
        "sweep-out-unwritable",
        "ividr",
        lambda r, t: [
            *SWEEP,
            "--preset",
            "idcf",
            "--users",
            "20",
            "--items",
            "30",
            "--values",
            "0",
            "--out",
            UNWRITABLE,
        ],
        "'--out'",
    ),
    (
        "sweep-jobs-above-cpus",
        "ividr",
        lambda r, t: [
            *SWEEP,
            "--data",
            str(_data(r, t)),
            "--out",
            str(r / "s"),
            "--jobs",
            "100000",
        ],
        "'--jobs'",
    ),
    (
        "sweep-threads-above-cpus",
        "ividr",
        lambda r, t: [
            *SWEEP,
            "--data",
            str(_data(r, t)),
            "--out",
            str(r / "s"),
            "--threads",
            "100000",
        ],
        "'--threads'",
    ),
    (
        "sweep-mf-latent-epochs",
        "ividr",
        lambda r, t: [
            *SWEEP,
            "--data",
            str(_data(r, t)),
            "--out",
            str(r / "s"),
            "--latent-epochs",
            "3",
        ],
        "'--latent-epochs'",
    ),
    (
        "sweep-latent-grid-stop-on-ndcg",
        "ividr",
        lambda r, t: [
            *SWEEP,
            "--data",
            str(_data(r, t)),
            "--out",
            str(r / "s"),
            "--models",
            "idcf",
            "--latent-grid",
            "--stop-on",
            "ndcg",
        ],
        "'--stop-on'",
    ),
    # simgen
    (
        "simgen-foreign-folder-overwrite",
        "simgen",
        lambda r, t: [*SMALL_SIM, "--out", str(_notes(r)), "--overwrite"],
        "'--out'",
    ),
    (
        "simgen-foreign-meta-json-overwrite",
        "simgen",
        lambda r, t: [*SMALL_SIM, "--out", str(_with_meta(_notes(r))), "--overwrite"],
        "'--out'",
    ),
    ("simgen-out-dot", "simgen", lambda r, t: [*SMALL_SIM, "--out", "."], "'--out'"),
    ("simgen-out-unwritable", "simgen", lambda r, t: [*SMALL_SIM, "--out", UNWRITABLE], "'--out'"),
]


def _foreign_png(root: Path) -> Path:
    """A PNG the user made (no ividr plot marker)."""
    path = _notes(root) / "photo.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n my own picture")
    return path


def _with_meta(folder: Path) -> Path:
    (folder / "meta.json").write_text(json.dumps({"my": "own meta.json"}))
    return folder


@pytest.mark.parametrize(
    ("command", "scene", "option"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_exit_2_one_line_nothing_touched(
    tmp_path, tiny, monkeypatch, command, scene, option
):
    root = tmp_path / "root"
    root.mkdir()
    argv = scene(root, tiny)
    (root / "marker-of-the-cwd.txt").write_text("the cwd is not empty\n")
    monkeypatch.chdir(root)
    before = _tree(root)
    res = CliRunner().invoke(main if command == "ividr" else simgen, argv)
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert res.stderr.count("\n") == 1, res.stderr
    assert option in res.stderr, res.stderr
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)
    assert _tree(root) == before


# -- what --overwrite still does, and what a fit records -----------------------------------------
def test_overwrite_replaces_what_the_command_wrote(tmp_path, tiny):
    data = shutil.copytree(tiny, tmp_path / "D")
    out = tmp_path / "run"
    args = ["fit", "--data", str(data), "--model", "vae", "--out", str(out), "-q"]
    first = CliRunner().invoke(main, [*args, "--epochs", "2", "--n-boot", "0"])
    assert first.exit_code == 0, first.output
    config = _strict_loads((out / "config.json").read_text())
    # vae's --epochs is its latent stage's: recorded as the latent_epochs it set, and none of
    # the recommender stage's settings (vae has none) are recorded as if used.
    assert config["latent_epochs"] == 2 and "epochs" not in config and "lr" not in config
    assert config["latent_dim"] == 2 and config["written_by"] == "ividr fit"
    again = CliRunner().invoke(main, [*args, "--epochs", "3", "--n-boot", "0", "--overwrite"])
    assert again.exit_code == 0, again.output
    assert _strict_loads((out / "config.json").read_text())["latent_epochs"] == 3
    for name in ("metrics.json", "history.json"):
        _strict_loads((out / name).read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["D", "run"]  # no temporaries left
    # the input untouched; the references cache is documented to go beside a simgen dataset
    assert {k: v for k, v in _tree(data).items() if k != "references.json"} == _tree(tiny)

    fig = tmp_path / "fig"
    plot = ["plot", "history", str(out), "--out", str(fig), "-q"]
    assert CliRunner().invoke(main, plot).exit_code == 0
    replaced = CliRunner().invoke(main, [*plot, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert {"fig.png", "fig.pdf"} <= {p.name for p in tmp_path.iterdir()}


def test_config_json_of_mf_records_only_what_mf_uses(tmp_path, tiny):
    out = tmp_path / "run"
    res = CliRunner().invoke(
        main,
        [
            "fit",
            "--data",
            str(tiny),
            "--model",
            "mf",
            "--out",
            str(out),
            "--epochs",
            "1",
            "-q",
            "--n-boot",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    config = _strict_loads((out / "config.json").read_text())
    assert config["epochs"] == 1 and config["lr"] == 1e-3  # None resolved to the value used
    for unused in ("latent_epochs", "latent_dim", "restarts", "stop_on", "shuffle_aux", "rho"):
        assert unused not in config, unused


def test_dumps_json_is_strict_and_says_why_a_value_is_null():
    text = dumps_json({"ndcg@5": float("nan"), "r": [1.0, float("-inf")], "x": np.float64(2)})
    data = _strict_loads(text)
    assert data["ndcg@5"] is None and data["r"] == [1.0, None] and data["x"] == 2.0
    assert set(data["null_reasons"]) == {"ndcg@5", "r[1]"}
    rows = _strict_loads(dumps_json([{"loss": float("inf")}, {"loss": 1.0}]))
    assert rows[0]["loss"] is None and "null_reasons" in rows[0] and "null_reasons" not in rows[1]


# -- datasets identify themselves --------------------------------------------------------------
def test_sweep_reads_simgen_default_names_and_meta(tmp_path):
    from ividr.experiments.data_folders import data_folders, data_sweep_values

    folder = tmp_path / "F"
    for gamma in (0, 10):
        config = SimConfig.from_preset("idcf", n_users=30, n_items=20, gamma=gamma)
        write_dataset(generate(config), folder / config.name)
    assert data_sweep_values(folder) == ("gamma", (0, 10))
    knob, folders = data_folders(folder)
    assert folders["10"].name == "idcf_u30_i20_gamma10_seed0"
    # a folder named by the iDCF convention but holding meta.json is read by its meta.json
    shutil.move(folders["10"], folder / "gamma_10")
    assert data_sweep_values(folder) == ("gamma", (0, 10))
    res = CliRunner().invoke(
        main,
        [
            "sweep",
            "--data",
            str(folder),
            "--out",
            str(tmp_path / "s"),
            "--models",
            "mf",
            "--seeds",
            "1",
            "--epochs",
            "1",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = _strict_loads((tmp_path / "s" / "results.json").read_text())["runs"]
    assert [r["value"] for r in rows] == [0, 10]


# -- exit 1: failures while working --------------------------------------------------------------
def test_fit_that_diverges_exits_1_and_writes_nothing(tmp_path, tiny):
    out = tmp_path / "run"
    res = CliRunner().invoke(
        main,
        [
            "fit",
            "--data",
            str(tiny),
            "--model",
            "mf",
            "--out",
            str(out),
            "--lr",
            "1e30",
            "--epochs",
            "3",
            "-q",
        ],
    )
    assert res.exit_code == 1, res.output
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.output
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == []


def test_sweep_whose_runs_fail_exits_1_and_records_no_row(tmp_path, tiny, monkeypatch):
    import ividr.api

    def boom(*args, **kwargs):
        raise RuntimeError("boom inside training")

    monkeypatch.setattr(ividr.api, "fit_model", boom)
    out = tmp_path / "s"
    res = CliRunner().invoke(
        main,
        ["sweep", "--data", str(tiny), "--out", str(out), "--models", "mf", "--seeds", "2", "-q"],
    )
    assert res.exit_code == 1, res.output
    assert "2 of 2 runs failed" in res.stderr and "Traceback" not in res.output
    assert _strict_loads((out / "results.json").read_text())["runs"] == []
    assert len(list((out / "failures").iterdir())) == 2
