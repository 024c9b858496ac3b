"""Speed of the latent stage and of whole fits on the default 10,000 x 1,000 dataset.

    .venv/bin/python benchmarks/bench_models.py --threads 1          # docs/results/bench_models.md
    .venv/bin/python benchmarks/bench_models.py --users 2000 --items 300 --fits idcf --restarts 2
    .venv/bin/python benchmarks/bench_models.py --device cuda        # on a GPU, with Table 5

Prints, in one run:
- the yardstick: one forward and backward pass of the iVAE on the whole exposure matrix in a
  single batch;
- the encoder's first layer on one batch, forward and backward: the dense product against the
  exposure rows as sparse rows (an embedding bag over the exposed items; a sparse matrix product);
- seconds per latent epoch (mini-batches of users plus the held-out evaluation) for each speed
  measure on its own: the held-out exposure NDCG every epoch (before) or only when a rule reads
  it (now), a larger batch, and torch.compile;
- whole fits with the defaults (``--fits``), their latent and recommender epochs and MCC, and
  the first of them with ``--restarts`` restarts, with and without successive halving, as a
  ratio to one fit.

``--device cuda`` (or ``cuda:N``) runs all of it on that GPU (timings wait for the GPU to
finish: ``torch.cuda.synchronize``), names the GPU, and then runs the three-preset Table-5
reproduction on it (``benchmarks/table5.py --device cuda``, ``--jobs`` runs at once on the GPU,
into ``sweep-out/table5-cuda/`` and ``benchmarks/results/table5-cuda/``, so that no CPU run is
resumed instead of timed; ``--table5-args`` passes more options, e.g. a small grid). On a
machine without CUDA it is a usage error (exit 2, one line, nothing written). ``--table5`` runs
that reproduction on any device, ``--no-table5`` skips it.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from types import SimpleNamespace

import click
import numpy as np
import torch
from torch.nn import functional as F

from ividr.api import FitConfig, fit_model
from ividr.cli.common import (
    OneLineCommand,
    check_device_here,
    device_option,
)
from ividr.models.base import reset_parameters
from ividr.models.ivae.net import IVAENet
from ividr.training.devices import resolve_device
from ividr.training.loops import train_latent
from ividr.training.stages import latent_inputs
from simulator import SimConfig, generate

#: The first successive-halving rung timed with --restarts.
SCREEN_EPOCHS = 25
#: The device every measure runs on (set by main; the CPU by default).
DEVICE = torch.device("cpu")


def now() -> float:
    """``time.perf_counter`` once the GPU has finished its queued work (no wait on the CPU)."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)
    return time.perf_counter()


def yardstick(net: IVAENet, x: torch.Tensor, w: torch.Tensor, repeats: int = 5) -> float:
    """Median seconds of one forward + backward pass on the whole matrix in one batch."""
    gen = torch.Generator(device=x.device).manual_seed(0)
    times = []
    for _ in range(repeats + 1):
        t0 = now()
        loss, _, _ = net.loss(x, w, None, 1.0, gen)
        net.zero_grad()
        loss.backward()
        times.append(now() - t0)
    return float(np.median(times[1:]))


def epoch_seconds(net: IVAENet, x, w, epochs: int, **changes) -> float:
    """Seconds per latent epoch with the default settings and ``changes``."""
    settings = dict(
        epochs=epochs,
        lr=5e-4,
        weight_decay=1e-6,
        batch_size=1024,
        patience=10**9,
        kl_anneal_epochs=10**9,
        beta_max=1.0,
        l2_penalty=0.0,
        val_fraction=0.2,
        rng=np.random.default_rng(0),
        recon_ndcg=False,
    )
    settings.update(changes)
    net.cpu()  # initialised on the CPU, then moved, as a fit does
    reset_parameters(net, torch.Generator().manual_seed(0))
    net.to(x.device)
    t0 = now()
    train_latent(net, x, w, None, **settings)
    return (now() - t0) / epochs


def first_layer_ms(x: torch.Tensor, hidden: int = 64, batch: int = 1024) -> dict[str, float]:
    """Milliseconds of ``x @ W.T`` forward + backward on one batch: dense vs sparse rows."""
    xb = x[:batch]
    weight = torch.randn(hidden, x.shape[1], device=x.device, requires_grad=True)

    def dense():
        (xb @ weight.t()).sum().backward()

    def bag():
        rows, cols = xb.nonzero(as_tuple=True)
        counts = torch.bincount(rows, minlength=xb.shape[0])
        offsets = torch.cumsum(counts, 0) - counts
        F.embedding_bag(cols, weight.t().contiguous(), offsets, mode="sum").sum().backward()

    def sparse_mm():
        torch.sparse.mm(xb.to_sparse_csr(), weight.t()).sum().backward()

    out = {}
    for name, fn in (("dense", dense), ("embedding bag", bag), ("sparse CSR mm", sparse_mm)):
        fn()
        times = []
        for _ in range(20):
            t0 = now()
            fn()
            times.append(now() - t0)
        out[name] = 1e3 * float(np.median(times))
    return out


def fit_line(data, model: str, **changes) -> tuple[float, str]:
    t0 = now()
    device = str(DEVICE)
    config = FitConfig(model=model, seed=0, n_boot=0, trace_every=0, device=device, **changes)
    res = fit_model(data, config)
    wall = now() - t0
    m = res.metrics
    latent = sum(1 for r in res.history if r["stage"] == "latent")
    restarts = m.get("restarts") or []
    trained = sum(r["epochs"] for r in restarts) if restarts else latent
    mcc = f"MCC {m['mcc']:.3f}" if "mcc" in m else "no truth"
    return wall, (
        f"{wall:6.1f} s  ({latent} latent epochs kept run, {trained} trained in all, "
        f"{m['epochs_run'] - latent} recommender epochs; {mcc})"
    )


@click.command(cls=OneLineCommand, help=__doc__.splitlines()[0])
@click.option("--users", type=click.IntRange(min=10), default=10000, show_default=True)
@click.option("--items", type=click.IntRange(min=2), default=1000, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="torch CPU threads [default: torch's]; docs/results/bench_models.md uses 1.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Latent epochs timed per measure.",
)
@click.option(
    "--fits", default="idcf,ividr", show_default=True, help="Whole fits timed ('' = none)."
)
@click.option(
    "--restarts",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Restarts timed (1 = skip).",
)
@click.option("--no-compile", is_flag=True, help="Skip the torch.compile row.")
@device_option("every measure", default="cpu")
@click.option(
    "--table5/--no-table5",
    default=None,
    help="Run the three-preset Table-5 reproduction after the fits [default: with cuda].",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Table-5 runs at once [default: table5.py's].",
)
@click.option(
    "--table5-args",
    default="",
    help="More options for benchmarks/table5.py, e.g. '--users 300 --items 60 --seeds 1'.",
)
def main(**options) -> None:
    args = SimpleNamespace(**options)
    global DEVICE
    check_device_here(args.device)
    DEVICE = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = f", {torch.cuda.get_device_name(DEVICE)}" if DEVICE.type == "cuda" else ""
    print(f"torch {torch.__version__}, threads: {torch.get_num_threads()}, device {DEVICE}{gpu}")

    start = time.perf_counter()
    data = generate(SimConfig(n_users=args.users, n_items=args.items, seed=0)).to_dataset()
    print(
        f"data: {data.n_users} x {data.n_items}, {len(data.train)} exposures, density "
        f"{len(data.train) / (data.n_users * data.n_items):.3f} "
        f"(generated in {time.perf_counter() - start:.1f} s)"
    )
    x, w = latent_inputs(data, DEVICE)
    net = IVAENet(data.n_items, w.shape[1], 2, 64, 3, learned_prior=True)
    reset_parameters(net, torch.Generator().manual_seed(0))
    net.to(DEVICE)

    yard = yardstick(net, x, w)
    print(f"yardstick, 1 fwd+bwd on the whole matrix: {yard:.4f} s")
    layer = first_layer_ms(x)
    print(
        "encoder first layer, 1 batch fwd+bwd: "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in layer.items())
    )
    epoch_seconds(net, x, w, 1, recon_ndcg=True)  # warm-up: first-call costs are not an epoch's
    before = epoch_seconds(net, x, w, args.epochs, recon_ndcg=True)
    print(
        f"latent epoch, exposure NDCG every epoch (before): {before:.4f} s "
        f"({before / yard:.2f}x the yardstick)"
    )
    measures = [
        ("no exposure NDCG unless a rule reads it (default)", {}),
        ("the same, batch 2048", dict(batch_size=2048)),
    ]
    for label, changes in measures:
        sec = epoch_seconds(net, x, w, args.epochs, **changes)
        print(f"latent epoch, {label}: {sec:.4f} s ({before / sec:.2f}x faster than before)")
    if not args.no_compile:
        compiled = IVAENet(data.n_items, w.shape[1], 2, 64, 3, learned_prior=True)
        compiled.loss = torch.compile(compiled.loss, dynamic=False)
        t0 = now()
        try:
            epoch_seconds(compiled, x, w, 1)  # compiles
            warm = now() - t0
            sec = epoch_seconds(compiled, x, w, args.epochs)
            print(
                f"latent epoch, torch.compile: {sec:.4f} s ({before / sec:.2f}x faster than "
                f"before) after {warm:.0f} s of compilation (again for every new net)"
            )
        except Exception as exc:  # noqa: BLE001 - a missing compiler is a figure, not a crash
            print(f"latent epoch, torch.compile: failed ({type(exc).__name__}: {exc})")

    for i, model in enumerate(m for m in args.fits.split(",") if m):
        one, line = fit_line(data, model, restarts=1)
        print(f"whole {model} fit, one restart: {line}")
        if args.restarts > 1 and i == 0:  # restarts cost alike for every model: time the first
            for screen in (0, SCREEN_EPOCHS):
                wall, line = fit_line(
                    data, model, restarts=args.restarts, restart_screen_epochs=screen
                )
                label = "to the end (default)" if screen == 0 else f"halving from epoch {screen}"
                print(
                    f"whole {model} fit, {args.restarts} restarts ({label}): {line}; "
                    f"{wall / one:.2f}x one restart"
                )
    if args.table5 or (args.table5 is None and DEVICE.type == "cuda"):
        table5(args)


def table5(args) -> None:
    """The three-preset Table-5 reproduction on ``--device`` (``benchmarks/table5.py``)."""
    import importlib.util

    path = Path(__file__).resolve().parent / "table5.py"
    spec = importlib.util.spec_from_file_location("bench_table5", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Its own folders, so that the committed CPU tables are not overwritten and no finished CPU
    # run is resumed instead of timed (sweep.json holds no device); --table5-args overrides them.
    kind = DEVICE.type
    argv = ["--device", args.device, "--quiet", "--out-root", f"sweep-out/table5-{kind}"]
    argv += ["--results-dir", f"benchmarks/results/table5-{kind}", *shlex.split(args.table5_args)]
    if args.jobs is not None:
        argv += ["--jobs", str(args.jobs)]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    print(f"Table 5: benchmarks/table5.py {shlex.join(argv)} ({os.cpu_count()} cores)", flush=True)
    t0 = time.perf_counter()
    module.main.main(argv, standalone_mode=False)
    print(f"Table 5 reproduction: {time.perf_counter() - t0:.0f} s in all", flush=True)


if __name__ == "__main__":
    main()
