"""An --out that cannot be written is a usage error (§7): exit 2, one line, nothing written."""

from __future__ import annotations

from click.testing import CliRunner

from ividr.cli import main
from simulator.cli import simgen

UNWRITABLE = "/proc/nope/x"


def _one_line_exit_2(res) -> None:
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1, res.stderr
    assert "'--out'" in res.stderr and "Traceback" not in res.output


def test_simgen_unwritable_out():
    res = CliRunner().invoke(simgen, ["--preset", "idcf", "--users", "20", "--out", UNWRITABLE])
    _one_line_exit_2(res)


def test_fit_unwritable_out(external_dataset):
    coat = external_dataset("coat")
    res = CliRunner().invoke(
        main, ["fit", "--data", str(coat), "--model", "mf", "--out", UNWRITABLE, "-q"]
    )
    _one_line_exit_2(res)


def test_sweep_unwritable_out():
    args = ["sweep", "--out", UNWRITABLE, "--preset", "idcf", "--users", "20", "--items", "30"]
    res = CliRunner().invoke(main, [*args, "--values", "0", "--seeds", "1", "-q"])
    _one_line_exit_2(res)


def test_shared_options_have_the_same_defaults_in_fit_and_sweep():
    fit = {p.name: p for p in main.commands["fit"].params}
    sweep = {p.name: p for p in main.commands["sweep"].params}
    for name in ("threads", "quiet", "out"):
        assert fit[name].type.__class__ is sweep[name].type.__class__, name
    assert fit["threads"].default == sweep["threads"].default == 1
    assert "-q" in fit["quiet"].opts and "-q" in sweep["quiet"].opts
    for command in main.commands["plot"].commands.values():
        quiet = next(p for p in command.params if p.name == "quiet")
        assert "-q" in quiet.opts
