"""The IViDR paper's Table 5 draw (external dataset ``ividr-sim``, docs/data.md): it loads as its
README says, a short iDCF fit on a subsample beats chance, and the benchmark script writes its
tables (issue 12).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ividr.api import FitConfig, fit_model
from metrics import chance_mcc, mcc
from simulator.loaders import load_dataset

ROOT = Path(__file__).resolve().parents[1]
GAMMAS = (0, 5, 10, 15, 20)
#: Margin over the chance level's 95th percentile (0.04 for 2,000 users). On the first 2,000
#: users at gamma 0, 40 latent epochs give iDCF MCC 0.76-0.77 (seeds 0-2, ~4 s a fit), so 0.3
#: above chance leaves room while failing for latents that carry little of C.
MARGIN = 0.3
#: The IViDR paper's Table 5 (MCC, single runs) for gamma 0, 5, 10, 15, 20, as the dataset's
#: README states it ("The IViDR paper's Table 5 on this data"); written out here, not read from
#: the code, so that a figure changed there is caught.
PAPER_TABLE5 = {
    "idcf": (0.8162, 0.7034, 0.6475, 0.5449, 0.4264),
    "ividr": (0.8405, 0.7826, 0.7659, 0.6879, 0.6262),
}


@pytest.fixture(scope="module")
def data_dir(external_dataset) -> Path:
    return external_dataset("ividr-sim")


def readme_exposures(data_dir: Path) -> dict[int, int]:
    """gamma -> exposure count, from the line 'Exposures for gamma 0, 5, ...: n0, n5, ...'."""
    text = (data_dir / "README.md").read_text(encoding="utf-8")
    found = re.search(r"Exposures for gamma ([\d, ]+):\s*([\d, ]+)\.", text)
    assert found, "the README's exposure line is missing"
    gammas = [int(g) for g in found.group(1).split(",")]
    counts = [int(n) for n in found.group(2).split(",")]
    assert len(gammas) == len(counts)
    return dict(zip(gammas, counts, strict=True))


@pytest.fixture
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_readme_lists_the_exposures_of_every_gamma(data_dir):
    assert readme_exposures(data_dir) == {
        0: 655479,
        5: 531576,
        10: 516127,
        15: 510742,
        20: 508083,
    }


def test_readme_states_the_papers_table5(data_dir):
    text = " ".join((data_dir / "README.md").read_text(encoding="utf-8").split())
    found = re.search(r"Table 5 on this data .*?: iDCF ([\d., ]+); IViDR ([\d., ]+) \(gamma", text)
    assert found, "the README's Table 5 line is missing"
    stated = [tuple(float(x) for x in g.strip(" ,").split(",")) for g in found.groups()]
    assert stated == [PAPER_TABLE5["idcf"], PAPER_TABLE5["ividr"]]


@pytest.mark.parametrize("gamma", GAMMAS)
def test_loader_reads_the_folder_as_its_readme_says(data_dir, gamma):
    path = data_dir / f"gamma_{gamma}"
    if not path.is_dir():
        pytest.skip(f"{path} is absent from this copy of ividr-sim")
    data = load_dataset(path)
    assert (data.n_users, data.n_items) == (10_000, 1_000)
    assert len(data.train) == readme_exposures(data_dir)[gamma]
    assert len(data.unbiased) == 15 * 10_000  # 15 random items per user
    assert data.confounder is not None and data.confounder.shape == (10_000, 2)
    assert data.proxy.shape == (10_000, 1) and data.proxy_levels == (5,)
    # The layout's instrument is W itself (docs/design.md §2).
    np.testing.assert_array_equal(data.instrument, data.proxy)


@pytest.mark.slow
def test_short_idcf_fit_on_a_subsample_beats_chance(one_thread, data_dir):
    path = data_dir / "gamma_0"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    data = load_dataset(path).first_users(2000)
    truth = data.confounder
    result = fit_model(
        data, FitConfig(model="idcf", seed=0, latent_epochs=40, epochs=2, n_boot=0, trace_every=0)
    )
    assert result.latents is not None and result.latents.shape == (2000, 2)
    chance = chance_mcc(data.n_users, truth.shape[1], result.latents.shape[1], random_state=0)
    score = mcc(truth, result.latents)
    assert score == pytest.approx(result.metrics["mcc"])
    assert score > chance["p95"] + MARGIN, (score, chance)


# -- the benchmark script -------------------------------------------------------------------
def load_benchmark():
    spec = importlib.util.spec_from_file_location("ividr_sim", ROOT / "benchmarks" / "ividr_sim.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ividr_sim", module)
    spec.loader.exec_module(module)
    return module


def table(text: str, first_head: str) -> list[list[str]]:
    """The cells of the Markdown table whose header starts with ``| first_head |``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_head} |"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return [rows[0], *rows[2:]]  # header, then body (the --- line dropped)


def test_the_code_holds_the_papers_table5_of_every_gamma():
    from benchmarks._ividr_sim_report import paper_figure
    from ividr.paper import TABLE5_GAMMAS, TABLE5_MCC, table5_mcc

    assert tuple(TABLE5_GAMMAS) == GAMMAS
    assert {m: tuple(v) for m, v in TABLE5_MCC.items()} == PAPER_TABLE5
    assert all(
        table5_mcc(m, g) == f
        for m, figs in PAPER_TABLE5.items()
        for g, f in zip(GAMMAS, figs, strict=True)
    )
    for model, figures in PAPER_TABLE5.items():
        for gamma, figure in zip(GAMMAS, figures, strict=True):
            assert paper_figure(model, gamma, True) == figure
            assert paper_figure(model, gamma, False) is None  # another dataset
    assert paper_figure("ividr-released", 0, True) is None  # not in the paper


def test_benchmark_fits_w_shuffled_only_the_shuffle_models():
    import click

    bench = load_benchmark()
    assert bench.check_models(bench.DEFAULT_MODELS, bench.DEFAULT_SHUFFLE_MODELS) == (
        ("idcf", "ividr", "ividr-released"),
        ("idcf", "ividr"),
    )
    assert bench.check_models("idcf", "none") == (("idcf",), ())
    for models, shuffled, hint in [
        ("idcf,idcf+shuffle", "none", "--models"),  # the old spelling points to --shuffle-models
        ("idcf,nope", "none", "--models"),
        ("idcf", "ividr", "--shuffle-models"),
    ]:
        with pytest.raises(click.BadParameter) as err:
            bench.check_models(models, shuffled)
        assert err.value.param_hint == f"'{hint}'"
    rows = [
        {"value": 0, "seed": 0, "model": "idcf", "variant": ""},
        {"value": 0, "seed": 0, "model": "idcf", "variant": "shuffle"},
        {"value": 0, "seed": 0, "model": "ividr-released", "variant": ""},
        {"value": 5, "seed": 0, "model": "idcf", "variant": ""},
    ]
    labels = [(r["value"], r["model"]) for r in bench.labelled(rows)]
    assert labels == [(0, "idcf"), (0, "ividr-released"), (0, "idcf[shuffle]"), (5, "idcf")]


@pytest.mark.slow
def test_benchmark_writes_its_tables_on_a_tiny_subsample(tmp_path, one_thread, data_dir):
    bench = load_benchmark()
    results = tmp_path / "results"
    args = [
        "--data",
        str(data_dir),
        "--users",
        "150",
        "--values",
        "0",
        "--factor-values",
        "0",
        "--model-seeds",
        "1",
    ]
    args += ["--latent-epochs", "3", "--epochs", "1", "--factors", "--jobs", "1", "--quiet"]
    args += ["--out", str(tmp_path / "out"), "--results-dir", str(results)]
    res = CliRunner().invoke(bench.main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output

    text = (results / "ividr_sim.md").read_text(encoding="utf-8")
    head, *body = table(text, "model")
    assert head == [
        "model",
        "γ",
        "MCC (ours)",
        "paper",
        "prior-only MCC",
        "posterior mean unshrunk",
        "W-shuffled MCC",
        "proxy oracle",
        "chance (mean / p95)",
        "ceiling: exposures + W",
        "ceiling: exposures",
    ]
    by_model = {row[0]: row for row in body}
    assert list(by_model) == ["iDCF", "IViDR", "ividr-released (audit)"]
    assert all(row[1] == "0" for row in body)
    paper = [f"{PAPER_TABLE5[m][0]:.4f}" for m in ("idcf", "ividr")]  # gamma 0
    assert [by_model["iDCF"][3], by_model["IViDR"][3]] == paper
    assert by_model["ividr-released (audit)"][3] == "–"  # the paper has no such row
    for row in body:
        assert row[2].startswith(tuple("0123456789"))  # our MCC
        assert row[4] != "–"  # prior-only
        for cell in row[7:]:
            assert cell != "–"  # references: oracle, chance, the two ceilings
    # The posterior mean before IViDR's split-half shrinkage: IViDR's alone shrinks.
    assert by_model["IViDR"][5] != "–"
    assert by_model["iDCF"][5] == "–" and by_model["ividr-released (audit)"][5] == "–"
    assert by_model["iDCF"][6] != "–" and by_model["IViDR"][6] != "–"  # W-shuffled ran
    assert by_model["ividr-released (audit)"][6] == "–"
    assert "How to read it" in text and "Command: `" in text and "Wall time:" in text
    runs = (results / "ividr_sim_runs.csv").read_text().splitlines()
    assert runs[0].startswith("gamma,model,seed,mcc,")
    # 3 models and the W-shuffled iDCF and IViDR (not ividr-released) x 1 gamma x 1 seed
    assert [line.split(",")[1] for line in runs[1:]] == [
        "idcf",
        "ividr",
        "ividr-released",
        "idcf[shuffle]",
        "ividr[shuffle]",
    ]

    factors = (results / "ividr_sim_factors.md").read_text(encoding="utf-8")
    head, *body = table(factors, "factor")
    assert head == ["factor", "iDCF γ=0", "IViDR γ=0"]
    labels = [row[0] for row in body]
    assert labels[0] == "ours (defaults)"
    assert labels[1].startswith("protocol released") and "grid" in labels[2]
    assert labels[3].startswith("4 restarts") and labels[4].startswith("released forward pass")
    assert labels[5].startswith("paper") and body[5][1:] == paper
    assert body[4][1] == "–" and body[4][2] != "–"  # the forward pass: IViDR only
    assert all(c != "–" for row in body[:4] for c in row[1:])
    factor_runs = (results / "ividr_sim_factors_runs.csv").read_text().splitlines()
    assert factor_runs[0].startswith("factor,gamma,model,")
    assert len(factor_runs) == 1 + 2 * 4 + 1  # idcf, ividr x 4 factors + the forward pass
