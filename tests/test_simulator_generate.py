"""The generator of docs/design.md §2: knobs, determinism, and fidelity checked against its own
truth."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
from scipy.special import expit

from simulator import PRESETS, ConfigError, SimConfig, generate
from simulator.generate import ratings_from_scores, w_prior_probabilities
from simulator.simulated import leaky_relu

gen = importlib.import_module("simulator.generate")  # the module, not the function


def small(preset: str = "ividr", **kw) -> SimConfig:
    knobs = {"n_users": 1500, "n_items": 200}
    knobs.update(kw)
    return SimConfig.from_preset(preset, **knobs)


def noise_free_logit(data, *, with_extra: bool = True) -> np.ndarray:
    """LeakyReLU(H Mx e_Hi) + zeta s_Z + delta B.e_Bi recomputed from the exported truth."""
    t, cfg = data.truth, data.config
    H = t["C"][:, None, :] + cfg.item_mixing * t["V"][None, :, :]
    x = leaky_relu(np.einsum("uid,de,ie->ui", H, t["Mx"], t["e_Hi"]))
    if with_extra:
        x = x + cfg.iv_strength * instrument_score(data)
        x = x + cfg.hidden_strength * t["B"] @ t["e_Bi"].T
    return x


def instrument_score(data) -> np.ndarray:
    """s_Z(u, i) = sum_f g_{f, Z_uf} . e_Zi."""
    t = data.truth
    G = sum(t["g_Z"][f][t["Z"][:, f]] for f in range(t["Z"].shape[1]))
    return G @ t["e_Zi"].T


def dense_exposure(data) -> np.ndarray:
    a = np.zeros((data.n_users, data.n_items))
    a[data.train.user, data.train.item] = 1.0
    return a


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


# -- config ---------------------------------------------------------------------------------------
def test_presets_have_the_documented_knobs():
    assert SimConfig() == SimConfig.from_preset("ividr")
    d = SimConfig()
    assert (d.n_users, d.n_items, d.clusters, d.latent_dim) == (10000, 1000, 5, 2)
    assert (d.alpha, d.beta, d.gamma, d.item_mixing) == (0.1, 2.0, 0.0, 1.0)
    assert (d.iv_strength, d.hidden_strength, d.rating_noise, d.random_items) == (0, 0, 10, 15)
    idcf = SimConfig.from_preset("idcf")
    assert (idcf.n_users, idcf.n_items, idcf.w_prior, idcf.item_mixing) == (2000, 300, "uniform", 0)
    dual = SimConfig.from_preset("dual")
    assert (dual.iv_strength, dual.hidden_strength) == (1.0, 1.0)
    code = SimConfig.from_preset("ividr-code", gamma=5.0)
    assert (code.process, code.item_mixing, code.gamma, code.preset) == (
        "ividr-code",
        0,
        5,
        code.preset,
    )
    assert set(PRESETS) == {"ividr", "idcf", "dual", "ividr-code", "ividr-paper"}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_config_json_round_trip(preset):
    cfg = SimConfig.from_preset(preset, gamma=2.5, seed=7, chunk_users=100)
    back = SimConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.chunk_users == 100
    assert "chunk_users" not in cfg.to_dict(runtime=False)


@pytest.mark.parametrize(
    ("knob", "value", "fragment"),
    [
        ("n_users", 0, "[1, inf)"),
        ("n_items", -3, "[1, inf)"),
        ("alpha", 0.0, "(0, 1]"),
        ("alpha", 1.5, "(0, 1]"),
        ("gamma", -0.1, "[0, inf)"),
        ("gamma", float("nan"), "finite"),
        ("beta", float("inf"), "finite"),
        ("random_items", 201, "[1, 200]"),
        ("clusters", 0, "[1, inf)"),
        ("w_prior", "normal", "gaussian"),
        ("n_users", 2.5, "int"),
        ("seed", -1, "[0, inf)"),
        ("rating_noise", -1.0, "[0, inf)"),
    ],
)
def test_validate_names_parameter_and_range(knob, value, fragment):
    with pytest.raises(ConfigError) as info:
        SimConfig.from_preset("ividr", **{"n_items": 200, knob: value})
    msg = str(info.value)
    assert f"'{knob}' parameter" in msg and fragment in msg and "Got" in msg
    assert info.value.param == knob


def test_unknown_preset_and_knob():
    with pytest.raises(ConfigError, match="'preset'"):
        SimConfig.from_preset("nope")
    with pytest.raises(TypeError, match="no knob"):
        SimConfig.from_preset("ividr", speed=3)


def test_w_prior_shapes():
    p = w_prior_probabilities("gaussian", 5)
    assert np.isclose(p.sum(), 1) and np.argmax(p) == 2 and np.allclose(p, p[::-1])
    assert np.allclose(w_prior_probabilities("uniform", 4), 0.25)
    assert np.allclose(w_prior_probabilities("code", 5), [0.08, 0.2, 0.2, 0.32, 0.2])


# -- determinism ----------------------------------------------------------------------------------
def assert_same(a, b):
    for part in ("train", "unbiased"):
        for field in ("user", "item", "rating"):
            np.testing.assert_array_equal(
                getattr(getattr(a, part), field), getattr(getattr(b, part), field)
            )
    assert a.truth.keys() == b.truth.keys()
    for key in a.truth:
        np.testing.assert_array_equal(a.truth[key], b.truth[key], err_msg=key)
    assert (a.q05, a.q95, a.exposure_summary) == (b.q05, b.q95, b.exposure_summary)


@pytest.mark.parametrize("preset", ["dual", "ividr-code"])
def test_identical_whatever_chunk_size(preset):
    cfg = small(preset, n_users=1300, gamma=3.0)  # 3 blocks of 512, the last partial
    runs = [generate(cfg.replace(chunk_users=c)) for c in (1, 600, 5000)]
    assert_same(runs[0], runs[1])
    assert_same(runs[0], runs[2])


def test_other_seed_gives_other_data():
    a, b = generate(small(seed=0)), generate(small(seed=1))
    assert not np.array_equal(a.truth["C"], b.truth["C"])
    assert len(a.train) != len(b.train) or not np.array_equal(a.train.item, b.train.item)


# -- fidelity -------------------------------------------------------------------------------------
def test_c_given_w_means_near_mu_and_v_given_m():
    data = generate(small(n_users=6000, n_items=1500))
    t = data.truth
    for latent, label, mu, s2 in (("C", "W", "mu_C", "sigma2_C"), ("V", "M", "mu_V", "sigma2_V")):
        for k in range(data.config.clusters):
            members = t[latent][t[label] == k]
            assert len(members) > 30
            se = np.sqrt(t[s2][k] / len(members))
            assert np.all(np.abs(members.mean(axis=0) - t[mu][k]) < 5 * se), (latent, k)
            assert np.allclose(members.var(axis=0), t[s2][k], rtol=0.35)
    assert np.all((t["mu_C"] >= -10) & (t["mu_C"] <= 10))
    assert np.all((t["sigma2_C"] >= 1) & (t["sigma2_C"] <= 5))
    freq = np.bincount(t["W"], minlength=5) / data.n_users
    assert np.allclose(freq, t["w_prior"], atol=0.03)


@pytest.mark.parametrize("preset", ["ividr", "dual"])
def test_exposure_density_matches_recomputed_probability(preset):
    data = generate(small(preset, n_users=2000, n_items=300))
    p = data.config.alpha * expit(noise_free_logit(data))
    assert np.isclose(data.exposure_summary["mean"], p.mean(), rtol=1e-9)
    n_cells = p.size
    sd = np.sqrt(p.mean() * (1 - p.mean()) / n_cells)
    assert abs(data.density - p.mean()) < 5 * sd
    a = dense_exposure(data)
    assert a[p > np.quantile(p, 0.9)].mean() > 1.5 * a[p < np.quantile(p, 0.5)].mean()


def test_exposure_depends_on_c_less_as_gamma_grows():
    corrs = []
    for gamma in (0.0, 3.0, 10.0, 30.0):
        data = generate(small(n_users=1500, n_items=200, gamma=gamma))
        corrs.append(corr(dense_exposure(data), noise_free_logit(data)))
    assert all(x > y for x, y in zip(corrs, corrs[1:], strict=False)), corrs
    # alpha = 0.1 caps p_ui, so even at gamma = 0 the Bernoulli draw hides most of the signal.
    assert corrs[0] > 0.04 and corrs[-1] < 0.3 * corrs[0]


def test_instrument_moves_exposure_only_with_zeta_and_never_ratings():
    off = generate(small(iv_strength=0.0))
    on = generate(small(iv_strength=2.0))
    np.testing.assert_array_equal(off.truth["Z"], on.truth["Z"])
    # Ratings: the whole y matrix, hence every rating, is the same whatever zeta.
    np.testing.assert_array_equal(off.truth["Y"], on.truth["Y"])
    np.testing.assert_array_equal(off.truth["R"], on.truth["R"])
    np.testing.assert_array_equal(off.unbiased.rating, on.unbiased.rating)
    s = instrument_score(off)
    assert abs(corr(dense_exposure(off), s)) < 0.02
    assert corr(dense_exposure(on), s) > 0.1
    assert not np.array_equal(dense_exposure(off), dense_exposure(on))


def test_hidden_confounder_enters_exposure_and_ratings():
    off = generate(small(hidden_strength=0.0))
    on = generate(small(hidden_strength=2.0))
    b_term = on.truth["B"] @ on.truth["e_Bi_rating"].T
    diff = on.truth["Y"].astype(np.float64) - off.truth["Y"].astype(np.float64)
    np.testing.assert_allclose(diff, 2.0 * b_term, atol=1e-4 * np.abs(off.truth["Y"]).max())
    s = on.truth["B"] @ on.truth["e_Bi"].T
    assert corr(dense_exposure(on), s) > 0.1 > abs(corr(dense_exposure(off), s)) * 5


@pytest.mark.parametrize("preset", ["ividr", "dual", "ividr-code"])
def test_ratings_are_f_n_of_y(preset):
    data = generate(small(preset))
    t, cfg = data.truth, data.config
    Y, R = t["Y"], t["R"]
    assert R.dtype == np.int8 and R.min() >= 1 and R.max() <= 5
    assert set(np.unique(data.train.rating)) <= {1, 2, 3, 4, 5}
    q05, q95 = np.quantile(Y.astype(np.float64), [0.05, 0.95])
    assert np.allclose((q05, q95), (data.q05, data.q95), rtol=1e-12, atol=0)
    q05, q95 = data.q05, data.q95
    by_hand = np.clip(np.ceil(5 * (Y.astype(np.float64) - q05) / (q95 - q05)), 1, 5)
    np.testing.assert_array_equal(R, by_hand)
    np.testing.assert_array_equal(data.train.rating, R[data.train.user, data.train.item])
    np.testing.assert_array_equal(data.unbiased.rating, R[data.unbiased.user, data.unbiased.item])
    # y minus its structural part is the rating noise: centred, std sigma_r, unrelated to H.
    H = t["C"][:, None, :] + cfg.item_mixing * t["V"][None, :, :]
    struct = (
        t["e_u"] @ t["e_i"].T
        + cfg.beta * np.einsum("uid,id->ui", H, t["e_Hi"])
        + cfg.hidden_strength * t["B"] @ t["e_Bi_rating"].T
    )
    resid = Y - struct
    assert abs(resid.mean()) < 0.2 and abs(resid.std() / cfg.rating_noise - 1) < 0.03
    assert abs(corr(resid, struct)) < 0.02


@pytest.mark.parametrize(("n_items", "k"), [(200, 15), (20, 15), (16, 16), (5, 1)])
def test_random_set_has_exactly_k_distinct_items_per_user(n_items, k):
    data = generate(small(n_users=700, n_items=n_items, random_items=k))
    u, i = data.unbiased.user, data.unbiased.item
    assert len(u) == 700 * k
    np.testing.assert_array_equal(np.bincount(u, minlength=700), k)
    items = i.reshape(700, k)
    assert np.all(np.diff(items, axis=1) > 0)  # sorted, hence distinct
    assert items.min() >= 0 and items.max() < n_items


def test_random_set_is_uniform_over_items():
    data = generate(small(n_users=4000, n_items=100, random_items=10))
    counts = np.bincount(data.unbiased.item, minlength=100)
    expected = 4000 * 10 / 100
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 99 + 5 * np.sqrt(2 * 99)  # chi-square with 99 dof, far tail


def test_preset_idcf_matches_idcf_appendix_b():
    data = generate(SimConfig.from_preset("idcf"))
    assert (data.n_users, data.n_items) == (2000, 300)
    assert data.C.shape == (2000, 2) and len(data.unbiased) == 2000 * 15
    freq = np.bincount(data.W, minlength=5)
    assert np.all(np.abs(freq - 400) < 5 * np.sqrt(2000 * 0.2 * 0.8))
    assert np.allclose(data.truth["w_prior"], 0.2)
    # kappa = 0: H = C, the item factor plays no part in exposure.
    p = 0.1 * expit(leaky_relu(data.C @ data.truth["Mx"] @ data.truth["e_Hi"].T))
    assert np.isclose(data.exposure_summary["mean"], p.mean(), rtol=1e-9)
    # iDCF's published gamma-0 data (idcf-sim's README, docs/data.md): density 0.0645 and
    # an unbiased rating histogram of (0.168, 0.224, 0.254, 0.197, 0.156).
    assert 0.03 < data.density < 0.10
    hist = np.bincount(data.unbiased.rating, minlength=6)[1:] / len(data.unbiased)
    assert np.allclose(hist, [0.168, 0.224, 0.254, 0.197, 0.156], atol=0.04)


def test_ividr_code_process():
    data = generate(small("ividr-code", n_users=4000))
    t = data.truth
    np.testing.assert_allclose(t["C"], t["C0"] + 0.1 * t["C_prime"] + 0.1 * t["C_noise"])
    np.testing.assert_array_equal(data.Z[:, 0], data.W)
    assert data.instrument_levels == (5,)
    assert np.allclose(
        np.bincount(data.W, minlength=5) / 4000, [0.08, 0.2, 0.2, 0.32, 0.2], atol=0.03
    )
    assert np.all(np.abs(t["mu_C"]) <= 12) and np.abs(t["mu_C"]).max() > 0
    assert data.meta()["instrument_is_proxy"] is True
    # kappa = 0 and zeta = delta = 0: exposure probability recomputed from C alone.
    p = 0.1 * expit(leaky_relu(t["C"] @ t["Mx"] @ t["e_Hi"].T))
    assert np.isclose(data.exposure_summary["mean"], p.mean(), rtol=1e-9)


def test_quantiles_from_a_sample_above_the_cap(monkeypatch):
    exact = generate(small())
    monkeypatch.setattr(gen, "FULL_MATRIX_MAX_CELLS", 1000)
    monkeypatch.setattr(gen, "QUANTILE_SAMPLE_SIZE", 100_000)
    a = generate(small(chunk_users=512))
    b = generate(small(chunk_users=2000))
    assert a.quantile_method == "sample" and "Y" not in a.truth and "R" not in a.truth
    assert_same(a, b)
    spread = exact.q95 - exact.q05
    assert abs(a.q05 - exact.q05) < 0.03 * spread and abs(a.q95 - exact.q95) < 0.03 * spread
    assert a.meta()["quantiles"]["method"] == "sample"
    np.testing.assert_array_equal(
        a.train.rating,
        ratings_from_scores(exact.truth["Y"][a.train.user, a.train.item], a.q05, a.q95),
    )


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 250_001])
def test_quantiles_are_numpy_linear_quantiles(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32)
    if n > 1000:
        x[:5000] = 0.0  # ties around the order statistics
    qs = (0.0, 0.05, 0.5, 0.95, 1.0)
    np.testing.assert_allclose(
        gen.quantiles(x, qs), np.quantile(x.astype(np.float64), qs), rtol=1e-12
    )


def test_rating_cut_points_reproduce_f_n_exactly():
    rng = np.random.default_rng(5)
    q05, q95 = -19.4406958, 46.1067323
    cuts = gen.rating_thresholds(q05, q95)
    # Every float32 next to a cut point, and a spread of ordinary values.
    near = np.concatenate([cuts + d for d in (-2e-5, 0, 2e-5)]).astype(np.float32)
    near = np.concatenate(
        [near, np.nextafter(cuts, np.float32(-np.inf)), np.nextafter(cuts, np.float32(np.inf))]
    )
    y = np.concatenate([near, (rng.standard_normal(100_000) * 25 + 13).astype(np.float32)])
    np.testing.assert_array_equal(gen._ratings32(y, cuts), ratings_from_scores(y, q05, q95))


def test_to_dataset():
    data = generate(small("dual"))
    ds = data.to_dataset()
    assert ds.n_users == 1500 and ds.proxy.shape == (1500, 1) and ds.instrument.shape == (1500, 3)
    assert ds.instrument_levels == (4, 4, 4) and ds.proxy_levels == (5,)
    assert ds.train.user.dtype == np.int64 and len(ds.train) == len(data.train)
    np.testing.assert_array_equal(ds.confounder, data.C)
    assert ds.summary()["exposure_density"] == data.density
