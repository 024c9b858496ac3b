"""A sweep's variant axis: named fit variants (FitConfig overrides) beside each model's base."""

from __future__ import annotations

import csv
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from ividr.config import FitConfig
from ividr.experiments.errors import SweepError
from ividr.experiments.grid import SweepConfig
from ividr.experiments.runner import run_sweep
from ividr.experiments.store import finished_runs, load_results
from ividr.experiments.variants import DEFAULT_STOP_RULE, legacy_variants, model_label
from ividr.registry import display_name

VARIANTS = {"shuffle": {"shuffle_aux": True}, "ndcg": {"stop_on": "ndcg"}}


def fake_fit(dataset, config, spec):
    """Scores from the run id; the shuffled variant scores 0.3 lower; records its FitConfig."""
    rng = np.random.default_rng(zlib.crc32(spec.run_id.encode()))
    fit = config.fit_config(spec.model, spec.seed, spec.variant)
    mcc = float(rng.uniform(0.5, 0.6)) - (0.3 if fit.shuffle_aux else 0.0)
    metrics = {"mcc": mcc, "mcc_weak": 0.5, "ndcg@5": float(rng.uniform()), "seconds": 0.0}
    config_json = {"model": fit.model, "shuffle_aux": fit.shuffle_aux, "stop_on": fit.stop_on}
    return {"metrics": metrics, "latents": None, "config": config_json}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def config(**changes) -> SweepConfig:
    base = dict(
        preset="idcf",
        values=(0.0,),
        models=("mf", "idcf"),
        seeds=3,
        n_users=200,
        n_items=40,
        variants=VARIANTS,
    )
    return SweepConfig(**{**base, **changes})


def test_the_grid_runs_each_model_base_then_the_variants_that_apply():
    c = config()
    assert c.model_variants("mf") == ("",)  # mf uses neither shuffle_aux nor stop_on
    assert c.model_variants("idcf") == ("", "shuffle", "ndcg")
    assert c.labels() == ["mf", "idcf", "idcf[shuffle]", "idcf[ndcg]"]
    ids = [s.run_id for s in c.runs()][:4]
    assert ids == [
        "gamma=0__mf__seed=0",
        "gamma=0__idcf__seed=0",
        "gamma=0__idcf__variant=shuffle__seed=0",
        "gamma=0__idcf__variant=ndcg__seed=0",
    ]
    fit = c.fit_config("idcf", 1, "shuffle")
    assert (fit.model, fit.seed, fit.shuffle_aux, fit.stop_on) == ("idcf", 1, True, "elbo")
    # a variant's field wins over fit_overrides and --epochs
    c2 = config(epochs=3, fit_overrides={"lr": 0.1}, variants={"slow": {"lr": 0.01, "epochs": 9}})
    assert (c2.fit_config("mf", 0, "slow").lr, c2.fit_config("mf", 0, "slow").epochs) == (0.01, 9)
    assert (c2.fit_config("mf", 0).lr, c2.fit_config("mf", 0).epochs) == (0.1, 3)
    assert model_label("idcf") == "idcf" and model_label("idcf", "ndcg") == "idcf[ndcg]"
    assert display_name("idcf[shuffle]") == "iDCF (W shuffled)"
    assert display_name("idcf[ndcg]") == "iDCF [ndcg]"
    assert FitConfig(model="idcf").stop_on == DEFAULT_STOP_RULE


def test_no_variants_is_saved_as_before_and_variants_round_trip():
    plain = config(variants={})
    assert "variants" not in plain.to_dict()
    assert [s.run_id for s in plain.runs()] == [
        f"gamma=0__{m}__seed={s}" for s in range(3) for m in ("mf", "idcf")
    ]
    c = config()
    again = SweepConfig.from_dict(c.to_dict())
    assert again == c and list(again.variants) == ["shuffle", "ndcg"]
    assert c != config(variants={"ndcg": {"stop_on": "ndcg"}})


@pytest.mark.parametrize(
    "variants, needle",
    [
        ({"1st": {"lr": 0.1}}, "identifier"),
        ({"a-b": {"lr": 0.1}}, "identifier"),
        ({"x": {}}, "at least one"),
        ({"x": {"lr_": 0.1}}, "'lr_'"),
        ({"x": {"seed": 1}}, "own axis"),
        ({"x": {"model": "mf"}}, "own axis"),
        ({"x": {"lr": -1.0}}, "'lr' parameter"),
        ({"x": {"stop_on": "mcc"}}, "'stop_on' parameter"),
        ({"x": {"rho": 0.5}}, "applies to none"),
        ({"x": {"shuffle_aux": True}}, "applies to none"),
    ],
)
def test_bad_variants_are_refused(variants, needle):
    models = ("mf", "idcf") if "shuffle_aux" not in str(variants) else ("mf",)
    with pytest.raises(SweepError, match=needle):
        config(models=models, variants=variants)


def test_legacy_suffixes_become_variants_limited_to_the_models_that_carry_them():
    assert legacy_variants(["idcf", "idcf+shuffle", "mf"]) == (
        ("idcf", "mf"),
        {"shuffle": {"shuffle_aux": True}},
        {"shuffle": ("idcf",)},
    )
    models, variants, limits = legacy_variants(
        ["idcf@elbo", "idcf@ndcg", "ividr", "idcf+shuffle@epochs", "ividr+shuffle@epochs"]
    )
    assert models == ("idcf", "ividr")
    assert variants == {
        "ndcg": {"stop_on": "ndcg"},
        "shuffle_epochs": {"shuffle_aux": True, "stop_on": "epochs"},
    }
    assert limits == {"ndcg": ("idcf",), "shuffle_epochs": ("idcf", "ividr")}


def test_a_variant_limited_to_some_models_runs_on_those_only():
    shuffle = {"shuffle": {"shuffle_aux": True}}
    models = ("idcf", "ividr", "ividr-released")
    c = config(models=models, variants=shuffle, variant_models={"shuffle": ["ividr", "idcf"]})
    assert c.labels() == ["idcf", "idcf[shuffle]", "ividr", "ividr[shuffle]", "ividr-released"]
    assert c.model_variants("ividr-released") == ("",)
    assert c.variant_models == {"shuffle": ("idcf", "ividr")}  # in the sweep's model order
    assert c.to_dict()["variant_models"] == {"shuffle": ["idcf", "ividr"]}
    again = SweepConfig.from_dict(c.to_dict())
    assert again == c and again.labels() == c.labels()
    assert c.diff(config(models=models, variants=shuffle)) == ["variant_models"]
    # a limit that limits nothing is dropped: the same fits are the same sweep
    whole = config(models=("mf", "idcf"), variants=shuffle, variant_models={"shuffle": ("idcf",)})
    assert whole == config(models=("mf", "idcf"), variants=shuffle)
    assert "variant_models" not in whole.to_dict()
    # other variants still run on every model they apply to
    both = config(variant_models={"ndcg": ("idcf",)}, models=("mf", "idcf", "ividr"))
    assert both.model_variants("ividr") == ("", "shuffle")
    assert both.model_variants("idcf") == ("", "shuffle", "ndcg")


@pytest.mark.parametrize(
    "limits, needle",
    [
        ({"nope": ("idcf",)}, "not a variant"),
        ({"shuffle": ()}, "non-empty list"),
        ({"shuffle": "idcf"}, "non-empty list"),
        ({"shuffle": ("idcf", "idcf")}, "distinct"),
        ({"shuffle": ("ividr",)}, "'ividr' is not a model of the sweep"),
        ({"shuffle": ("idcf+shuffle",)}, "is not a known model"),
        ({"shuffle": ("mf",)}, "'mf' does not use ['shuffle_aux']"),
        (["shuffle"], "must be a dict"),
    ],
)
def test_bad_variant_limits_are_refused(limits, needle):
    with pytest.raises(SweepError, match=re.escape(needle)):
        config(variant_models=limits)


def test_a_sweep_with_variants_writes_rows_summaries_and_tests_by_label(tmp_path):
    c = config()
    out = tmp_path / "s"
    first = run_sweep(c, out, fit_fn=fake_fit)
    assert not first.failures and len(first.ran) == 12
    again = run_sweep(c, out, fit_fn=fake_fit)  # resumed: every (model, variant, seed) is done
    assert again.ran == [] and len(again.skipped) == 12
    rows = read_csv(out / "results.csv")
    assert list(rows[0])[:5] == ["run_id", "knob", "value", "model", "variant"]
    assert [(r["model"], r["variant"]) for r in rows[:4]] == [
        ("mf", ""),
        ("idcf", ""),
        ("idcf", "shuffle"),
        ("idcf", "ndcg"),
    ]
    run = out / "runs" / "gamma=0__idcf__variant=shuffle__seed=2"
    assert (run / "result.json").is_file()
    assert '"shuffle_aux": true' in (run / "config.json").read_text()
    summary = [r for r in read_csv(out / "summary.csv") if r["metric"] == "mcc"]
    assert [r["model"] for r in summary] == ["mf", "idcf", "idcf[shuffle]", "idcf[ndcg]"]
    assert all(r["n"] == "3" for r in summary)
    tests = read_csv(out / "summary_tests.csv")
    key = ("mcc", "idcf", "idcf[shuffle]")
    pair = next(t for t in tests if (t["metric"], t["model_a"], t["model_b"]) == key)
    assert pair["n"] == "3" and float(pair["mean_diff"]) > 0.2
    md = (out / "summary.md").read_text()
    assert "| idcf[ndcg] |" in md and "`shuffle` = {'shuffle_aux': True}" in md
    loaded, loaded_rows = load_results(out)
    assert loaded == c and len(loaded_rows) == len(finished_runs(out)) == 12
    # a sweep of other variants is refused in the same directory
    with pytest.raises(SweepError, match="variants"):
        run_sweep(config(variants={"ndcg": {"stop_on": "ndcg"}}), out, fit_fn=fake_fit)


def _sweep(*args: str):
    from click.testing import CliRunner

    from ividr.cli import main

    return CliRunner().invoke(main, ["sweep", "--quiet", *args])


@pytest.mark.parametrize(
    "variant, needle",
    [
        ("1st:lr=0.1", "identifier"),
        ("x:no_such_field=1", "'no_such_field'"),
        ("x:lr=fast", "lr: expected a number"),
        ("x:lr=-1", "'lr' parameter"),
        ("x:shuffle_aux=maybe", "true or false"),
        ("x", "NAME:KEY=VALUE"),
        ("shuffle:lr=0.1", "names two variants"),
    ],
)
def test_cli_bad_variants_are_one_line_usage_errors(tmp_path, variant, needle):
    out = tmp_path / "bad"
    res = _sweep("--out", str(out), "--models", "mf,idcf,idcf+shuffle", "--variant", variant)
    assert res.exit_code == 2 and "'--variant'" in res.stderr and needle in res.stderr
    assert res.stderr.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize(
    "models, limits, needle",
    [
        ("mf,idcf,ividr", ["x:idcf"], "not the NAME of a --variant"),
        ("mf,idcf,ividr", ["w"], "NAME:MODEL"),
        ("mf,idcf,ividr", ["w:idcf,"], "NAME:MODEL"),
        ("mf,idcf,ividr", ["w:idcf,idcf"], "a model twice"),
        ("mf,idcf,ividr", ["w:idcf", "w:ividr"], "limited twice"),
        ("mf,idcf,idcf+shuffle", ["shuffle:idcf"], "suffix of --models"),
        ("mf,idcf,ividr", ["w:foo"], "'foo' is not a known model"),
        ("mf,idcf,ividr", ["w:ividr-t"], "'ividr-t' is not a model of the sweep"),
        ("mf,idcf,ividr", ["w:mf"], "'mf' does not use ['shuffle_aux']"),
    ],
)
def test_cli_bad_variant_models_are_one_line_usage_errors(tmp_path, models, limits, needle):
    out = tmp_path / "bad"
    args = ["--out", str(out), "--models", models, "--variant", "w:shuffle_aux=true"]
    for text in limits:
        args += ["--variant-models", text]
    res = _sweep(*args)
    assert res.exit_code == 2 and "'--variant-models'" in res.stderr, res.stderr
    assert needle in res.stderr and res.stderr.count("\n") == 1 and not out.exists()


def test_cli_variant_and_the_old_suffix_are_the_same_sweep(tmp_path):
    out = tmp_path / "s"
    tiny = ["--preset", "idcf", "--users", "60", "--items", "30", "--values", "0", "--seeds", "1"]
    tiny += ["--epochs", "1", "--latent-epochs", "2", "--restarts", "1", "--out", str(out)]
    res = _sweep(*tiny, "--models", "mf,idcf", "--variant", "shuffle:shuffle-aux=true")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "gamma=0__idcf__seed=0",
        "gamma=0__idcf__variant=shuffle__seed=0",
        "gamma=0__mf__seed=0",
    ]
    # the old spelling is translated into the same variant: the sweep resumes, nothing to redo
    again = _sweep(*tiny, "--models", "mf,idcf,idcf+shuffle")
    assert again.exit_code == 0, again.output
    assert (out / "summary.md").read_text().count("| idcf[shuffle] |") >= 3


def test_cli_the_old_suffix_and_variant_models_limit_the_variant(tmp_path):
    tiny = ["--preset", "idcf", "--users", "60", "--items", "30", "--values", "0", "--seeds", "1"]
    tiny += ["--epochs", "1", "--latent-epochs", "2", "--restarts", "1"]
    out = tmp_path / "s"
    res = _sweep(*tiny, "--out", str(out), "--models", "mf,idcf,ividr-released,idcf+shuffle")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "gamma=0__idcf__seed=0",
        "gamma=0__idcf__variant=shuffle__seed=0",
        "gamma=0__ividr-released__seed=0",
        "gamma=0__mf__seed=0",
    ]
    # the same limit spelled as a variant: the same sweep (it resumes, nothing to redo)
    spelled = ["--variant", "shuffle:shuffle_aux=true", "--variant-models", "shuffle:idcf"]
    again = _sweep(*tiny, "--out", str(out), "--models", "mf,idcf,ividr-released", *spelled)
    assert again.exit_code == 0, again.output
    assert len(list((out / "runs").iterdir())) == 4
    # --stop-on keeps the limit on each rule's variant
    from ividr.cli.sweep_variants import variants_from_options

    models = ["idcf", "ividr", "idcf+shuffle"]
    plain, variants, limits, skip = variants_from_options(models, (), (), "elbo,ndcg")
    assert skip == ()  # idcf is named plain too
    assert plain == "idcf,ividr" and list(variants) == ["ndcg", "shuffle", "shuffle_ndcg"]
    assert limits == {"shuffle": ("idcf",), "shuffle_ndcg": ("idcf",)}


def test_stop_on_without_elbo_runs_the_latent_models_rules_only():
    """--stop-on ndcg asks for ndcg only: the latent models skip their base (elbo); mf, which
    takes no rule, keeps its base; with elbo listed every base runs."""
    from ividr.cli.sweep_variants import variants_from_options

    plain, variants, _, skip = variants_from_options(["mf", "idcf", "ividr"], (), (), "ndcg")
    assert plain == "mf,idcf,ividr" and variants == {"ndcg": {"stop_on": "ndcg"}}
    assert skip == ("idcf", "ividr")
    c = SweepConfig(models=tuple(plain.split(",")), variants=variants, skip_base=skip)
    assert c.labels() == ["mf", "idcf[ndcg]", "ividr[ndcg]"]
    assert variants_from_options(["mf", "idcf"], (), (), "elbo,ndcg")[3] == ()
    # a variant of its own is crossed with the rules too, and keeps its limit
    plain, variants, limits, skip = variants_from_options(
        ["idcf", "ividr"], ("w:shuffle_aux=true",), ("w:idcf",), "ndcg"
    )
    assert list(variants) == ["ndcg", "w_ndcg"] and limits == {"w_ndcg": ("idcf",)}
    assert skip == ("idcf", "ividr")


def test_skip_base_runs_a_models_variants_only_and_round_trips(tmp_path):
    c = config(skip_base=("idcf",))
    assert c.model_variants("idcf") == ("shuffle", "ndcg")
    assert c.labels() == ["mf", "idcf[shuffle]", "idcf[ndcg]"]
    assert c.to_dict()["skip_base"] == ["idcf"] and "skip_base" not in config().to_dict()
    assert SweepConfig.from_dict(c.to_dict()) == c and c.diff(config()) == ["skip_base"]
    out = tmp_path / "s"
    first = run_sweep(c, out, fit_fn=fake_fit)
    assert not first.failures and len(first.ran) == 9  # 3 seeds x (mf, 2 idcf variants)
    assert not [p for p in (out / "runs").iterdir() if "__idcf__seed" in p.name]
    summary = [r for r in read_csv(out / "summary.csv") if r["metric"] == "mcc"]
    assert [r["model"] for r in summary] == ["mf", "idcf[shuffle]", "idcf[ndcg]"]


@pytest.mark.parametrize(
    "skip, needle",
    [
        (("ividr",), "among the sweep's models"),
        (("mf",), "'mf', which runs no variant"),
        (("idcf", "idcf"), "distinct models"),
        ("idcf", "distinct models"),
    ],
)
def test_bad_skip_base_is_refused(skip, needle):
    with pytest.raises(SweepError, match=re.escape(needle)):
        config(skip_base=skip)


def test_cli_skip_base_and_a_model_named_only_with_a_suffix_run_no_base(tmp_path):
    tiny = ["--preset", "idcf", "--users", "60", "--items", "30", "--values", "0", "--seeds", "1"]
    tiny += ["--epochs", "1", "--latent-epochs", "2", "--restarts", "1"]
    out = tmp_path / "s"
    res = _sweep(*tiny, "--out", str(out), "--models", "mf,idcf+shuffle")
    assert res.exit_code == 0, res.output
    runs = ["gamma=0__idcf__variant=shuffle__seed=0", "gamma=0__mf__seed=0"]
    assert sorted(p.name for p in (out / "runs").iterdir()) == runs
    # the same sweep spelled with --skip-base: it resumes, nothing to redo
    spelled = ["--variant", "shuffle:shuffle_aux=true", "--skip-base", "idcf"]
    again = _sweep(*tiny, "--out", str(out), "--models", "mf,idcf", *spelled)
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in (out / "runs").iterdir()) == runs
    assert '"skip_base": [\n    "idcf"\n  ]' in (out / "sweep.json").read_text()


@pytest.mark.parametrize(
    "skip, needle", [("mf", "'mf', which runs no variant"), ("ividr", "among the sweep's models")]
)
def test_cli_bad_skip_base_is_a_one_line_usage_error(tmp_path, skip, needle):
    out = tmp_path / "bad"
    args = ["--out", str(out), "--models", "mf,idcf", "--variant", "w:shuffle_aux=true"]
    res = _sweep(*args, "--skip-base", skip)
    assert res.exit_code == 2 and "'--skip-base'" in res.stderr, res.stderr
    assert needle in res.stderr and res.stderr.count("\n") == 1 and not out.exists()
