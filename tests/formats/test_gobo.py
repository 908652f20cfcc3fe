"""GOBO: Gaussian outliers kept in FP32, k-means centroids for the rest, FP16 activations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from core.errors import UserError
from sim.formats import get_format
from sim.formats.base import Role
from sim.formats.gobo import GOBO_W3, GOBO_W4, fit_centroids, nearest, outlier_mask, reference_gemm

FORMATS = [GOBO_W3, GOBO_W4]


def _rng(seed=0):
    return np.random.default_rng(seed)


def _outlier_positions(enc):
    rows = np.repeat(np.arange(enc.shape[0]), np.diff(enc.meta["outlier_rows"]))
    return rows, enc.meta["outlier_cols"]


@settings(max_examples=100, deadline=None)
@given(w=hnp.arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 60)),
                    elements=st.floats(-1e3, 1e3, width=32)),
       fmt=st.sampled_from(FORMATS))
def test_outliers_exact_inliers_on_centroids(w, fmt):
    enc = fmt.encode(w, Role.WEIGHT, name="w")
    dec = fmt.decode(enc)
    out = outlier_mask(w)
    rows, cols = _outlier_positions(enc)
    assert np.array_equal(np.argwhere(out), np.stack([rows, cols], axis=1).reshape(-1, 2))
    assert np.array_equal(dec[out], w[out])  # FP32 outliers kept exactly
    c = enc.scales
    assert c.size == 1 << fmt.bits and (np.diff(c) >= 0).all()
    assert np.isin(dec[~out], c).all()
    # Each inlier sits on its nearest centroid.
    dist = np.abs(w[~out, None].astype(np.float64) - c[None, :].astype(np.float64))
    assert np.allclose(np.abs(dec[~out] - w[~out]), dist.min(axis=1))


def test_outlier_rule_three_sigma():
    w = _rng().standard_normal((200, 500)).astype(np.float32)
    w[7, 9] = 50.0
    enc = GOBO_W4.encode(w, Role.WEIGHT, name="w")
    mu, sigma = w.astype(np.float64).mean(), w.astype(np.float64).std()
    expected = np.abs(w - mu) > 3 * sigma
    assert enc.meta["outlier_fraction"] == expected.mean()
    assert 0.001 < expected.mean() < 0.005  # Gaussian: ≈ 0.27 %
    assert GOBO_W4.decode(enc)[7, 9] == 50.0


def test_kmeans_is_deterministic_and_converged():
    v = _rng().standard_normal(20_000)
    c = fit_centroids(v, 8)
    assert np.array_equal(c, fit_centroids(v[::-1].copy(), 8))
    codes = nearest(v, c)
    means = np.array([v[codes == i].mean() for i in range(8)])
    assert np.allclose(means, c, atol=1e-6)  # Lloyd fixed point: centroid = mean of members
    # Better than the uniform grid of the same range at the same count.
    uniform = np.linspace(v.min(), v.max(), 8)
    err = np.square(c[codes] - v).mean()
    assert err < np.square(uniform[nearest(v, uniform)] - v).mean()


def test_storage_bits():
    w = _rng().standard_normal((100, 300)).astype(np.float32)
    enc = GOBO_W3.encode(w, Role.WEIGHT, name="w")
    n_out = enc.meta["outlier_cols"].size
    assert enc.bits == 100 * 300 * 3 + 8 * 32 + n_out * 64
    assert enc.padded == 0


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
@pytest.mark.parametrize("role", list(Role))
def test_all_zero_tensor_is_safe(fmt, role):
    with np.errstate(all="raise"):
        enc = fmt.encode(np.zeros((3, 20), np.float32), role, name="z")
        assert not fmt.decode(enc).any()


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
@pytest.mark.parametrize("role", list(Role))
def test_non_finite_names_the_tensor(fmt, role):
    x = np.ones((2, 20), np.float32)
    x[1, 1] = np.nan
    with pytest.raises(UserError, match="mlp.down_proj.weight"):
        fmt.encode(x, role, name="mlp.down_proj.weight")


def test_scale_is_refused():
    with pytest.raises(UserError, match="drop --scale"):
        GOBO_W4.encode(np.ones((1, 4), np.float32), Role.WEIGHT, name="w", scale=0.1)


def _check(fmt, x, w):
    xe = fmt.encode(x, Role.ACTIVATION, name="x")
    we = fmt.encode(w, Role.WEIGHT, name="w")
    y = fmt.gemm(xe, we)
    assert y.dtype == np.float32 and y.shape == (x.shape[0], w.shape[0])
    assert np.array_equal(y, reference_gemm(xe, we))  # bit for bit
    return xe, we, y


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 300, 17), (16, 257, 33)])
def test_gemm_matches_reference_random(fmt, shape):
    m, k, n = shape
    rng = _rng(k)
    x = (rng.standard_normal((m, k)) * 4).astype(np.float32)
    w = rng.standard_t(3, (n, k)).astype(np.float32)  # heavy tails: outliers in most rows
    xe, we, y = _check(fmt, x, w)
    ref = fmt.decode(xe).astype(np.float64) @ fmt.decode(we).astype(np.float64).T
    assert np.allclose(y, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_gemm_matches_reference_adversarial(fmt):
    k = 64
    w_out = np.zeros((4, k), np.float32)
    w_out[:, ::7] = 1e4  # many outliers per row, including position 0 and the last
    w_out[:, -1] = -1e4
    cases = [
        (np.full((2, k), 65504.0, np.float32), np.ones((3, k), np.float32)),
        (np.full((2, k), 6e-8, np.float32), _rng().standard_normal((3, k)).astype(np.float32)),
        (np.zeros((2, k), np.float32), w_out),
        (_rng().standard_normal((2, k)).astype(np.float32), np.zeros((3, k), np.float32)),
        (_rng(1).choice([-1e-3, 1e3], (3, k)).astype(np.float32), w_out),
    ]
    for x, w in cases:
        _check(fmt, x, w)



@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_gemm_matches_reference_real(real_linears, fmt):
    for layer, x, w in real_linears:
        _, we, y = _check(fmt, x[:4], w[:96])
        assert 0 < we.meta["outlier_fraction"] < 0.03, layer
        exact = x[:4].astype(np.float64) @ w[:96].astype(np.float64).T
        assert np.linalg.norm(y - exact) / np.linalg.norm(exact) < 0.3, layer


def test_registered():
    assert get_format("gobo-w3") is GOBO_W3 and get_format("gobo-w4") is GOBO_W4


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_fake_quant_seam(fmt):
    """Weights decode(encode(W)) once; inputs rounded to FP16; the LM head stays float."""
    import torch

    from models.fakequant import quantized

    torch.manual_seed(0)
    model = torch.nn.ModuleDict({"proj": torch.nn.Linear(50, 9), "lm_head": torch.nn.Linear(9, 2)})
    with quantized(model, fmt) as wrappers:
        assert [w.name for w in wrappers] == ["proj"]
        w = model["proj"].inner.weight.detach().numpy()
        assert np.array_equal(model["proj"].qweight.numpy(),
                              fmt.decode(fmt.encode(w, Role.WEIGHT, name="w")))
        x = torch.randn(2, 50)
        assert torch.equal(model["proj"].quantizer.quantize_input(x), x.half().float())
