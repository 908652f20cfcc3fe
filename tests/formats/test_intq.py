"""int8 / int4 (sim.formats.intq): per-row symmetric integers and their exact GEMM."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.errors import UserError
from sim.formats.base import Role
from sim.formats.intq import INT4, INT8, gemm_reference

FORMATS = [INT8, INT4]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_per_row_scale_maps_row_max_to_qmax(fmt):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 33)).astype(np.float32)
    enc = fmt.encode(w, Role.WEIGHT)
    top = (1 << (fmt.bits - 1)) - 1
    assert (np.abs(enc.codes).max(1) == top).all()
    np.testing.assert_allclose(enc.scales, np.abs(w).max(1) / top, rtol=1e-6)
    assert np.abs(fmt.decode(enc) - w).max() <= enc.scales.max() / 2 * (1 + 1e-6)
    assert enc.bits_per_element() == fmt.bits + 32 / 33


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_gemm_matches_reference_random_and_extreme(fmt):
    rng = np.random.default_rng(1)
    x = rng.standard_t(2, size=(9, 301)).astype(np.float32)
    w = rng.standard_t(2, size=(11, 301)).astype(np.float32)
    xe, we = fmt.encode(x, Role.ACTIVATION), fmt.encode(w, Role.WEIGHT)
    np.testing.assert_array_equal(fmt.gemm(xe, we), gemm_reference(xe, we))
    # every code at ±qmax: the largest partial sums
    xe, we = fmt.encode(np.ones((2, 4096)), Role.ACTIVATION), fmt.encode(-np.ones((3, 4096)), Role.WEIGHT)
    y = fmt.gemm(xe, we)
    np.testing.assert_array_equal(y, gemm_reference(xe, we))
    np.testing.assert_allclose(y, -4096, rtol=1e-6)


def test_accumulator_bound_is_checked():
    k = 140_000  # 140000 · 127² ≥ 2^31
    xe = INT8.encode(np.ones((1, k)), Role.ACTIVATION)
    with pytest.raises(UserError, match="int32 accumulator"):
        INT8.gemm(xe, xe)


def test_bad_and_degenerate_input():
    with pytest.raises(UserError, match="blk.3"):
        INT8.encode(np.array([[1.0, np.inf]]), Role.WEIGHT, name="blk.3")
    enc = INT4.encode(np.zeros((2, 7)), Role.ACTIVATION)
    assert (enc.scales == 1).all() and (INT4.decode(enc) == 0).all()
    enc = INT8.encode(np.array([[0.5, -1.0]]), Role.ACTIVATION, scale=0.25)
    assert enc.codes.tolist() == [[2, -4]]


@settings(max_examples=60, deadline=None)
@given(fmt=st.sampled_from(FORMATS),
       x=st.integers(1, 5).flatmap(lambda r: st.integers(1, 20).flatmap(lambda k: arrays(
           np.float32, (r, k), elements=st.floats(-1e5, 1e5, allow_nan=False, width=32)))))
def test_decode_encode_idempotent(fmt, x):
    once = fmt.decode(fmt.encode(x, Role.ACTIVATION))
    np.testing.assert_array_equal(fmt.decode(fmt.encode(once, Role.ACTIVATION)), once)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_real_layer0_gemm_bit_exact(fmt, real_linears):
    for name, x, w in real_linears:
        xe, we = fmt.encode(x, Role.ACTIVATION), fmt.encode(w, Role.WEIGHT)
        np.testing.assert_array_equal(fmt.gemm(xe, we), gemm_reference(xe, we), err_msg=name)
