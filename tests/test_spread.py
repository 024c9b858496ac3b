"""metrics.variance_split: the between-draw / within-draw parts of a figure's spread."""

from __future__ import annotations

import numpy as np
import pytest

from metrics import MetricInputError, variance_split


def test_no_draw_effect_gives_a_small_between_share():
    rng = np.random.default_rng(0)
    groups = {d: rng.normal(0.5, 0.1, size=50) for d in range(20)}
    out = variance_split(groups)
    assert out["n_draws"] == 20 and out["n_runs"] == 1000
    assert out["sd_within"] == pytest.approx(0.1, rel=0.05)
    assert out["share_between"] < 0.05


def test_draw_effect_only_gives_a_share_of_one():
    groups = {d: [float(d)] * 3 for d in range(4)}
    out = variance_split(groups)
    assert out["sd_within"] == 0.0
    assert out["sd_between"] == pytest.approx(np.std(range(4), ddof=1))
    assert out["share_between"] == 1.0


def test_undefined_parts_are_none():
    assert variance_split({0: [0.1, 0.3]})["sd_between"] is None
    one_each = variance_split({0: [0.1], 1: [0.3]})
    assert one_each["sd_within"] is None and one_each["share_between"] is None
    assert one_each["sd_between"] == pytest.approx(np.std([0.1, 0.3], ddof=1))


@pytest.mark.parametrize("groups", [{}, {0: []}, {0: [0.1, float("nan")]}])
def test_bad_input_names_the_argument(groups):
    with pytest.raises(MetricInputError, match="groups"):
        variance_split(groups)
