"""OLAccel baseline ``olaccel-w4a4``: 4-bit normal values plus a sparse list of 8-bit outliers
with their positions (papers/olive.md: OLAccel is one of OliVe's baselines; its outlier storage
is unaligned, which OVP avoids).

Per tensor: threshold ``T`` = the ``(1 − fraction)`` quantile of |x| (default fraction 3 %, a
parameter). Normal values: symmetric int4 (15 levels), step ``s4 = float32(T / 7)``, so normal
points lie in [−T, T]; outliers: symmetric int8 in a separate list, step
``s8 = float32(max|x| / 127)``, outlier points ``k·s8 > T``. A value with ``|x| > T`` is an
outlier when its nearest outlier point is strictly closer than its nearest normal point (so a
coarse ``s8`` never makes a value worse; at most ``fraction`` of the weights are outliers). The dense 4-bit array holds 0 at outlier positions. Weights use
their own T and max; activations use a static T and max from calibration (the outlier fraction
then varies per batch; larger values saturate to ±127·s8). Rounding: ``rint(x / s)`` (float32
division, ties to even) as in :mod:`sim.formats.pertoken`; ``s4`` is lowered by ulps until
``7·s4 ≤ T`` and an outlier's code magnitude is at least ``⌊T / s8⌋ + 1``, so the classification
of a decoded value is stable (decode∘encode is idempotent).

Storage: 4 bits per element + per outlier 8 bits of value and ⌈log2 K⌉ bits of column index,
+ a 32-bit row pointer per row (CSR) + two float32 scales.
GEMM (dense int4 PEs plus an outlier path): four exact int32 accumulators
``Σ qx·qw, Σ ox·qw, Σ qx·ow, Σ ox·ow`` (|products| ≤ 127², exact for K ≤ 133 143, checked),
``y = s4x·s4w·A + s8x·s4w·B + s4x·s8w·C + s8x·s8w·D`` evaluated in float64, rounded to float32.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from core.errors import UserError
from sim.formats.base import (
    SCALE_MIN,
    CalibrationSample,
    Encoded,
    NumberFormat,
    Role,
    check_finite,
    check_scale,
)

ACC_BITS = 32


def _threshold(absx: np.ndarray, fraction: float) -> float:
    return float(np.quantile(absx, 1.0 - fraction)) if absx.size else 0.0


@numba.njit(cache=True, parallel=True)
def _gemm_kernel(qx, ox, qw, ow, acc):
    for n in numba.prange(qw.shape[0]):
        for m in range(qx.shape[0]):
            a = b = c = d = np.int64(0)
            for k in range(qx.shape[1]):
                a += np.int64(qx[m, k]) * qw[n, k]
                b += np.int64(ox[m, k]) * qw[n, k]
                c += np.int64(qx[m, k]) * ow[n, k]
                d += np.int64(ox[m, k]) * ow[n, k]
            acc[0, m, n], acc[1, m, n], acc[2, m, n], acc[3, m, n] = a, b, c, d


def _entries(enc: Encoded):
    """``(row, column, int8 value)`` of every listed outlier."""
    rows = np.repeat(np.arange(enc.shape[0]), np.diff(enc.meta["rowptr"]))
    return zip(rows.tolist(), enc.meta["cols"].tolist(), enc.meta["values"].tolist(), strict=True)


class OlaccelFormat(NumberFormat):
    """``olaccel-w4a4`` (module docstring). ``codes``: dense int4 ``[rows, K]`` (int8 dtype);
    ``scales``: ``[s4, s8]``; ``meta``: ``rowptr``, ``cols``, ``values`` (CSR outlier list),
    ``outliers`` (count), ``threshold``."""

    calibration_tokens = 512
    bits = 4
    """Code width of the dense path (the outliers' int8 values sit in the sparse list)."""

    def __init__(self, fraction: float = 0.03):
        if not 0 <= fraction < 1:
            raise UserError(f"OLAccel outlier fraction must be in [0, 1), got {fraction}")
        self.fraction = fraction
        self.name = "olaccel-w4a4"
        self.description = f"OLAccel: int4 normal values, {fraction:.0%} int8 outliers in a sparse list"

    def encode(self, x: np.ndarray, role: Role, *, name: str = "tensor",
               scale: float | None = None, threshold: float | None = None,
               absmax: float | None = None) -> Encoded:
        role = Role(role)
        x = check_finite(x, name)
        absx = np.abs(x)
        if scale is not None:
            check_scale(scale, name)
            threshold = 7.0 * scale
        elif threshold is None:
            threshold = _threshold(absx, self.fraction)
        if absmax is None:
            absmax = float(absx.max(initial=0.0))
        # Scales come from thresholds / maxima in float32's normal range; below it (an all-zero
        # or subnormal-only tensor) the step is 1, so those values quantize to 0.
        t32 = np.float32(threshold)
        s4 = np.float32(t32 / 7) if t32 >= SCALE_MIN else np.float32(1.0)
        while t32 >= SCALE_MIN and 7 * np.float64(s4) > t32:  # normal values never decode above T
            s4 = np.nextafter(s4, np.float32(0))
        top = max(absmax, threshold)
        s8 = np.float32(top / 127) if top >= SCALE_MIN else np.float32(1.0)
        with np.errstate(over="ignore"):  # a tiny threshold overflows x / s4 to ±inf: clipped to ±7
            q = np.clip(np.rint(x / s4), -7, 7).astype(np.int8)
        kmin = int(np.float64(t32) // np.float64(s8)) + 1  # first outlier point above T
        o = np.sign(x) * np.clip(np.maximum(np.rint(absx / s8), kmin), 0, 127)
        err_normal = np.abs(x - q.astype(np.float64) * np.float64(s4))
        err_outlier = np.abs(x - o * np.float64(s8))
        outlier = (absx > t32) & (kmin <= 127) & (err_outlier < err_normal)
        q[outlier] = 0
        o = o.astype(np.int8)
        rows, cols = np.nonzero(outlier)
        rowptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=x.shape[0]))])
        col_bits = max(1, math.ceil(math.log2(max(2, x.shape[1]))))
        bits = x.size * 4 + len(cols) * (8 + col_bits) + 32 * (x.shape[0] + 1) + 64
        meta = {"rowptr": rowptr.astype(np.int64), "cols": cols.astype(np.int32),
                "values": o[rows, cols], "outliers": int(len(cols)), "threshold": float(threshold),
                "outlier_fraction": len(cols) / max(1, x.size)}
        return Encoded(self.name, role, x.shape, q, np.array([s4, s8], np.float32), bits, 0, meta)

    def _dense_outliers(self, enc: Encoded) -> np.ndarray:
        out = np.zeros(enc.shape, np.int8)
        rows = np.repeat(np.arange(enc.shape[0]), np.diff(enc.meta["rowptr"]))
        out[rows, enc.meta["cols"]] = enc.meta["values"]
        return out

    def decode(self, enc: Encoded) -> np.ndarray:
        s4, s8 = enc.scales.astype(np.float64)
        v = enc.codes.astype(np.float64) * s4 + self._dense_outliers(enc).astype(np.float64) * s8
        return v.astype(np.float32)

    def _combine(self, acc: np.ndarray, x: Encoded, w: Encoded) -> np.ndarray:
        (s4x, s8x), (s4w, s8w) = x.scales.astype(np.float64), w.scales.astype(np.float64)
        y = (s4x * s4w * acc[0] + s8x * s4w * acc[1] + s4x * s8w * acc[2] + s8x * s8w * acc[3])
        return y.astype(np.float32)

    def _check(self, x: Encoded, w: Encoded) -> None:
        if x.shape[1] != w.shape[1]:
            raise UserError(f"gemm: K mismatch {x.shape} × {w.shape}")
        if x.shape[1] * 127 * 127 >= 1 << (ACC_BITS - 1):
            raise UserError(f"{self.name} gemm: K={x.shape[1]} overflows the int32 accumulators")

    def gemm(self, x: Encoded, w: Encoded) -> np.ndarray:
        self._check(x, w)
        acc = np.empty((4, x.shape[0], w.shape[0]), np.int64)
        _gemm_kernel(x.codes, self._dense_outliers(x), w.codes.astype(np.int64),
                     self._dense_outliers(w).astype(np.int64), acc)
        return self._combine(acc, x, w)

    def gemm_reference(self, x: Encoded, w: Encoded) -> np.ndarray:
        """Plain numpy: the dense int4 product, then the outlier sums one list entry at a time."""
        self._check(x, w)
        qx, qw = x.codes.astype(np.int64), w.codes.astype(np.int64)
        ow = self._dense_outliers(w).astype(np.int64)
        acc = np.zeros((4, x.shape[0], w.shape[0]), np.int64)
        acc[0] = qx @ qw.T
        for r, c, v in _entries(x):
            acc[1, r, :] += v * qw[:, c]
            acc[3, r, :] += v * ow[:, c]
        for r, c, v in _entries(w):
            acc[2, :, r] += v * qx[:, c]
        return self._combine(acc, x, w)

    def calibrate(self, sample: CalibrationSample, *, name: str) -> dict:
        return {"threshold": _threshold(np.abs(sample.rows), self.fraction),
                "absmax": sample.absmax}


OLACCEL_W4A4 = OlaccelFormat()
