"""OLAccel (sim.formats.olaccel): outlier fraction, sparse list, GEMM against the reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.errors import UserError
from sim.formats.base import CalibrationSample, Role
from sim.formats.olaccel import OLACCEL_W4A4, OlaccelFormat


def test_outlier_fraction_and_storage():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((50, 200)).astype(np.float32)
    enc = OLACCEL_W4A4.encode(w, Role.WEIGHT)
    n = enc.meta["outliers"]
    assert 0.9 * 300 <= n <= 300  # ≤ 3 % of 10 000 distinct magnitudes
    o = OLACCEL_W4A4._dense_outliers(enc)
    assert ((o != 0) <= (np.abs(w) > enc.meta["threshold"])).all()
    assert (enc.codes[o != 0] == 0).all()
    assert np.abs(enc.codes).max() <= 7 and np.abs(enc.meta["values"]).max() == 127
    assert enc.bits == 10_000 * 4 + n * (8 + 8) + 32 * 51 + 64
    s4, s8 = enc.scales.astype(np.float64)
    err = np.abs(OLACCEL_W4A4.decode(enc) - w)
    normal_err = np.abs(w - np.clip(np.rint(w / enc.scales[0]), -7, 7) * s4)
    assert (err <= normal_err + 1e-6).all()  # an outlier is never worse than its normal value
    assert err[o != 0].max() <= s8 / 2 * 1.0001
    assert 900 <= OlaccelFormat(0.10).encode(w, Role.WEIGHT).meta["outliers"] <= 1000


@pytest.mark.parametrize("seed", range(3))
def test_gemm_matches_reference(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_t(2, (7, 90)).astype(np.float32)
    w = rng.standard_t(2, (9, 90)).astype(np.float32)
    xe, we = OLACCEL_W4A4.encode(x, Role.ACTIVATION), OLACCEL_W4A4.encode(w, Role.WEIGHT)
    y = OLACCEL_W4A4.gemm(xe, we)
    np.testing.assert_array_equal(y, OLACCEL_W4A4.gemm_reference(xe, we))
    np.testing.assert_allclose(y, OLACCEL_W4A4.decode(xe) @ OLACCEL_W4A4.decode(we).T,
                               rtol=1e-4, atol=1e-4)


def test_static_calibration_and_bad_input():
    rng = np.random.default_rng(3)
    s = CalibrationSample()
    s.add(rng.standard_normal((100, 40)).astype(np.float32))
    static = OLACCEL_W4A4.calibrate(s, name="x")
    enc = OLACCEL_W4A4.encode(rng.standard_normal((5, 40)) * 3, Role.ACTIVATION, **static)
    assert enc.meta["threshold"] == static["threshold"] and enc.meta["outliers"] > 0.03 * 200
    with pytest.raises(UserError, match="fraction"):
        OlaccelFormat(1.5)
    with pytest.raises(UserError, match="a.b"):
        OLACCEL_W4A4.encode(np.array([[np.nan, 1]]), Role.WEIGHT, name="a.b")
    z = OLACCEL_W4A4.encode(np.zeros((3, 4)), Role.WEIGHT)
    assert (OLACCEL_W4A4.decode(z) == 0).all() and np.isfinite(z.scales).all()


@settings(max_examples=50, deadline=None)
@given(x=arrays(np.float32, (3, 16), elements=st.floats(-1e4, 1e4, allow_nan=False, width=32)))
def test_decode_encode_idempotent_with_fixed_parameters(x):
    enc = OLACCEL_W4A4.encode(x, Role.WEIGHT)
    params = {"threshold": enc.meta["threshold"], "absmax": float(np.abs(x).max())}
    once = OLACCEL_W4A4.decode(enc)
    again = OLACCEL_W4A4.decode(OLACCEL_W4A4.encode(once, Role.WEIGHT, **params))
    np.testing.assert_array_equal(again, once)


@pytest.mark.parametrize("value", [1e-45, 1e-40, 3e-38])
def test_subnormal_tensors_encode_to_finite_scales(value):
    """Found by hypothesis: max / 127 of a subnormal-only tensor underflowed to a zero scale."""
    x = np.zeros((3, 16), np.float32)
    x[0] = value
    enc = OLACCEL_W4A4.encode(x, Role.WEIGHT)
    assert np.isfinite(enc.scales).all() and (enc.scales > 0).all()
    once = OLACCEL_W4A4.decode(enc)
    params = {"threshold": enc.meta["threshold"], "absmax": value}
    np.testing.assert_array_equal(OLACCEL_W4A4.decode(OLACCEL_W4A4.encode(once, Role.WEIGHT, **params)), once)
