"""ANT (sim.formats.ant): type choice, grids, GEMM against the plain reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.errors import UserError
from sim.formats import ovp
from sim.formats.ant import ANT_W4A4, TYPES
from sim.formats.base import CalibrationSample, Role


def test_flint_grid_is_shared_with_ovp():
    assert (TYPES["flint4"].grid == ovp.FLINT4.grid[: ovp.FLINT4.n_normal]).all()
    assert TYPES["pot4"].grid.tolist() == [0, 1, 2, 4, 8, 16, 32, 64]


@pytest.mark.parametrize("kind", list(TYPES))
def test_codes_decode_to_the_grid(kind):
    t = TYPES[kind]
    x = np.concatenate([t.grid, -t.grid]).astype(np.float32)[None, :]
    enc = ANT_W4A4.encode(x, Role.ACTIVATION, scale=1.0, kind=kind)
    np.testing.assert_array_equal(ANT_W4A4.decode(enc), x)
    assert 8 not in enc.codes.tolist()[0]  # −0 / −8 never produced


@pytest.mark.parametrize("dist", ["uniform", "normal", "heavy"])
def test_chosen_type_has_least_error(dist):
    rng = np.random.default_rng(0)
    x = {"uniform": rng.uniform(-1, 1, (16, 256)), "normal": rng.standard_normal((16, 256)),
         "heavy": rng.standard_t(1.5, (16, 256))}[dist].astype(np.float32)
    chosen = ANT_W4A4.encode(x, Role.WEIGHT)
    errors = {k: ((ANT_W4A4.decode(ANT_W4A4.encode(x, Role.WEIGHT, kind=k)) - x) ** 2).sum()
              for k in TYPES}
    assert errors[chosen.meta["type"]] == min(errors.values())


@pytest.mark.parametrize("role", list(Role))
def test_gemm_matches_reference(role):
    rng = np.random.default_rng(1)
    x = rng.standard_t(3, (6, 77)).astype(np.float32)
    w = rng.standard_t(3, (5, 77)).astype(np.float32)
    xe, we = ANT_W4A4.encode(x, Role.ACTIVATION), ANT_W4A4.encode(w, role)
    np.testing.assert_array_equal(ANT_W4A4.gemm(xe, we), ANT_W4A4.gemm_reference(xe, we))


def test_extreme_and_bad_input():
    xe = ANT_W4A4.encode(np.full((2, 4096), 64.0), Role.ACTIVATION, scale=1.0, kind="pot4")
    we = ANT_W4A4.encode(np.full((2, 4096), -64.0), Role.WEIGHT, scale=1.0, kind="pot4")
    assert (ANT_W4A4.gemm(xe, we) == -4096 * 64 * 64).all()
    assert (ANT_W4A4.decode(ANT_W4A4.encode(np.zeros((2, 3)), Role.WEIGHT)) == 0).all()
    with pytest.raises(UserError, match="t9"):
        ANT_W4A4.encode(np.array([[np.nan]]), Role.WEIGHT, name="t9")
    with pytest.raises(UserError, match="ANT type"):
        ANT_W4A4.encode(np.ones((1, 2)), Role.WEIGHT, kind="int8")


def test_calibration_gives_static_encoding():
    rng = np.random.default_rng(2)
    s = CalibrationSample()
    s.add(rng.standard_normal((64, 32)).astype(np.float32))
    static = ANT_W4A4.calibrate(s, name="x")
    assert static["kind"] in TYPES and static["scale"] > 0
    enc = ANT_W4A4.encode(rng.standard_normal((4, 32)), Role.ACTIVATION, **static)
    assert enc.scales.tolist() == [np.float32(static["scale"])]


@settings(max_examples=50, deadline=None)
@given(x=arrays(np.float32, (3, 10), elements=st.floats(-1e3, 1e3, allow_nan=False, width=32)),
       scale=st.floats(1e-3, 1e2), kind=st.sampled_from(list(TYPES)))
def test_decode_encode_idempotent(x, scale, kind):
    once = ANT_W4A4.decode(ANT_W4A4.encode(x, Role.ACTIVATION, scale=scale, kind=kind))
    again = ANT_W4A4.decode(ANT_W4A4.encode(once, Role.ACTIVATION, scale=scale, kind=kind))
    np.testing.assert_array_equal(again, once)


@pytest.mark.parametrize("kind", list(TYPES))
def test_sweep_kernel_matches_brute_force(kind):
    from sim.formats import kernels
    from sim.formats.ovp import ALPHA_PERCENT

    t = TYPES[kind]
    rng = np.random.default_rng(5)
    x = rng.standard_t(3, (8, 50)).astype(np.float32)
    base = 3 * x.std(1).astype(np.float64)
    sse = kernels.grid_sweep(x, base, ALPHA_PERCENT, t.grid)
    for c, i in enumerate(ALPHA_PERCENT):
        s = (base * (i / 100) / t.grid[-1]).astype(np.float32).astype(np.float64)[:, None]
        a = np.abs(x.astype(np.float64))
        j = np.searchsorted((t.grid[:-1] + t.grid[1:]) / 2, a / s, side="right")
        np.testing.assert_allclose(sse[:, c], ((a - t.grid[j] * s) ** 2).sum(1), rtol=1e-12)
