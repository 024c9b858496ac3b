"""The suite runs on the CPU on every machine (DESIGN §4.3: ``--device auto`` would otherwise
put every fit of the suite on a GPU where there is one, and the suite's expectations are CPU
ones). GPUs are hidden from the test process and the commands it starts, before torch looks
for them; ``IVIDR_TEST_CUDA=1`` leaves them visible. GPU figures come from
``benchmarks/bench_models.py --device cuda``, not from the suite."""

from __future__ import annotations

import os

if os.environ.get("IVIDR_TEST_CUDA") != "1":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
