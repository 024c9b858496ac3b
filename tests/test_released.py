"""Model ``ividr-released`` (docs/design.md §4.3): the forward pass of the code released with IViDR,
an audit variant (a fresh random layer on every call, two samples fused, KL on one branch, that
branch's mean saved), reproducible for a seed, registered, saved and loaded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.nn import functional as F

from ividr.api import MODEL_NAMES, FitConfig, fit_model, load_model, save_model
from ividr.cli import main
from ividr.models.base import reset_parameters
from ividr.models.ividr import FusedIVAENet, IViDRReleased, ReleasedFusedIVAENet
from ividr.training.stages import latent_inputs
from ividr.training.treatments import treatment_input
from simulator import SimConfig, generate

SPEC = dict(n_items=30, aux_dim=4, latent_dim=2, hidden_dim=16, n_layers=3, iv_dim=8)


def tiny_config(seed: int = 0) -> FitConfig:
    return FitConfig(
        model="ividr-released",
        seed=seed,
        epochs=2,
        latent_epochs=5,
        kl_anneal_epochs=2,
        latent_patience=3,
        n_boot=0,
        trace_every=0,
    )


@pytest.fixture(scope="module")
def data():
    return generate(SimConfig.from_preset("idcf", n_users=300, n_items=60, seed=0)).to_dataset()


@pytest.fixture(scope="module")
def fitted(data):
    torch.set_num_threads(1)
    return fit_model(data, tiny_config())


def inputs(n: int = 50, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy((rng.random((n, SPEC["n_items"])) < 0.2).astype(np.float32))
    w = torch.from_numpy(np.eye(SPEC["aux_dim"], dtype=np.float32)[rng.integers(0, 4, n)])
    t = torch.from_numpy(rng.normal(size=(n, SPEC["iv_dim"])).astype(np.float32))
    return x, w, t


def released_net(projection_seed: int = 5) -> ReleasedFusedIVAENet:
    net = ReleasedFusedIVAENet(**SPEC, projection_seed=projection_seed)
    reset_parameters(net, torch.Generator().manual_seed(1))
    return net.eval()


def test_registered_in_the_api_and_the_cli():
    assert "ividr-released" in MODEL_NAMES
    res = CliRunner().invoke(main, ["fit", "--help"])
    assert res.exit_code == 0 and "ividr-released" in res.output
    assert "not IViDR" in IViDRReleased.__doc__
    assert "released" in ReleasedFusedIVAENet.__doc__


def test_a_fit_is_reproducible_for_a_seed(data, fitted):
    est = fitted.estimator
    assert isinstance(est, IViDRReleased)
    spec = est.net_specs_["latent"]
    assert spec["class"] == "ReleasedFusedIVAENet"
    assert isinstance(spec["kwargs"]["projection_seed"], int)
    again = fit_model(data, tiny_config())
    assert np.array_equal(again.latents, fitted.latents)
    assert np.array_equal(again.latents_std, fitted.latents_std)
    assert again.estimator.net_specs_ == est.net_specs_
    assert again.metrics["ndcg@5"] == fitted.metrics["ndcg@5"]
    other = fit_model(data, tiny_config(seed=1))
    assert not np.allclose(other.latents, fitted.latents)
    assert (
        other.estimator.net_specs_["latent"]["kwargs"]["projection_seed"]
        != (spec["kwargs"]["projection_seed"])
    )


def test_the_posterior_changes_between_calls_while_ours_does_not():
    x, w, t = inputs()
    net = released_net()
    with torch.no_grad():
        first, second = net.posterior(x, w, t), net.posterior(x, w, t)
        assert not torch.allclose(first[0], second[0])
        assert not torch.allclose(first[1], second[1])
        # The draws come from the net's own generator: replaying its state replays the layer,
        # and a net built with the same projection_seed draws the same layers in the same order.
        net.projection_generator.set_state(net.last_projection_state)
        assert torch.equal(net.posterior(x, w, t)[0], second[0])
        twin = released_net()
        assert torch.equal(twin.posterior(x, w, t)[0], first[0])
        assert torch.equal(twin.posterior(x, w, t)[0], second[0])
        # The fresh layer is not a parameter: nothing of it is trained or saved.
        assert not any("proj" in name for name in net.state_dict())
        # Our IViDR's fused net (a learned P) gives the same posterior on every call.
        ours = FusedIVAENet(**SPEC)
        reset_parameters(ours, torch.Generator().manual_seed(1))
        ours.eval()
        a, b = ours.posterior(x, w, t), ours.posterior(x, w, t)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_the_fresh_layer_is_drawn_like_a_default_linear_layer():
    net = released_net()
    t = torch.eye(SPEC["iv_dim"])
    zeros = torch.zeros(1, SPEC["iv_dim"])
    state = net.projection_generator.get_state()
    out = net.fresh_projection(torch.cat([zeros, t]))
    bias, weight = out[0], (out[1:] - out[0]).T  # (n_items,), (n_items, iv_dim)
    bound = 1 / np.sqrt(SPEC["iv_dim"])
    assert float(weight.abs().max()) <= bound + 1e-6 and float(bias.abs().max()) <= bound + 1e-6
    gen = torch.Generator()
    gen.set_state(state)
    expected_w = torch.empty(SPEC["n_items"], SPEC["iv_dim"]).uniform_(-bound, bound, generator=gen)
    expected_b = torch.empty(SPEC["n_items"]).uniform_(-bound, bound, generator=gen)
    assert torch.allclose(weight, expected_w, atol=1e-6)
    assert torch.allclose(bias, expected_b, atol=1e-6)
    with pytest.raises(ValueError, match="instrument input t"):
        net.fresh_projection(None)


def test_the_saved_latent_is_the_reconstructed_branch_mean(data, fitted):
    est = fitted.estimator
    net = est.nets_["latent"]
    x, w = latent_inputs(data)
    # The t the latent stage read (IViDR's user_treatment, standardised by default).
    t = torch.from_numpy(treatment_input(est.user_treatment_, est.user_treatment, None)).float()
    with torch.no_grad():
        # Replay the fresh layer of the last read-out: A + L(t) through the shared encoder.
        net.projection_generator.set_state(net.last_projection_state)
        mean1, log_var1 = net.encode(x + net.fresh_projection(t), w)
        mean2, _ = net.encode(x, w)
    assert np.array_equal(fitted.latents, mean1.double().numpy())
    assert np.allclose(fitted.latents_std, (0.5 * log_var1).exp().double().numpy())
    # Neither the plain branch's mean nor the fused mean 0.9 mu1 + 0.9 mu2.
    assert not np.allclose(fitted.latents, mean2.double().numpy())
    assert not np.allclose(fitted.latents, (0.9 * mean1 + 0.9 * mean2).double().numpy())


def test_the_loss_fuses_two_samples_and_its_kl_covers_one_branch():
    x, w, t = inputs()
    net = released_net()
    state = net.projection_generator.get_state()
    with torch.no_grad():
        loss, recon, kl = net.loss(x, w, t, 0.5, torch.Generator().manual_seed(7))
        # By hand, with the same fresh layer and the same two noise draws.
        net.projection_generator.set_state(state)
        x_re = x + net.fresh_projection(t)
        m1, lv1 = net.encode(x_re, w)
        m2, lv2 = net.encode(x, w)
        pm, plv = net.prior(w, len(x))
        noise = torch.Generator().manual_seed(7)
        z1 = m1 + (0.5 * lv1).exp() * torch.randn(m1.shape, generator=noise)
        z2 = m2 + (0.5 * lv2).exp() * torch.randn(m2.shape, generator=noise)
        z = 0.9 * z1 + 0.9 * z2
        bce = F.binary_cross_entropy_with_logits(net.decode(z), x, reduction="none").sum(1)

        def kl_of(mean, log_var):
            return (
                0.5 * (plv - log_var + (log_var.exp() + (mean - pm) ** 2) / plv.exp() - 1).sum(1)
            ).mean()

        assert torch.allclose(recon, bce.mean(), rtol=1e-5)
        assert torch.allclose(kl, kl_of(m1, lv1), rtol=1e-5)
        assert torch.allclose(loss, recon + 0.5 * kl, rtol=1e-6)
        # Not the plain branch's KL, nor the fused posterior's N(.9 m1 + .9 m2, .81 (s1^2 + s2^2)).
        fused_lv = (0.81 * (lv1.exp() + lv2.exp())).log()
        assert not torch.allclose(kl, kl_of(m2, lv2), rtol=1e-3)
        assert not torch.allclose(kl, kl_of(0.9 * m1 + 0.9 * m2, fused_lv), rtol=1e-3)


def test_the_kl_gradient_reaches_the_encoder_only_through_the_reconstructed_branch():
    # The KL the loss returns depends on the exposure row A only through X^re = A + L(t), the
    # reconstructed branch: its gradient with respect to A is that of the branch's KL with
    # respect to X^re. A KL that also covered the plain branch (A read directly) would differ.
    x, w, t = inputs(n=8)
    net = released_net()
    state = net.projection_generator.get_state()
    x_var = x.clone().requires_grad_(True)
    _, _, kl = net.loss(x_var, w, t, 1.0, torch.Generator().manual_seed(0))
    (grad_x,) = torch.autograd.grad(kl, x_var)
    net.projection_generator.set_state(state)
    x_re = (x + net.fresh_projection(t)).requires_grad_(True)
    m1, lv1 = net.encode(x_re, w)
    pm, plv = net.prior(w, len(x))
    kl_re = (0.5 * (plv - lv1 + (lv1.exp() + (m1 - pm) ** 2) / plv.exp() - 1).sum(1)).mean()
    (grad_re,) = torch.autograd.grad(kl_re, x_re)
    assert torch.allclose(grad_x, grad_re, atol=1e-6)


def test_save_and_load_round_trip(tmp_path, data, fitted):
    est = fitted.estimator
    path = tmp_path / "model.pt"
    save_model(est, path)
    back = load_model(path)
    assert type(back) is IViDRReleased
    assert back.get_params() == est.get_params()
    assert back.net_specs_ == est.net_specs_
    net, net_back = est.nets_["latent"], back.nets_["latent"]
    assert type(net_back) is ReleasedFusedIVAENet
    assert net_back.projection_seed == net.projection_seed
    for key, value in net.state_dict().items():
        assert torch.equal(value, net_back.state_dict()[key])
    assert np.array_equal(back.user_latents_, est.user_latents_)
    assert np.array_equal(back.latent_std_, est.latent_std_)
    users = np.repeat(np.arange(data.n_users), 3)
    items = np.tile(np.arange(3), data.n_users)
    assert np.array_equal(back.score(users, items), est.score(users, items))
    # The loaded net's generator starts afresh at projection_seed.
    fresh = ReleasedFusedIVAENet(**est.net_specs_["latent"]["kwargs"])
    t = torch.ones(4, net_back.iv_dim)
    assert torch.equal(net_back.fresh_projection(t), fresh.fresh_projection(t))
