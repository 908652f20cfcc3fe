"""AdaptivFloat baseline ``adafloat-w8a8``: 8-bit floats with a per-tensor exponent bias
(papers/olive.md lists AdaFloat among OliVe's baselines).

Code ``s eeee mmm`` (1 sign, 4 exponent, 3 mantissa bits, no subnormals, as AdaptivFloat):
``(e, m) = (0, 0)`` is zero (−0 is never produced); every other code is
``±(8 + m) << e`` steps, step ``2^bias`` — so magnitudes 9·2^b … 15·2^(15+b), plus 0.
Per-tensor ``bias``: the smallest integer with ``15 << 15`` steps ≥ max|x| (the format's top
reaches the tensor's maximum); weights use the tensor itself, activations a static bias from the
calibration maximum (larger values saturate). Rounding: nearest magnitude, ties up (exact: the
scaling by 2^−bias is exact in float64).

GEMM (hardware: mantissa product, exponent add, shift): ``Σ (ix·iw) << (ex+ew)`` with
``ix = ±(8+m)``; |product| ≤ 15²·2^30 < 2^38, so the accumulator is int64 (exact for
K < 2^25, checked); then ``· 2^(bias_x + bias_w)``. Storage: 8 bits per code + an 8-bit bias
per tensor.
"""

from __future__ import annotations

import math

import numpy as np

from core.errors import UserError
from sim.formats import kernels
from sim.formats.base import (
    CalibrationSample,
    Encoded,
    NumberFormat,
    Role,
    apply_scales,
    check_accumulator,
    check_finite,
    check_scale,
)

EXP_BITS, MAN_BITS = 4, 3
TOP = ((1 << MAN_BITS) * 2 - 1) << ((1 << EXP_BITS) - 1)  # 15 << 15 steps
ACC_BITS = 64
BIAS_BITS = 8


def _fields(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hardware decoder: codes → (exponent, signed integer) with value ``integer << exponent``."""
    c = codes.astype(np.int64)
    e, m = (c >> MAN_BITS) & ((1 << EXP_BITS) - 1), c & ((1 << MAN_BITS) - 1)
    zero = (e == 0) & (m == 0)
    i = np.where(zero, 0, (1 << MAN_BITS) + m)
    return np.where(zero, 0, e), np.where(c >> (EXP_BITS + MAN_BITS), -i, i)


_E, _I = _fields(np.arange(256))
LUT = _I << _E
"""Code → signed value in steps."""
_POS = np.argsort(np.where(np.arange(256) < 128, LUT, -1))[128:]  # codes 0..127 by magnitude
GRID = LUT[_POS]
"""Magnitudes (steps) of the non-negative codes, ascending; ``_POS`` their codes."""
assert (np.diff(GRID) > 0).all() and GRID[0] == 0 and GRID[-1] == TOP


def bias_for(absmax: float) -> int:
    """Smallest bias with ``TOP · 2^bias ≥ absmax`` (0 for an all-zero tensor)."""
    if absmax <= 0:
        return 0
    b = math.ceil(math.log2(absmax / TOP))
    return b - 1 if TOP * 2.0 ** (b - 1) >= absmax else b


class AdaFloatFormat(NumberFormat):
    """``adafloat-w8a8`` (module docstring). ``scales``: ``[2^bias]``; ``meta``: ``bias``."""

    name = "adafloat-w8a8"
    description = "AdaptivFloat 8-bit (E4M3, per-tensor exponent bias) weights and activations"
    calibration_tokens = 512
    bits = 8

    def encode(self, x: np.ndarray, role: Role, *, name: str = "tensor",
               scale: float | None = None, bias: int | None = None) -> Encoded:
        role = Role(role)
        x = check_finite(x, name)
        if scale is not None:
            check_scale(scale, name)
            if math.frexp(scale)[0] != 0.5:
                raise UserError(f"{name}: an AdaFloat scale is a power of two (2^bias), got {scale}")
            bias = math.frexp(scale)[1] - 1
        elif bias is None:
            bias = bias_for(float(np.abs(x).max(initial=0.0)))
        q = np.abs(x.astype(np.float64)) * 2.0 ** -bias
        index = np.searchsorted((GRID[:-1] + GRID[1:]) / 2, q, side="right")
        codes = (_POS[index] | np.where((x < 0) & (index > 0), 128, 0)).astype(np.uint8)
        bits = codes.size * self.bits + BIAS_BITS
        return Encoded(self.name, role, x.shape, codes, np.array([2.0**bias], np.float32), bits,
                       0, {"bias": int(bias)})

    def decode(self, enc: Encoded) -> np.ndarray:
        v = kernels.expand(enc.codes, LUT).astype(np.float64) * float(enc.scales[0])
        return v.astype(np.float32)

    def _check(self, x: Encoded, w: Encoded) -> None:
        if x.shape[1] != w.shape[1]:
            raise UserError(f"gemm: K mismatch {x.shape} × {w.shape}")
        check_accumulator(x.shape[1] * TOP * TOP, ACC_BITS, f"{self.name} gemm")

    def gemm(self, x: Encoded, w: Encoded) -> np.ndarray:
        self._check(x, w)
        acc = kernels.int_gemm(kernels.expand(x.codes, LUT), kernels.expand(w.codes, LUT))
        return apply_scales(acc, x.scales, w.scales)

    def gemm_reference(self, x: Encoded, w: Encoded) -> np.ndarray:
        """Plain numpy ``Σ (ix·iw) << (ex+ew)`` from the decoder's fields."""
        self._check(x, w)
        ex, ix = _fields(x.codes)
        ew, iw = _fields(w.codes)
        prod = (ix[:, None, :] * iw[None, :, :]) << (ex[:, None, :] + ew[None, :, :])
        return apply_scales(prod.sum(-1), x.scales, w.scales)

    def calibrate(self, sample: CalibrationSample, *, name: str) -> dict:
        return {"bias": bias_for(sample.absmax)}


ADAFLOAT_W8A8 = AdaFloatFormat()
