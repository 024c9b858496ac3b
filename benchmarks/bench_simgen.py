"""Wall time and peak memory of ``simgen`` (issue 2's speed and memory goals).

Each case runs in a fresh subprocess that reports its own wall time and peak resident memory
(``ru_maxrss``, which includes the interpreter and numpy/scipy, about 60-100 MB). Cases:

- yardstick: numpy drawing the random numbers the process needs, two standard-normal and one
  uniform m x n float64 arrays (for 1,000,000 x 1,000, in row chunks of 4,096, as no one could
  hold the whole arrays);
- generate: ``simulator.generate(config)`` alone;
- generate+write: generation and ``write_dataset`` (all files of docs/design.md §3);
- cli: the ``simgen`` command end to end (interpreter start and imports included).

Goals: default preset (10,000 x 1,000) under 3 s with files; its generation within 3x the
yardstick; 1,000,000 x 1,000 under 2 GiB peak. Timings on a shared machine are noisy: each
small case is repeated and the median and the minimum are printed.

Usage: ``python benchmarks/bench_simgen.py [--quick] [--repeat N]`` (``--quick`` skips the
1,000,000-user cases).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import click

CHILD = r"""
import json, resource, sys, time
import numpy as np
case, m, n, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if case == "yardstick":
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    step = m if m * n <= 50_000_000 else 4096
    for lo in range(0, m, step):
        rows = min(step, m - lo)
        a = rng.standard_normal((rows, n))
        b = rng.standard_normal((rows, n))
        c = rng.random((rows, n))
        del a, b, c
    wall = time.perf_counter() - t
    ru = resource.getrusage(resource.RUSAGE_SELF)
elif case == "cli":
    import subprocess
    from pathlib import Path
    exe = Path(sys.executable).with_name("simgen")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "simulator.cli"]
    t = time.perf_counter()
    subprocess.run(cmd + ["--users", str(m), "--items", str(n), "--out", out, "--overwrite",
                          "--quiet"], check=True, capture_output=True)
    wall = time.perf_counter() - t
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # the one simgen process
else:
    from simulator import SimConfig, generate, write_dataset
    cfg = SimConfig.from_preset("ividr", n_users=m, n_items=n)
    t = time.perf_counter()
    data = generate(cfg)
    if case == "generate+write":
        write_dataset(data, out, overwrite=True)
    wall = time.perf_counter() - t
    ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": wall, "peak": ru.ru_maxrss * 1024}))
"""


def run_child(case: str, m: int, n: int, out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, case, str(m), str(n), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt(rows: list[dict]) -> str:
    walls = [r["wall"] for r in rows]
    peak = max(r["peak"] for r in rows) / 2**20
    if len(walls) == 1:
        return f"wall {walls[0]:8.2f} s                      peak {peak:8.0f} MiB"
    return (
        f"wall {statistics.median(walls):8.2f} s (min {min(walls):6.2f}, n={len(walls)})"
        f"  peak {peak:8.0f} MiB"
    )


CASES = ("yardstick", "generate", "generate+write", "cli")


@click.command(help=__doc__.splitlines()[0])
@click.option("--quick", is_flag=True, help="Skip the 1,000,000-user cases.")
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Repeats of the small cases.",
)
def main(quick: bool, repeat: int) -> None:
    os.chdir(Path(__file__).resolve().parent.parent)
    load = os.getloadavg()[0]
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.2f} "
        "(shared machine: figures are noisy; the repeats are interleaved so that load hits "
        "every case alike)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-simgen-", dir=".") as tmp:
        out = Path(tmp) / "data"
        sizes = [(10_000, 1_000)] + ([] if quick else [(1_000_000, 1_000)])
        for m, n in sizes:
            reps = repeat if m * n <= 50_000_000 else 1
            results: dict[str, list[dict]] = {case: [] for case in CASES}
            for _ in range(reps):
                for case in CASES:
                    results[case].append(run_child(case, m, n, out))
            for case in CASES:
                print(f"{m:>9,d} x {n:,d} {case:<16} {fmt(results[case])}", flush=True)
            for stat in (statistics.median, min):
                yard = stat(r["wall"] for r in results["yardstick"])
                gen = stat(r["wall"] for r in results["generate"])
                print(f"{'':>27} generation / yardstick ({stat.__name__}) = {gen / yard:.2f}")


if __name__ == "__main__":
    main()
