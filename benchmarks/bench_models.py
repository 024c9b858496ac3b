"""Speed of the latent stage and of a whole iDCF fit on the default 10,000 x 1,000 dataset.

Prints:
- seconds per iVAE epoch (mini-batches of 1,024 users, plus the held-out evaluation), beside
  the yardstick: one forward and backward pass of the same network on the whole exposure
  matrix in a single batch (goal: an epoch within 3x the yardstick);
- the wall time of a whole iDCF fit with the defaults (goal: under 2 minutes on 2 cores).

Usage: ``python benchmarks/bench_models.py [--users 10000] [--items 1000] [--threads N]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ividr.api import FitConfig, fit_model
from ividr.models.base import reset_parameters
from ividr.models.ivae.estimator import latent_inputs
from ividr.models.ivae.net import IVAENet
from ividr.training import train_latent
from simulator import SimConfig, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=20, help="epochs timed")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}")

    start = time.perf_counter()
    data = generate(SimConfig(n_users=args.users, n_items=args.items, seed=0)).to_dataset()
    print(
        f"data: {data.n_users} x {data.n_items}, {len(data.train)} exposures "
        f"(generated in {time.perf_counter() - start:.1f} s)"
    )
    x, w = latent_inputs(data)
    net = IVAENet(data.n_items, w.shape[1], 2, 64, 3, learned_prior=True)
    reset_parameters(net, torch.Generator().manual_seed(0))

    # Yardstick: one forward + backward on the whole matrix in one batch.
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(6):
        t0 = time.perf_counter()
        loss, _, _ = net.loss(x, w, None, 1.0, gen)
        net.zero_grad()
        loss.backward()
        times.append(time.perf_counter() - t0)
    yard = float(np.median(times[1:]))

    t0 = time.perf_counter()
    train_latent(
        net,
        x,
        w,
        None,
        epochs=args.epochs,
        lr=1e-3,
        weight_decay=1e-6,
        batch_size=1024,
        patience=10**9,
        kl_anneal_epochs=10**9,
        beta_max=1.0,
        l2_penalty=0.0,
        val_fraction=0.2,
        rng=np.random.default_rng(0),
    )
    epoch = (time.perf_counter() - t0) / args.epochs
    print(
        f"iVAE epoch: {epoch:.4f} s   yardstick (1 fwd+bwd, whole matrix): {yard:.4f} s   "
        f"ratio {epoch / yard:.2f}x"
    )

    t0 = time.perf_counter()
    result = fit_model(data, FitConfig(model="idcf", seed=0))
    wall = time.perf_counter() - t0
    m = result.metrics
    latent_epochs = sum(1 for r in result.history if r["stage"] == "latent")
    print(
        f"whole iDCF fit: {wall:.1f} s ({latent_epochs} latent epochs, "
        f"{m['epochs_run'] - latent_epochs} recommender epochs); MCC {m['mcc']:.3f}, "
        f"test NDCG@5 {m['ndcg@5']:.4f}"
    )


if __name__ == "__main__":
    main()
