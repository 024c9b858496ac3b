"""The spec is the only place: both command lines' options are made from spec fields
(metrics.spec), and both report usage errors through one mechanism (simulator.command)."""

from __future__ import annotations

import dataclasses

import click
import pytest
from click.testing import CliRunner

from ividr.cli import main
from ividr.cli.common import config_option
from ividr.config import FitConfig
from metrics.spec import field_spec, hyperparameters, spec_of
from simulator.cli import OPTION_OF, simgen
from simulator.command import FiniteFloatRange, OneLineCommand, spec_option
from simulator.config import ConfigError, SimConfig

#: Options of FitConfig fields whose default or type is not config_option's: fit's required
#: --model (a field without a default), sweep's comma-separated --stop-on and --variant
#: (several values, one per fit).
OWN_OPTIONS = {"fit": {"model"}, "sweep": {"stop_on", "variant"}}


def _spec_options(command: click.Command, spec_cls: type, own: set[str]):
    names = {f.name for f in hyperparameters(spec_cls)} - own
    return [p for p in command.params if p.name in names]


@pytest.mark.parametrize("name", ["fit", "sweep"])
def test_ividr_options_take_their_help_from_the_spec(name):
    options = _spec_options(main.commands[name], FitConfig, OWN_OPTIONS[name])
    assert len(options) >= 6
    for option in options:
        field, spec = spec_of(FitConfig, option.name)
        assert option.help.startswith(spec.help), option.name
        if field.default is None and spec.default_text:
            assert option.help.endswith(f"[default: {spec.default_text}]")
        assert option.default == field.default


def test_the_own_options_read_the_spec_too():
    fit_params = {p.name: p for p in main.commands["fit"].params}
    field, spec = spec_of(FitConfig, "model")
    model = fit_params["model"]
    assert model.required and model.help == spec.help
    assert tuple(model.type.choices) == spec.choices
    params = {p.name: p for p in main.commands["sweep"].params}
    assert params["stop_on"].default is None
    assert ",".join(spec_of(FitConfig, "stop_on")[1].choices) in params["stop_on"].help
    for knob, flag in (("preset", "--preset"), ("n_users", "--users"), ("n_items", "--items")):
        field, spec = spec_of(SimConfig, knob)
        assert params[knob].opts == [flag] and params[knob].help.startswith(spec.help)
    assert params["preset"].default == "ividr"
    assert params["n_users"].default is None and "ividr 10000" in params["n_users"].help


def test_config_option_takes_no_help_of_its_own():
    with pytest.raises(TypeError):
        config_option("epochs", help="something else")


def test_simgen_options_are_made_from_simconfig():
    options = {p.name: p for p in simgen.params}
    assert list(OPTION_OF) == [n for n in options if n in OPTION_OF]  # the --help order
    for knob, flag in OPTION_OF.items():
        option = options[knob]
        field, spec = spec_of(SimConfig, knob)
        assert option.opts == [flag] and option.help.startswith(spec.help)
        if spec.kind == "int":
            assert isinstance(option.type, click.IntRange) and option.type.min == spec.low
        elif spec.kind == "float":
            assert isinstance(option.type, FiniteFloatRange)
            assert (option.type.min, option.type.max) == (spec.low, spec.high)
        else:
            assert set(option.type.choices) <= set(spec.choices)
    assert options["preset"].default == "ividr"
    assert options["n_users"].default is None  # the preset's, named in the help
    assert "ividr 10000, idcf 2000" in options["n_users"].help


def test_simconfig_validation_reads_the_spec():
    assert [f.name for f in hyperparameters(SimConfig)] == [
        f.name for f in dataclasses.fields(SimConfig)
    ]
    assert field_spec(dataclasses.fields(SimConfig)[0]).kind == "choice"
    with pytest.raises(ConfigError, match=r"\(0, 1\]") as info:
        SimConfig(alpha=0.0).validate()
    assert info.value.param == "alpha"
    assert "alpha : float in (0, 1], default 0.1" in SimConfig.__doc__


def test_a_spec_option_on_a_command_of_its_own():
    @click.command(cls=OneLineCommand)
    @spec_option(SimConfig, "latent_dim", default=None, default_text="the preset's")
    def cmd(latent_dim):
        click.echo(repr(latent_dim))

    assert CliRunner().invoke(cmd, []).output.strip() == "None"
    assert CliRunner().invoke(cmd, ["--latent-dim", "3"]).output.strip() == "3"
    bad = CliRunner().invoke(cmd, ["--latent-dim", "0"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1


@pytest.mark.parametrize(
    ("command", "args", "option"),
    [
        (simgen, ["--gamma", "-1"], "--gamma"),
        (simgen, ["--users", "50", "--items", "20", "--random-items", "30"], "--random-items"),
        (main, ["fit", "--data", ".", "--model", "mf", "--restarts", "0"], "--restarts"),
        (main, ["sweep", "--out", "x", "--epochs", "0"], "--epochs"),
        (main, ["no-such-command"], "no-such-command"),
    ],
)
def test_both_command_lines_report_bad_input_alike(tmp_path, command, args, option):
    res = CliRunner().invoke(command, args)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and option in lines[0]
    assert "Traceback" not in res.output and res.stdout == ""
