"""ANT, OLAccel and AdaFloat golden GEMMs on real smollm2 layer-0 tensors (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.formats.adafloat import ADAFLOAT_W8A8
from sim.formats.ant import ANT_W4A4
from sim.formats.base import Role
from sim.formats.olaccel import OLACCEL_W4A4


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [ANT_W4A4, OLACCEL_W4A4, ADAFLOAT_W8A8], ids=lambda f: f.name)
def test_real_layer0_gemm_bit_exact(fmt, real_linears):
    for name, x, w in real_linears:
        xe, we = fmt.encode(x, Role.ACTIVATION, name=name), fmt.encode(w, Role.WEIGHT, name=name)
        np.testing.assert_array_equal(fmt.gemm(xe, we), fmt.gemm_reference(xe, we), err_msg=name)
