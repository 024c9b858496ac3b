"""Unit checks of the networks: treatment reconstruction (§4.1) and the fused iVAE (§4.2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ividr.models.base import reset_parameters
from ividr.models.iv4r import TreatmentReconstruction, item_level_frequencies
from ividr.models.ivae.net import IVAENet, gaussian_kl
from ividr.models.ividr import FusedIVAENet, user_mean_treatment
from simulator import SimConfig, generate

LEVELS = [3, 4, 2]  # N = 3 fields < d_q = 8


def make_recon(mode: str, seed: int = 0) -> TreatmentReconstruction:
    gen = torch.Generator().manual_seed(seed)
    recon = TreatmentReconstruction(20, 6, 8, LEVELS, hidden_dim=16, mode=mode, ridge=1e-9)
    recon.reset(gen)
    rng = np.random.default_rng(seed)
    blocks = [rng.dirichlet(np.ones(n), size=20) for n in LEVELS]
    freq = np.concatenate(blocks, axis=1)
    freq[0] = 0.0  # an item nobody interacted with
    recon.item_level_freq.copy_(torch.from_numpy(freq).float())
    return recon


def test_fitted_part_in_span_and_residual_orthogonal():
    recon = make_recon("full")
    with torch.no_grad():
        parts = {k: v.double() for k, v in recon.decompose().items()}
    z, fitted, residual, m = parts["Z"], parts["fitted"], parts["residual"], parts["m"]
    assert z.shape == (20, 8, 3)
    for j in range(1, 20):
        # Fitted part = Z_j tau_j exactly, i.e. in span(Z_j).
        np.testing.assert_allclose(z[j] @ parts["tau"][j], fitted[j], atol=1e-5)
        # Residual orthogonal to every column of Z_j (relative to the sizes involved).
        scale = torch.linalg.norm(z[j]) * torch.linalg.norm(m[j])
        assert float(torch.abs(z[j].T @ residual[j]).max() / scale) < 1e-4
        # Same as the Moore-Penrose least-squares solution.
        tau = torch.linalg.pinv(z[j]) @ m[j]
        np.testing.assert_allclose(z[j] @ tau, fitted[j], atol=1e-4)
    np.testing.assert_allclose(fitted + residual, m, atol=1e-6)
    # Z_j of an item with no users is zero: nothing is fitted, the residual is everything.
    assert float(fitted[0].abs().max()) == 0.0
    # The fitted part is a proper projection when N < d_q: it differs from MLP0(T_j).
    assert float((m[1:] - fitted[1:]).norm()) > 1e-3


@pytest.mark.parametrize("mode", ["full", "t", "f", "r"])
def test_ablation_switches(mode):
    recon = make_recon(mode)
    with torch.no_grad():
        parts = recon.decompose()
    expected = {
        "full": parts["a1"] * parts["fitted"] + parts["a2"] * parts["residual"],
        "t": parts["m"],
        "f": parts["a1"] * parts["fitted"],
        "r": parts["a2"] * parts["residual"],
    }[mode]
    torch.testing.assert_close(parts["tre"], expected)
    assert parts["a1"].shape == (20, 1)


def test_modes_differ_for_the_same_weights():
    outs = {}
    for mode in ("full", "t", "f", "r"):
        with torch.no_grad():
            outs[mode] = make_recon(mode).decompose()["tre"]
    for a in outs:
        for b in outs:
            if a < b:
                assert not torch.allclose(outs[a], outs[b])


def test_item_level_frequencies_and_user_mean_treatment():
    data = generate(SimConfig.from_preset("dual", n_users=60, n_items=15, seed=2)).to_dataset()
    freq = item_level_frequencies(data)
    a = data.exposure()
    z = data.instrument_onehot()
    for j in range(data.n_items):
        users = a[:, j] > 0
        if users.any():
            np.testing.assert_allclose(freq[j], z[users].mean(axis=0), rtol=1e-6)
        else:
            assert not freq[j].any()
    tre = np.random.default_rng(0).normal(size=(data.n_items, 4))
    t = user_mean_treatment(data, tre)
    for u in range(data.n_users):
        items = a[u] > 0
        expected = tre[items].mean(axis=0) if items.any() else np.zeros(4)
        np.testing.assert_allclose(t[u], expected, atol=1e-12)


def test_fused_ivae_with_rho_0_tau_1_is_the_ivae():
    gen = torch.Generator().manual_seed(0)
    ivae = IVAENet(30, 5, 2, 16, 3, learned_prior=True)
    reset_parameters(ivae, gen)
    fused = FusedIVAENet(30, 5, 2, 16, 3, iv_dim=4, rho=0.0, tau=1.0)
    reset_parameters(fused, gen)
    missing = fused.load_state_dict(ivae.state_dict(), strict=False)
    assert missing.missing_keys == ["proj.weight"] and not missing.unexpected_keys
    x = (torch.rand(50, 30, generator=gen) < 0.2).float()
    w = torch.nn.functional.one_hot(torch.arange(50) % 5, 5).float()
    t = torch.randn(50, 4, generator=gen)
    torch.testing.assert_close(fused.posterior(x, w, t), ivae.posterior(x, w, None))
    for anneal in (0.3, 1.0):
        lf = fused.loss(x, w, t, anneal, torch.Generator().manual_seed(5))
        li = ivae.loss(x, w, None, anneal, torch.Generator().manual_seed(5))
        for a, b in zip(lf, li, strict=True):
            torch.testing.assert_close(a, b)


def test_fused_posterior_is_the_weighted_gaussian():
    gen = torch.Generator().manual_seed(1)
    fused = FusedIVAENet(30, 5, 2, 16, 2, iv_dim=4, rho=0.9, tau=0.9)
    reset_parameters(fused, gen)
    x = (torch.rand(10, 30, generator=gen) < 0.2).float()
    w = torch.nn.functional.one_hot(torch.arange(10) % 5, 5).float()
    t = torch.randn(10, 4, generator=gen)
    with torch.no_grad():
        mean, log_var = fused.posterior(x, w, t)
        m1, v1 = fused.encode(x + fused.proj(t), w)
        m2, v2 = fused.encode(x, w)
    torch.testing.assert_close(mean, 0.9 * m1 + 0.9 * m2)
    torch.testing.assert_close(log_var.exp(), 0.81 * v1.exp() + 0.81 * v2.exp())
    # P is a learned map: the loss sends gradient into it.
    loss, _, _ = fused.loss(x, w, t, 1.0, torch.Generator().manual_seed(0))
    loss.backward()
    assert fused.proj.weight.grad is not None and fused.proj.weight.grad.abs().sum() > 0


def test_gaussian_kl_matches_closed_form():
    mean, log_var = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.3]])
    pm, plv = torch.tensor([[0.1, 0.0]]), torch.tensor([[0.0, 0.4]])
    p = torch.distributions.Normal(mean, (0.5 * log_var).exp())
    q = torch.distributions.Normal(pm, (0.5 * plv).exp())
    expected = torch.distributions.kl_divergence(p, q).sum(-1)
    torch.testing.assert_close(gaussian_kl(mean, log_var, pm, plv), expected)


def test_shifted_encoding_equals_encoding_the_shifted_rows():
    """IViDR's X^re = X + P t enters the encoder as W_x X + (W_x P) t: the same function."""
    from ividr.models.ividr.net import FusedIVAENet

    torch.manual_seed(0)
    net = FusedIVAENet(40, 3, 2, 8, 3, iv_dim=5)
    torch.nn.init.normal_(net.proj.weight)
    x = (torch.rand(30, 40) < 0.1).float()
    w = torch.eye(3)[torch.randint(0, 3, (30,))]
    t = torch.randn(30, 5)
    mean, log_var = net.encode(x, w, shift=(t, net.proj.weight))
    ref_mean, ref_log_var = net.encode(x + net.proj(t), w)
    torch.testing.assert_close(mean, ref_mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(log_var, ref_log_var, rtol=1e-5, atol=1e-5)
    assert not torch.equal(mean, net.encode(x, w)[0])  # the shift matters
