"""Suite-wide settings and the one fixture that hands a test an external dataset.

The suite runs on the CPU on every machine (docs/design.md §4.3: ``--device auto`` would
otherwise put every fit of the suite on a GPU where there is one, and the suite's expectations
are CPU ones). GPUs are hidden from the test process and the commands it starts, before torch
looks for them; ``IVIDR_TEST_CUDA=1`` leaves them visible. GPU figures come from
``benchmarks/bench_models.py --device cuda``, not from the suite.

External datasets (Coat, idcf-sim, ividr-sim; docs/data.md) are found through the setting
``IVIDR_DATA`` (:mod:`simulator.locations`); a test that needs one asks ``external_dataset``
for it and is skipped, with a one-line reason, when it is absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

if os.environ.get("IVIDR_TEST_CUDA") != "1":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""

from simulator.locations import find_dataset, missing_reason  # noqa: E402


@pytest.fixture(scope="session")
def external_dataset() -> Callable[[str], Path]:
    """A function ``name -> Path`` of an external dataset's folder; skips the test if absent.

    Session-scoped, so module-scoped fixtures can use it too; a skip raised while such a
    fixture is set up skips every test that uses it.
    """

    def get(name: str) -> Path:
        path = find_dataset(name)
        if path is None:
            pytest.skip(missing_reason(name))
        return path

    return get
