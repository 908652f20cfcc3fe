"""AdaFloat (sim.formats.adafloat): grid, bias rule, GEMM against the plain reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.errors import UserError
from sim.formats.adafloat import ADAFLOAT_W8A8, GRID, TOP, bias_for
from sim.formats.base import CalibrationSample, Role


def test_grid_and_bias():
    assert GRID[:10].tolist() == [0, 9, 10, 11, 12, 13, 14, 15, 16, 18] and GRID[-1] == 15 << 15
    for absmax in (1e-6, 0.3, 1.0, 7.5, 1e4):
        b = bias_for(absmax)
        assert TOP * 2.0**b >= absmax > TOP * 2.0 ** (b - 1)
    assert bias_for(0.0) == 0


def test_top_of_tensor_is_representable_and_codes_round_trip():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 50)).astype(np.float32)
    enc = ADAFLOAT_W8A8.encode(x, Role.WEIGHT)
    d = ADAFLOAT_W8A8.decode(enc)
    rel = np.abs(d - x)[np.abs(x) > 1e-3] / np.abs(x)[np.abs(x) > 1e-3]
    assert rel.max() <= 1 / 16 + 1e-6  # 3 mantissa bits: half an ulp of ≥ 8
    assert 128 not in enc.codes  # −0 never produced
    assert enc.bits_per_element() == 8 + 8 / 200


def test_gemm_matches_reference():
    rng = np.random.default_rng(1)
    x = (rng.standard_t(2, (5, 64)) * 3).astype(np.float32)
    w = (rng.standard_t(2, (6, 64)) * 0.02).astype(np.float32)
    xe, we = ADAFLOAT_W8A8.encode(x, Role.ACTIVATION), ADAFLOAT_W8A8.encode(w, Role.WEIGHT)
    y = ADAFLOAT_W8A8.gemm(xe, we)
    np.testing.assert_array_equal(y, ADAFLOAT_W8A8.gemm_reference(xe, we))
    np.testing.assert_allclose(y, ADAFLOAT_W8A8.decode(xe) @ ADAFLOAT_W8A8.decode(we).T, rtol=1e-5,
                               atol=1e-6)
    big = ADAFLOAT_W8A8.encode(np.full((1, 4096), 15 << 15), Role.ACTIVATION, scale=1.0)
    assert ADAFLOAT_W8A8.gemm(big, big)[0, 0] == np.float32(4096 * float(15 << 15) ** 2)


def test_static_bias_and_bad_input():
    s = CalibrationSample()
    s.add(np.array([[0.5, -3.0]], np.float32))
    static = ADAFLOAT_W8A8.calibrate(s, name="x")
    assert static == {"bias": bias_for(3.0)}
    enc = ADAFLOAT_W8A8.encode(np.array([[100.0, 1.0]]), Role.ACTIVATION, **static)
    assert ADAFLOAT_W8A8.decode(enc)[0, 0] == TOP * 2.0 ** static["bias"]  # saturates
    with pytest.raises(UserError, match="power of two"):
        ADAFLOAT_W8A8.encode(np.ones((1, 2)), Role.ACTIVATION, scale=0.3)
    with pytest.raises(UserError, match="w.7"):
        ADAFLOAT_W8A8.encode(np.array([[np.inf]]), Role.WEIGHT, name="w.7")
    assert (ADAFLOAT_W8A8.decode(ADAFLOAT_W8A8.encode(np.zeros((2, 2)), Role.WEIGHT)) == 0).all()


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float32, (2, 12), elements=st.floats(-1e6, 1e6, allow_nan=False, width=32)))
def test_decode_encode_idempotent(x):
    enc = ADAFLOAT_W8A8.encode(x, Role.WEIGHT)
    once = ADAFLOAT_W8A8.decode(enc)
    again = ADAFLOAT_W8A8.decode(ADAFLOAT_W8A8.encode(once, Role.WEIGHT, bias=enc.meta["bias"]))
    np.testing.assert_array_equal(again, once)
