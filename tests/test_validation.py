"""Every public boundary rejects a bad parameter with one message style (metrics.checks)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ividr.api import FitConfig
from ividr.experiments.errors import SweepError
from ividr.experiments.grid import SweepConfig
from ividr.experiments.runner import run_sweep
from ividr.reporting.plots import PlotError, plot_sweep
from ividr.training.protocols import protocol_settings
from metrics import MetricInputError, align_latents, bootstrap_ci, mcc, ndcg_recall_at_k
from metrics.checks import ParameterError, check_bool, check_choice, check_float, check_int
from simulator import SimConfig
from simulator.config import ConfigError
from simulator.loaders import load_dataset

STYLE = re.compile(r"^The '(\w+)' parameter of [\w.]+ must be .+\. Got .+ instead\.$")
RNG = np.random.default_rng(0)
TRUE, LEARNED = RNG.normal(size=(20, 2)), RNG.normal(size=(20, 2))

CASES = [
    ("lr", ValueError, lambda: FitConfig(model="mf", lr=-1.0).validate()),
    ("restarts", ValueError, lambda: FitConfig(model="idcf", restarts=0).validate()),
    ("grid", ValueError, lambda: FitConfig(model="mf", grid=1).validate()),
    ("stop_on", ValueError, lambda: FitConfig(model="idcf", stop_on="mcc").validate()),
    ("gamma", ConfigError, lambda: SimConfig(gamma=-1.0).validate()),
    ("random_items", ConfigError, lambda: SimConfig(n_items=10, random_items=11).validate()),
    ("preset", ConfigError, lambda: SimConfig.from_preset("nope")),
    ("seeds", SweepError, lambda: SweepConfig(seeds=0)),
    ("jobs", SweepError, lambda: run_sweep(SweepConfig(), "unused", jobs=0)),
    ("metric", PlotError, lambda: plot_sweep("unused", metric="auc")),
    ("protocol", ValueError, lambda: protocol_settings("paper", "idcf")),
    ("weak", MetricInputError, lambda: mcc(TRUE, LEARNED, weak=1)),
    ("scale", MetricInputError, lambda: align_latents(TRUE, LEARNED, scale="max")),
    ("k", ValueError, lambda: ndcg_recall_at_k(np.zeros(3), np.ones(3), np.ones(3), 0)),
    ("level", MetricInputError, lambda: bootstrap_ci(np.mean, np.ones(5), level=1.0)),
    ("format", ValueError, lambda: load_dataset("unused", format="parquet")),
]


@pytest.mark.parametrize(("param", "error", "call"), CASES, ids=[c[0] for c in CASES])
def test_boundaries_share_one_message_style(param, error, call):
    with pytest.raises(error) as info:
        call()
    exc = info.value
    assert isinstance(exc, ParameterError) and isinstance(exc, ValueError)
    assert exc.param == param
    match = STYLE.match(str(exc))
    assert match, str(exc)
    assert match.group(1) == param


def test_check_int_accepts_numpy_ints_and_rejects_bools_and_floats():
    assert check_int(np.int64(3), "n", "f", low=1) == 3
    assert check_int(None, "n", "f", optional=True) is None
    for bad in (True, 2.0, "2", 0):
        with pytest.raises(ParameterError, match=r"an int in the range \[1, inf\)\. Got"):
            check_int(bad, "n", "f", low=1)
    with pytest.raises(ParameterError, match=r"\[1, 5\] or None\. Got 6 instead"):
        check_int(6, "n", "f", low=1, high=5, optional=True)


def test_check_float_intervals_and_non_finite_values():
    assert check_float(1, "x", "f", low=0.0, high=1.0) == 1.0
    with pytest.raises(ParameterError, match=r"range \(0, 1\)\. Got 1\.0 instead"):
        check_float(1.0, "x", "f", low=0.0, high=1.0, low_open=True, high_open=True)
    with pytest.raises(ParameterError, match=r"range \(-inf, inf\)\. Got nan instead"):
        check_float(float("nan"), "x", "f")
    with pytest.raises(ParameterError, match="Got False instead"):
        check_float(False, "x", "f")


def test_check_bool_and_choice_carry_the_allowed_values():
    assert check_bool(np.bool_(True), "flag", "f") is True
    with pytest.raises(ParameterError) as info:
        check_bool(1, "flag", "f")
    assert info.value.allowed == "a bool" and info.value.got == 1
    with pytest.raises(ParameterError) as info:
        check_choice("c", "mode", "f", ("a", "b"), error=MetricInputError)
    assert isinstance(info.value, MetricInputError)
    expected = "The 'mode' parameter of f must be one of ['a', 'b']. Got 'c' instead."
    assert str(info.value) == expected
