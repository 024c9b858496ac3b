"""One hyperparameter spec: estimators, FitConfig, build_estimator and the CLI derive from it."""

from __future__ import annotations

import dataclasses

import click
import click.testing
import numpy as np
import pytest

from ividr import models
from ividr.api import FitConfig, build_estimator
from ividr.cli.common import config_option
from ividr.hyperparams import (
    IViDRParams,
    LatentParams,
    check_fields,
    hyperparameters,
    spec_of,
)
from ividr.registry import LATENT_ONLY, MODELS
from metrics.checks import ParameterError

ESTIMATORS = sorted({m.estimator for m in MODELS})


def _other_value(field: dataclasses.Field, spec) -> object:
    """A valid value different from the field's default."""
    if spec.kind == "bool":
        return not field.default
    if spec.kind == "choice":
        return next(c for c in spec.choices if c != field.default)
    if spec.kind == "device":
        return "cpu"
    if isinstance(field.default, str):  # a special value ("auto") beside a number
        return 0.5
    if spec.kind == "int":
        return (field.default or int(spec.low or 0)) + 2
    if spec.high is not None:
        return (spec.low + spec.high) / 2 if field.default != (spec.low + spec.high) / 2 else 0.75
    return (field.default or 1.0) * 3.0


def _bad_value(spec) -> object:
    """A value the spec rejects."""
    if spec.kind == "bool":
        return 1
    if spec.kind in ("choice", "device"):
        return "no-such-choice"
    if spec.low is not None:
        return spec.low - 1 if spec.kind == "int" else -1.0
    return float("nan")


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimator_init_is_its_spec(name):
    cls = getattr(models, name)
    fields = hyperparameters(cls.Params)
    est = cls()
    assert list(est.get_params()) == [f.name for f in fields]
    assert est.get_params() == {f.name: f.default for f in fields}
    for f in fields:  # the docstring documents every hyperparameter
        assert f"    {f.name} : " in cls.__doc__
    with pytest.raises(TypeError, match="unexpected keyword"):
        cls(no_such_parameter=1)


@pytest.mark.parametrize("entry", MODELS, ids=[m.name for m in MODELS])
def test_every_config_field_reaches_the_estimator(entry):
    cls = getattr(models, entry.estimator)
    changed = {}
    for f in hyperparameters(cls.Params):
        if f.name in entry.kwargs or f.name not in {g.name for g in dataclasses.fields(FitConfig)}:
            continue
        changed[f.name] = _other_value(f, spec_of(cls.Params, f.name)[1])
    if entry.name in LATENT_ONLY:
        changed.pop("latent_epochs", None)
    if changed.get("rho") == 0 and changed.get("tau") == 0:
        changed["tau"] = 0.5
    est = build_estimator(FitConfig(model=entry.name, **changed))
    params = est.get_params()
    assert {k: params[k] for k in changed} == changed
    assert {k: params[k] for k in entry.kwargs} == entry.kwargs


def test_config_none_means_the_models_default_and_epochs_of_a_latent_only_model():
    mf = build_estimator(FitConfig(model="mf"))
    assert (mf.epochs, mf.lr, mf.weight_decay) == (100, 1e-3, 1e-5)
    ivae = build_estimator(FitConfig(model="ivae", epochs=7))
    assert ivae.latent_epochs == 7
    idcf = build_estimator(FitConfig(model="idcf", epochs=7))
    assert (idcf.epochs, idcf.latent_epochs) == (7, 1000)


def test_config_holds_every_stage_and_only_the_model_chooses_the_variant():
    config_fields = {f.name for f in dataclasses.fields(FitConfig)}
    stage_fields = {f.name for f in hyperparameters(IViDRParams)}
    assert stage_fields - config_fields == {"variant"}
    assert FitConfig.from_dict(FitConfig(model="idcf").to_dict()) == FitConfig(model="idcf")


@pytest.mark.parametrize("field", hyperparameters(LatentParams), ids=lambda f: f.name)
def test_a_bad_value_is_refused_by_the_config_and_by_the_estimator(field):
    spec = field.metadata["hyperparameter"]
    bad = _bad_value(spec)
    with pytest.raises(ParameterError, match=f"'{field.name}' parameter of FitConfig"):
        FitConfig(model="idcf", **{field.name: bad}).validate()
    est = models.IDCF(**{field.name: bad})
    with pytest.raises(ParameterError, match=f"'{field.name}' parameter of IDCF"):
        check_fields(est, est.Params, "IDCF")


def test_fit_validates_before_training():
    class Boom(ValueError):
        pass

    est = models.MF(epochs=0)

    class Data:  # never read: fit must refuse the parameters first
        def split_unbiased(self, *_a, **_k):
            raise Boom

    with pytest.raises(ParameterError, match="'epochs' parameter of MF"):
        est.fit(Data())


@pytest.mark.parametrize(
    ("name", "kind", "low"),
    [("restarts", click.IntRange, 1), ("latent_lr", click.FloatRange, 0.0), ("loss", None, None)],
)
def test_cli_options_take_type_range_and_default_from_the_spec(name, kind, low):
    @click.command()
    @config_option(name)
    def cmd(**kwargs):
        click.echo(repr(kwargs[name]))

    option = next(p for p in cmd.params if p.name == name)
    field, spec = spec_of(FitConfig, name)
    assert option.default == field.default
    if kind is None:
        assert isinstance(option.type, click.Choice) and tuple(option.type.choices) == spec.choices
    else:
        assert isinstance(option.type, kind) and option.type.min == low
    result = click.testing.CliRunner().invoke(cmd, [])
    assert result.output.strip() == repr(field.default)
    bad = {"restarts": "0", "latent_lr": "0", "loss": "hinge"}[name]
    flag = "--" + name.replace("_", "-")
    assert click.testing.CliRunner().invoke(cmd, [flag, bad]).exit_code == 2


def test_a_special_value_beside_a_number():
    field, spec = spec_of(FitConfig, "iv_shift")
    assert field.default == "auto" and spec.also == ("auto",)
    for ok in ("auto", 0.0, 1.5):
        FitConfig(model="iv4r-mf", iv_shift=ok).validate()
    for bad in ("bogus", -1.0, True):
        with pytest.raises(ParameterError, match=r"\[0, inf\) or one of \['auto'\]"):
            FitConfig(model="iv4r-mf", iv_shift=bad).validate()


def test_numpy_values_pass_the_checks():
    config = FitConfig(model="idcf", restarts=np.int64(2), latent_lr=np.float32(1e-3))
    assert config.validate() is config
    params = build_estimator(config).get_params()
    assert params["restarts"] == 2 and params["latent_lr"] == pytest.approx(1e-3)
    # The same range checks as for Python numbers: a NumPy scalar is not let through unchecked.
    for bad, name in (
        (dict(restarts=np.int64(0)), "restarts"),
        (dict(latent_lr=np.float32(0.0)), "latent_lr"),
        (dict(latent_lr=np.float64("nan")), "latent_lr"),
        (dict(restarts=np.float64(2.0)), "restarts"),  # a float is not an int
        (dict(restarts=np.bool_(True)), "restarts"),  # nor is a bool
    ):
        with pytest.raises(ParameterError, match=f"'{name}' parameter of FitConfig"):
            FitConfig(model="idcf", **bad).validate()
