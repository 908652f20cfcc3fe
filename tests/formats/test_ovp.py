"""OVP-4/8 (sim.formats.ovp): grids, encoder, decoder and GEMM against the plain references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.errors import UserError
from sim.formats import ovp
from sim.formats.base import CalibrationSample, Role
from sim.formats.ovp import (
    FLINT4,
    FRAC_BITS,
    INT4,
    INT8_E4M3,
    OLIVE_W4A4,
    OLIVE_W8A8,
    decode_fields,
    encode_fixed,
    encode_fixed_reference,
    expand,
    gemm_reference,
)

TYPES = [INT4, FLINT4, INT8_E4M3]
ONE = 1 << FRAC_BITS


def outlier_set(t):
    return set(t.grid[t.n_normal:].tolist())


def test_grids_are_those_of_the_paper():
    # papers/olive.md "4-bit encoding" / "8-bit encoding"
    assert outlier_set(INT4) == {12, 16, 24, 32, 48, 64, 96} and INT4.bias == 2
    assert outlier_set(FLINT4) == {24, 32, 48, 64, 96, 128, 192} and FLINT4.bias == 3
    assert INT4.normal_max == 7 and FLINT4.normal_max == 16 and INT8_E4M3.normal_max == 127
    assert INT8_E4M3.bias == 4 and min(outlier_set(INT8_E4M3)) == 144
    assert INT8_E4M3.outlier_max == 15 << 19
    assert INT4.ident == 0b1000 and INT8_E4M3.ident == 0x80
    # effective thresholds of the public code: 1.357·α (int4) and 1.25·α (flint4), α = normal max
    assert INT4.thresholds[INT4.n_normal - 1] / ONE / 7 == pytest.approx(1.357, abs=1e-3)
    assert FLINT4.thresholds[FLINT4.n_normal - 1] / ONE / 16 == 1.25


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name)
def test_identifier_is_never_a_normal_or_outlier_code(t):
    """Normal codes and outlier codes are each one-to-one with signed grid points (the pair's
    identifier says which reading applies) and neither ever uses the identifier."""
    nn = t.n_normal
    normal = set(t.pos_code[:nn].tolist()) | set(t.neg_code[1:nn].tolist())
    outlier = set(t.pos_code[nn:].tolist()) | set(t.neg_code[nn:].tolist())
    assert t.ident not in normal | outlier
    assert len(normal) == 2 * nn - 1 and len(outlier) == 2 * (len(t.grid) - nn)


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name)
def test_decoder_fields_match_grid(t):
    """Every code of the encoder decodes (bit fields) to its grid magnitude with its sign."""
    for j, g in enumerate(t.grid):
        for code, sign in ((t.pos_code[j], 1), (t.neg_code[j], -1)):
            if g == 0 and sign < 0:
                continue
            partner = 0 if j < t.n_normal else t.ident
            e, i = decode_fields(np.array([[code, partner]], np.uint8), t)
            assert i[0, 0] << e[0, 0] == sign * g
            assert (e[0, 1], i[0, 1]) == (0, 0)
    assert (decode_fields(np.array([[t.ident, t.pos_code[-1]]], np.uint8), t)[0][0, 0]) == 0


def random_fixed(rng, t, shape):
    """Fixed-point magnitudes hitting grid points, exact midpoints, saturation and signs."""
    points = np.concatenate([t.grid << FRAC_BITS, t.thresholds, t.thresholds - 1,
                             [t.outlier_max * ONE * 4, 0]])
    q = rng.choice(points, size=shape) + rng.integers(-2, 3, size=shape) * (rng.random(shape) < .3)
    return q * rng.choice([-1, 1], size=shape)


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name)
def test_encoder_matches_reference_adversarial(t):
    rng = np.random.default_rng(1)
    q = random_fixed(rng, t, (64, 256))
    codes, counts = encode_fixed(q, t)
    ref_codes, ref_counts = encode_fixed_reference(q, t)
    np.testing.assert_array_equal(codes, ref_codes)
    np.testing.assert_array_equal(counts, ref_counts)
    assert counts[:, 2].sum() > 0 and counts[:, 1].sum() > 0


def test_ties_go_to_the_larger_magnitude():
    mid = INT4.thresholds[0]  # halfway between 0 and 1 step
    codes, _ = encode_fixed(np.array([[mid, -mid]]), INT4)
    assert codes.tolist() == [[1, 0b1111]]
    # halfway between 7 and 12: an outlier (12), its partner a victim
    codes, counts = encode_fixed(np.array([[INT4.thresholds[7], 3 * ONE]]), INT4)
    assert codes[0, 1] == INT4.ident and counts[0].tolist() == [0, 1, 0]


def test_larger_outlier_wins_ties_even():
    big, bigger = 20 * ONE, 50 * ONE
    codes, _ = encode_fixed(np.array([[big, -bigger], [bigger, big], [big, big]]), INT4)
    e, i = decode_fields(codes, INT4)
    values = i << e
    assert values.tolist() == [[0, -48], [48, 0], [24, 0]]  # 20 is halfway 16..24: up


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name)
def test_expand_equals_decoder_fields(t):
    rng = np.random.default_rng(2)
    codes, _ = encode_fixed(random_fixed(rng, t, (32, 128)), t)
    e, i = decode_fields(codes, t)
    np.testing.assert_array_equal(expand(codes, t), i << e)
    assert (np.abs(i) <= (7 if t.bits == 4 else 127)).all()


def test_encode_float_is_fixed_conversion_then_encode_fixed():
    rng = np.random.default_rng(3)
    x = (rng.standard_t(2, size=(16, 64)) * 0.1).astype(np.float32)
    scales = np.array([0.013], np.float32)
    codes, counts = ovp.encode_scaled(x, scales, INT4)
    ref, ref_counts = encode_fixed(ovp.to_fixed(x, scales), INT4)
    np.testing.assert_array_equal(codes, ref)
    np.testing.assert_array_equal(counts, ref_counts)


def encode_pair(fmt, x, w, scale=None):
    return (fmt.encode(x, Role.ACTIVATION, scale=scale or 0.05),
            fmt.encode(w, Role.WEIGHT))


@pytest.mark.parametrize("fmt", [OLIVE_W4A4, OLIVE_W8A8], ids=lambda f: f.name)
def test_gemm_matches_reference_random(fmt):
    rng = np.random.default_rng(4)
    x = (rng.standard_t(3, size=(5, 97)) * 0.2).astype(np.float32)  # odd K: padded
    w = (rng.standard_t(3, size=(7, 97)) * 0.05).astype(np.float32)
    xe, we = encode_pair(fmt, x, w)
    assert xe.padded == 1 and we.codes.shape == (7, 98)
    y = fmt.gemm(xe, we)
    np.testing.assert_array_equal(y, gemm_reference(xe, we))
    # and it is the product of the decoded tensors (to float rounding)
    np.testing.assert_allclose(y, fmt.decode(xe) @ fmt.decode(we).T, rtol=1e-4, atol=1e-5)


def test_gemm_worst_case_fits_int32_at_k4096():
    """Every value a maximal flint4 outlier in both operands: the proved bound is reached."""
    k = 4096
    assert ovp.accumulator_bits(FLINT4, FLINT4, k) == 32
    assert ovp.accumulator_bits(INT8_E4M3, INT8_E4M3, k) == 64
    top = np.array([FLINT4.outlier_max * ONE] * k)[None, :]
    xe = OLIVE_W4A4.encode(np.full((2, k), 192.0, np.float32), Role.ACTIVATION, scale=1.0,
                           normal="flint4")
    we = OLIVE_W4A4.encode(-np.full((3, k), 500.0, np.float32), Role.WEIGHT, scale=1.0,
                           normal="flint4")
    assert encode_fixed(top, FLINT4)[1][0, 2] == k // 2
    y = OLIVE_W4A4.gemm(xe, we)
    assert y[0, 0] == -(k // 2) * 192 * 192 == -ovp.accumulator_bound(FLINT4, FLINT4, k)
    np.testing.assert_array_equal(y, gemm_reference(xe, we))


def test_mixed_normal_types_in_gemm():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 32)).astype(np.float32)
    w = rng.standard_normal((4, 32)).astype(np.float32)
    xe = OLIVE_W4A4.encode(x, Role.ACTIVATION, scale=0.2, normal="int4")
    we = OLIVE_W4A4.encode(w, Role.WEIGHT, normal="flint4")
    np.testing.assert_array_equal(OLIVE_W4A4.gemm(xe, we), gemm_reference(xe, we))


def test_bad_input():
    x = np.ones((2, 8), np.float32)
    x[1, 3] = np.nan
    with pytest.raises(UserError, match="layer7.input"):
        OLIVE_W4A4.encode(x, Role.ACTIVATION, name="layer7.input")
    with pytest.raises(UserError, match="scale"):
        OLIVE_W4A4.encode(np.ones((2, 8)), Role.ACTIVATION, scale=0.0)
    with pytest.raises(UserError, match="normal type"):
        OLIVE_W4A4.encode(np.ones((2, 8)), Role.ACTIVATION, normal="int8")
    with pytest.raises(UserError, match="3-D|2-D"):
        OLIVE_W4A4.encode(np.ones((2, 2, 2)), Role.WEIGHT)


@pytest.mark.parametrize("fmt", [OLIVE_W4A4, OLIVE_W8A8], ids=lambda f: f.name)
@pytest.mark.parametrize("role", list(Role))
def test_all_zero_tensor(fmt, role):
    enc = fmt.encode(np.zeros((3, 10), np.float32), role)
    assert np.isfinite(enc.scales).all() and (enc.scales > 0).all()
    assert (fmt.decode(enc) == 0).all()


def test_weight_scale_is_an_alpha_of_the_sweep():
    """Per row: scale · normal_max = base·i/100 for some i in 75, 77, …, 249, and it beats a
    neighbouring α in squared error."""
    rng = np.random.default_rng(6)
    w = rng.standard_normal((6, 128)).astype(np.float32)
    w[2, 5] = 9.0
    enc = OLIVE_W4A4.encode(w, Role.WEIGHT)
    t = ovp.TYPES[enc.meta["normal"]]
    base = ovp.three_sigma_base(w.astype(np.float64).mean(1), w.astype(np.float64).std(1))
    ratio = enc.scales.astype(np.float64) * t.normal_max / base * 100
    assert np.allclose(ratio, np.round(ratio), atol=1e-3)
    assert set(np.round(ratio).astype(int)) <= set(ovp.ALPHA_PERCENT.tolist())
    sse = ovp.sweep(w, base, t)
    best = sse.min(1)
    assert (best <= sse[:, [0, -1]].min(1)).all()
    assert enc.bits_per_element() == pytest.approx(4 + 32 * 6 / (6 * 128) + 1 / (6 * 128))


def test_activation_calibration_is_static_and_detects_outliers_each_forward():
    rng = np.random.default_rng(7)
    q = OLIVE_W4A4.for_linear("model.layers.0.mlp.up_proj", 16, 64)
    assert OLIVE_W4A4.for_linear("lm_head", 100, 64) is None
    calib = torch.from_numpy(rng.standard_normal((2, 32, 64)).astype(np.float32))
    q.observe(calib)
    x = torch.from_numpy(rng.standard_normal((1, 4, 64)).astype(np.float32))
    x[0, 1, 9] = 40.0
    y = q.quantize_input(x)
    static = q.static
    assert static["normal"] in ("int4", "flint4") and static["scale"] > 0
    # static: a different batch reuses the scale; the outlier is kept and its partner victimised
    y2 = q.quantize_input(x * 0.5)
    assert q.static is static and y.shape == x.shape
    assert y[0, 1, 8] == 0 and y[0, 1, 9] > 10
    ref = OLIVE_W4A4.decode(OLIVE_W4A4.encode(0.5 * x.numpy().reshape(4, 64), Role.ACTIVATION,
                                              **static))
    np.testing.assert_array_equal(y2.numpy().reshape(4, 64), ref)


def test_calibration_sample_moments_cover_all_values():
    s = CalibrationSample(capacity=100)
    data = np.arange(600, dtype=np.float32).reshape(60, 10)
    for chunk in np.split(data, 6):
        s.add(chunk)
    assert s.count == 600 and s.mean == pytest.approx(data.mean())
    assert s.std == pytest.approx(data.std(), rel=1e-6) and s.absmax == 599
    assert s.rows.size <= 100 and s.rows.shape[1] == 10


# --- properties (hypothesis) ---------------------------------------------------------------------

finite = st.floats(-1e4, 1e4, allow_nan=False, width=32)
tensors = st.integers(1, 6).flatmap(lambda r: st.integers(1, 24).flatmap(
    lambda k: arrays(np.float32, (r, k), elements=finite)))
formats = st.sampled_from([OLIVE_W4A4, OLIVE_W8A8])
scales = st.floats(1e-3, 1e3)


@settings(max_examples=60, deadline=None)
@given(fmt=formats, x=tensors, scale=scales)
def test_decode_encode_is_idempotent(fmt, x, scale):
    once = fmt.decode(fmt.encode(x, Role.ACTIVATION, scale=scale))
    enc = fmt.encode(once, Role.ACTIVATION, scale=scale)
    np.testing.assert_array_equal(fmt.decode(enc), once)


@settings(max_examples=60, deadline=None)
@given(fmt=formats, x=tensors, scale=scales)
def test_pair_invariants(fmt, x, scale):
    enc = fmt.encode(x, Role.ACTIVATION, scale=scale)
    t = ovp.TYPES[enc.meta["normal"]]
    c = enc.codes.reshape(enc.codes.shape[0], -1, 2)
    ident = c == t.ident
    assert not (ident[..., 0] & ident[..., 1]).any()  # never both slots
    e, i = decode_fields(enc.codes, t)
    v = (i << e).reshape(c.shape)
    with_outlier = ident.any(-1)
    assert ((v != 0).sum(-1)[with_outlier] <= 1).all()  # at most one non-zero per outlier pair
    assert (np.abs(v[~with_outlier]) <= t.normal_max).all()  # identifier never normal
    # the larger outlier wins
    q = ovp.to_fixed(np.pad(x, ((0, 0), (0, enc.padded))), enc.scales).reshape(c.shape)
    kept = np.where(ident[..., 0], 1, 0)
    winner = np.take_along_axis(np.abs(q), kept[..., None], -1)[..., 0]
    loser = np.take_along_axis(np.abs(q), 1 - kept[..., None], -1)[..., 0]
    assert (winner[with_outlier] >= loser[with_outlier]).all()
    assert sum(enc.meta["pairs"].values()) == c.shape[0] * c.shape[1]


@settings(max_examples=40, deadline=None)
@given(fmt=formats, x=tensors, w=tensors)
def test_gemm_property(fmt, x, w):
    w = np.resize(w, (w.shape[0], x.shape[1]))
    xe, we = fmt.encode(x, Role.ACTIVATION), fmt.encode(w, Role.WEIGHT)
    np.testing.assert_array_equal(fmt.gemm(xe, we), gemm_reference(xe, we))


# --- real tensors ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_layer0_gemm_bit_exact(real_linears):
    """Real smollm2 layer-0 inputs and weights: kernels == references, encode == encode_fixed of
    the fixed-point input, and OVP-8 beats OVP-4 in output SQNR on every layer."""
    for name, x, w in real_linears:
        sqnr = {}
        for fmt in (OLIVE_W4A4, OLIVE_W8A8):
            xe = fmt.encode(x, Role.ACTIVATION, name=name)
            we = fmt.encode(w, Role.WEIGHT, name=name)
            y = fmt.gemm(xe, we)
            np.testing.assert_array_equal(y, gemm_reference(xe, we), err_msg=name)
            fixed = ovp.to_fixed(np.pad(w, ((0, 0), (0, we.padded))), we.scales)
            codes, _ = encode_fixed(fixed, ovp.TYPES[we.meta["normal"]])
            np.testing.assert_array_equal(codes, we.codes, err_msg=name)
            ref = x.astype(np.float64) @ w.T.astype(np.float64)
            sqnr[fmt.bits] = 10 * np.log10((ref**2).sum() / ((y - ref) ** 2).sum())
        assert 0 < sqnr[4] < sqnr[8], (name, sqnr)


@pytest.mark.parametrize("t", [INT4, FLINT4, INT8_E4M3], ids=lambda t: t.name)
def test_per_tensor_sweep_is_brute_force_argmin(t):
    """The per-tensor α (activations) minimises the squared error of the actual encoding over all
    candidate α, evaluated on every row (brute force with the encoder and decoder)."""
    rng = np.random.default_rng(8)
    x = (rng.standard_t(2, size=(12, 64)) * 0.3).astype(np.float32)
    base = ovp.three_sigma_base(x.astype(np.float64).mean(), x.astype(np.float64).std())
    scales, total = ovp.search_scales(x, base, t, per_row=False)
    errors = []
    for i in ovp.ALPHA_PERCENT:
        s = np.array([base[0] * i / 100 / t.normal_max], np.float32)
        codes, _ = ovp.encode_scaled(x, s, t)
        decoded = expand(codes, t).astype(np.float64) * np.float64(s[0])
        errors.append(((decoded - x) ** 2).sum())
    best = int(np.argmin(errors))
    assert scales[0] == np.float32(base[0] * ovp.ALPHA_PERCENT[best] / 100 / t.normal_max)
    assert total == pytest.approx(errors[best], rel=1e-9)
