"""MixPE W4A8 / W4A16: group INT4 encoding and the shift-and-add PE golden GEMM."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import UserError
from sim.formats import get_format, half
from sim.formats.base import Encoded, Role
from sim.formats.mixpe import (
    GROUP,
    MIXPE_W4A8,
    MIXPE_W4A16,
    MixPeFormat,
    _fit,
    _run,
    partial_sum_bound,
    reference_gemm,
    shift_add,
)

FORMATS = [MIXPE_W4A8, MIXPE_W4A16]


def _rng(seed=0):
    return np.random.default_rng(seed)


# --- the algebra the PE relies on -----------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(data=st.data(), g=st.integers(1, GROUP))
def test_group_dequantization_identity_exact(data, g):
    """s·(Σq·x − z·Σx) == Σ s·(q−z)·x in exact integer/rational arithmetic; the kernel agrees."""
    q = data.draw(st.lists(st.integers(0, 15), min_size=g, max_size=g))
    x = data.draw(st.lists(st.integers(-127, 127), min_size=g, max_size=g))
    z = data.draw(st.integers(0, 15))
    s = Fraction(float(np.float16(data.draw(st.floats(1e-4, 1e3)))))
    factored = s * (sum(qj * xj for qj, xj in zip(q, x, strict=True)) - z * sum(x))
    direct = sum(s * (qj - z) * xj for qj, xj in zip(q, x, strict=True))
    assert factored == direct
    # The golden kernel on one group with s = a = 1 must produce the integer itself.
    pad = GROUP - g
    w = Encoded("mixpe-w4a8", Role.WEIGHT, (1, g), np.array([q + [z] * pad], np.uint8),
                np.ones((1, 1), np.float32), 0, pad, {"zero": np.array([[z]], np.uint8),
                                                      "group": GROUP})
    xt = np.array([x + [0] * pad], np.float32).T
    assert _run(xt, np.ones(1, np.float32), w)[0, 0] == direct / s


def test_shift_and_add_equals_product_int8_exhaustive():
    q = np.arange(16, dtype=np.int64)[:, None]
    x = np.arange(-128, 128, dtype=np.int64)[None, :]
    assert np.array_equal(shift_add(q, x, lambda v, b: v << b), q * x)


def test_shift_and_add_equals_product_fp16_exact():
    """Widened FP16 · 2^b never overflows or goes subnormal; q·x is exact in FP32."""
    bits = _rng().integers(0, 1 << 16, 50_000, dtype=np.uint32).astype(np.uint16)
    special = np.array([65504, -65504, 6.1035e-05, 5.96e-08, -5.96e-08, 0.0, -0.0, 1.0],
                       np.float16)
    x16 = np.concatenate([bits.view(np.float16), special])
    x16 = x16[np.isfinite(x16)]
    x = x16.astype(np.float32)
    for qv in range(16):
        q = np.full(x.shape, qv, np.int64)
        got = shift_add(q, x, lambda v, b: np.ldexp(v, b).astype(np.float32))
        assert np.isfinite(got).all()
        assert np.array_equal(got.astype(np.float64), x.astype(np.float64) * qv)


# --- encoder --------------------------------------------------------------------------------------

def test_weight_codes_ranges_padding_and_bits():
    w = _rng().standard_normal((10, 300)).astype(np.float32)
    enc = MIXPE_W4A8.encode(w, Role.WEIGHT, name="w")
    assert enc.codes.shape == (10, 384) and enc.padded == 84 and enc.shape == (10, 300)
    assert enc.codes.max() <= 15 and enc.meta["zero"].max() <= 15
    assert enc.bits == 10 * 384 * 4 + 10 * 3 * (16 + 4)
    assert np.array_equal(enc.scales, enc.scales.astype(np.float16).astype(np.float32))
    dec = MIXPE_W4A8.decode(enc)
    assert dec.shape == w.shape
    # Inside a group's grid the error is ≤ half a step; outside, the value clips to the grid end.
    step = np.repeat(enc.scales, GROUP, axis=1)[:, :300]
    z = np.repeat(enc.meta["zero"], GROUP, axis=1)[:, :300].astype(np.float32)
    low, high = -z * step, (15 - z) * step
    inside = (w >= low) & (w <= high)
    assert (np.abs(dec - w)[inside] <= 0.5 * step[inside] * (1 + 1e-6)).all()
    assert np.array_equal(dec[~inside], np.where(w < low, low, high)[~inside])


def test_clip_search_never_worse_than_min_max():
    """The chosen (s, z) of every group has no more squared error than the plain range."""
    w = (_rng(3).standard_t(3, (64, 512)) * 0.02).astype(np.float32)
    enc = MIXPE_W4A8.encode(w, Role.WEIGHT, name="w")
    err = np.square(MIXPE_W4A8.decode(enc) - w).reshape(64, 4, GROUP).sum(axis=2)
    wg = w.reshape(64, 4, GROUP)
    (s, z), dec = _fit(wg, np.minimum(wg.min(axis=2), 0), np.maximum(wg.max(axis=2), 0))
    assert (err <= np.square(dec - wg).sum(axis=2)).all()
    assert (err < np.square(dec - wg).sum(axis=2)).any()  # heavy tails: clipping pays


def test_bits_per_element_k_multiple_of_group():
    enc = MIXPE_W4A16.encode(np.ones((4, 256), np.float32), Role.WEIGHT, name="w")
    assert enc.bits_per_element() == 4 + 20 / 128


def test_fixed_scale_is_used():
    w = np.array([[0.0, 1.0, -1.0, 0.5] * 32], np.float32)
    enc = MIXPE_W4A8.encode(w, Role.WEIGHT, name="w", scale=0.25)
    assert np.all(enc.scales == 0.25)
    assert np.array_equal(MIXPE_W4A8.decode(enc), w)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
@pytest.mark.parametrize("role", list(Role))
def test_all_zero_tensor_is_safe(fmt, role):
    with np.errstate(all="raise"):
        enc = fmt.encode(np.zeros((3, 200), np.float32), role, name="z")
        assert not fmt.decode(enc).any()


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_names_the_tensor(fmt, role, bad):
    x = np.ones((2, 130), np.float32)
    x[1, 5] = bad
    with pytest.raises(UserError, match="layers.3.up_proj.weight"):
        fmt.encode(x, role, name="layers.3.up_proj.weight")


def test_fp16_activations_saturate_instead_of_inf():
    x = np.array([[1e6, -1e6, 3.0]], np.float32)
    enc = MIXPE_W4A16.encode(x, Role.ACTIVATION, name="x")
    assert enc.meta["saturated"] == 2
    assert MIXPE_W4A16.decode(enc).tolist() == [[65504.0, -65504.0, 3.0]]


def test_fp16_activation_has_no_scale():
    with pytest.raises(UserError, match="no scale"):
        MIXPE_W4A16.encode(np.ones((1, 4), np.float32), Role.ACTIVATION, name="x", scale=0.5)


def test_gemm_rejects_mismatched_k():
    x = MIXPE_W4A8.encode(np.ones((2, 100), np.float32), Role.ACTIVATION, name="x")
    w = MIXPE_W4A8.encode(np.ones((3, 120), np.float32), Role.WEIGHT, name="w")
    with pytest.raises(UserError, match="K differs"):
        MIXPE_W4A8.gemm(x, w)


# --- golden GEMM == slow reference ----------------------------------------------------------------

def _check(fmt, x, w):
    xe = fmt.encode(x, Role.ACTIVATION, name="x")
    we = fmt.encode(w, Role.WEIGHT, name="w")
    y = fmt.gemm(xe, we)
    assert y.dtype == np.float32 and y.shape == (x.shape[0], w.shape[0])
    assert np.array_equal(y, reference_gemm(xe, we))  # bit for bit
    return xe, we, y


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 300, 17), (16, 512, 64), (3, 128, 129)])
def test_gemm_matches_reference_random(fmt, shape):
    m, k, n = shape
    rng = _rng(k)
    x = (rng.standard_normal((m, k)) * rng.uniform(0.1, 50)).astype(np.float32)
    w = (rng.standard_normal((n, k)) * 0.05).astype(np.float32)
    xe, we, y = _check(fmt, x, w)
    # Close to the float GEMM of the decoded operands (only float32 rounding differs).
    ref = fmt.decode(xe).astype(np.float64) @ fmt.decode(we).astype(np.float64).T
    assert np.allclose(y, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_gemm_matches_reference_adversarial(fmt):
    k = 2 * GROUP
    big = 65504.0 if fmt is MIXPE_W4A16 else 1.0
    cases = [
        (np.full((2, k), big, np.float32), np.full((3, k), 1.0, np.float32)),  # max |P|
        (np.full((2, k), -big, np.float32), np.tile([[-1.0], [1.0], [0.3]], k).astype(np.float32)),
        (np.zeros((2, k), np.float32), _rng().standard_normal((4, k)).astype(np.float32)),
        (_rng().standard_normal((2, k)).astype(np.float32), np.zeros((4, k), np.float32)),
        (np.full((2, k), 6e-8, np.float32), np.full((2, k), -3.0, np.float32)),  # FP16 subnormals
        (_rng(1).choice([-1e-3, 1e3], (3, k)).astype(np.float32),
         _rng(2).choice([-7.0, 0.0, 1e-6], (5, k)).astype(np.float32)),
    ]
    for x, w in cases:
        _, _, y = _check(fmt, x, w)
        assert np.isfinite(y).all()


def test_w4a8_max_magnitude_is_exact():
    """x = −127 and q − z = −15 everywhere: |D| = 128·15·127 per group, exact."""
    xe = MIXPE_W4A8.encode(np.full((1, GROUP), -1.0, np.float32), Role.ACTIVATION, name="x")
    we = MIXPE_W4A8.encode(np.full((1, GROUP), -1.0, np.float32), Role.WEIGHT, name="w")
    assert xe.codes.min() == -127 and we.codes.max() == 0 and we.meta["zero"].max() == 15
    y = MIXPE_W4A8.gemm(xe, we)
    expected = np.float32(we.scales[0, 0] * np.float32(GROUP * 15 * 127)) * xe.scales[0]
    assert y[0, 0] == expected


# --- real tensors ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_gemm_matches_reference_real(real_linears, fmt):
    for name, x, w in real_linears:
        xe, we, y = _check(fmt, x, w)
        exact = x.astype(np.float64) @ w.astype(np.float64).T
        err = np.linalg.norm(y - exact) / np.linalg.norm(exact)
        # INT4 weights dominate (layer 0, measured 4–17 % with min/max scales); a wrong zero
        # point or scale would be ≈ 100 %.
        assert err < 0.2, (name, err)


def test_registered():
    assert get_format("mixpe-w4a8") is MIXPE_W4A8
    assert get_format("mixpe-w4a16") is MIXPE_W4A16
    assert half.FP16_MAX == 65504.0


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_fake_quant_seam(fmt):
    """Through models.fakequant: weights decode(encode(W)), inputs per forward, LM head float."""
    import torch

    from models.fakequant import quantized

    torch.manual_seed(0)
    model = torch.nn.ModuleDict({"proj": torch.nn.Linear(200, 7), "lm_head": torch.nn.Linear(7, 3)})
    with quantized(model, fmt) as wrappers:
        assert [w.name for w in wrappers] == ["proj"]
        w = model["proj"].inner.weight.detach().numpy()
        expected = fmt.decode(fmt.encode(w, Role.WEIGHT, name="proj.weight"))
        assert np.array_equal(model["proj"].qweight.numpy(), expected)
        x = torch.randn(4, 200)
        xq = fmt.decode(fmt.encode(x.numpy(), Role.ACTIVATION, name="proj.input"))
        assert torch.equal(model["proj"].quantizer.quantize_input(x), torch.from_numpy(xq))


def test_accumulator_width_proof():
    """g = 128: every partial sum fits 19 bits signed; groups too large for exact float32 lanes
    are refused instead of rounding silently."""
    assert partial_sum_bound(GROUP) == 243_840 < 1 << 18
    big = MixPeFormat("int8", group=1 << 14)
    x = big.encode(np.ones((1, 4), np.float32), Role.ACTIVATION, name="x")
    w = big.encode(np.ones((1, 4), np.float32), Role.WEIGHT, name="w")
    with pytest.raises(UserError, match="overflow"):
        big.gemm(x, w)

