"""ANT (adaptive numerical type) baseline ``ant-w4a4``: per tensor, the best of int4 / flint4 /
power-of-two 4-bit by squared error (papers/olive.md: ANT is OliVe's accelerator baseline).

Grids: :mod:`sim.formats.flint` (shared with OVP). Codes: int4 two's complement (15 levels);
flint4 and pot4 sign-magnitude ``s << 3 | index`` (zero is always ``0000``). Scales: α = the
grid maximum, searched with OliVe's sweep (``α = base·i/100``, i = 75, 77, …, 249,
``base = max|μ ± 3σ|``; papers/olive.md "Scale selection") so both designs are calibrated alike
(our decision): per output row for weights, per tensor and static for activations; step
``s = float32(α / grid max)``. Rounding: ``|x| / s`` (float64) to the nearest grid magnitude, ties
up; beyond the top saturates.

Decoder (hardware): ``<exponent, integer>`` with value ``integer << exponent`` steps: int4
``<0, v>``; flint4 :data:`~sim.formats.flint.FLINT4_EXP_INT`; pot4 index i ≥ 1 → ``<i−1, ±1>``.
GEMM: ``Σ (ix·iw) << (ex+ew)`` in int32 (|product| ≤ 64² so exact for K < 2^31 / 4096 = 524 288,
checked), then :func:`~sim.formats.base.apply_scales`. Storage: 4 bits per code + float32 scale
per row/tensor + 2 bits naming the type.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from sim.formats.flint import FLINT4_EXP_INT, FLINT4_MAGNITUDES, INT4_MAGNITUDES, POT4_MAGNITUDES
from sim.formats.ovp import ALPHA_PERCENT, three_sigma_base


@dataclass(frozen=True, eq=False)
class AntType:
    """A 4-bit ANT type: magnitudes (steps), their (exponent, integer), and the code layout."""

    name: str
    grid: np.ndarray
    exp_int: np.ndarray
    twos_complement: bool

    def codes(self, index: np.ndarray, negative: np.ndarray) -> np.ndarray:
        if self.twos_complement:
            return np.where(negative, -self.grid[index], self.grid[index]).astype(np.uint8) & 0xF
        return (np.where(negative & (index > 0), 8, 0) | index).astype(np.uint8)

    def fields(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hardware decoder: codes → (exponent, signed integer), int64."""
        c = codes.astype(np.int64)
        if self.twos_complement:
            return np.zeros_like(c), np.where(c >= 8, c - 16, c)
        e, i = self.exp_int[c & 7, 0], self.exp_int[c & 7, 1]
        return e, np.where(c & 8, -i, i)

    @property
    def lut(self) -> np.ndarray:
        """Code → signed value in steps (``integer << exponent``)."""
        e, i = self.fields(np.arange(16))
        return i << e


_POT_EXP_INT = np.array([(0, 0)] + [(i, 1) for i in range(7)], np.int64)
INT4 = AntType("int4", INT4_MAGNITUDES, np.stack([0 * INT4_MAGNITUDES, INT4_MAGNITUDES], 1), True)
FLINT4 = AntType("flint4", FLINT4_MAGNITUDES, FLINT4_EXP_INT, False)
POT4 = AntType("pot4", POT4_MAGNITUDES, _POT_EXP_INT, False)
TYPES = {t.name: t for t in (INT4, FLINT4, POT4)}
ACC_BITS = 32

assert all((t.exp_int[:, 1] << t.exp_int[:, 0] == t.grid).all() for t in TYPES.values())


def _alpha_scales(x: np.ndarray, base: np.ndarray, t: AntType, per_row: bool
                  ) -> tuple[np.ndarray, float]:
    sse = kernels.grid_sweep(x, base, ALPHA_PERCENT, t.grid)
    sse = np.where(np.isinf(sse), (x.astype(np.float64) ** 2).sum(1, keepdims=True), sse)
    base = np.broadcast_to(np.asarray(base, np.float64).reshape(-1), (x.shape[0],))
    if per_row:
        i = sse.argmin(1)
        err = float(sse[np.arange(len(i)), i].sum())
    else:
        i = np.array([int(sse.sum(0).argmin())])
        err, base = float(sse.sum(0)[i[0]]), base[:1]
    s = (base * (ALPHA_PERCENT[i] / 100.0) / t.grid[-1]).astype(np.float32)
    return np.where(s > 0, s, np.float32(1.0)), err


class AntFormat(NumberFormat):
    """``ant-w4a4`` (module docstring). ``meta``: ``type`` (int4 / flint4 / pot4)."""

    name = "ant-w4a4"
    description = "ANT: per-tensor int4 / flint4 / pot4 by MSE, per-row weight α, static activation α"
    calibration_tokens = 512
    bits = 4

    def encode(self, x: np.ndarray, role: Role, *, name: str = "tensor",
               scale: float | None = None, kind: str | None = None) -> Encoded:
        role = Role(role)
        x = check_finite(x, name)
        if kind is not None and kind not in TYPES:
            raise UserError(f"{name}: ANT type must be one of {', '.join(TYPES)}, got {kind!r}")
        types = [TYPES[kind]] if kind else list(TYPES.values())
        if scale is not None:
            check_scale(scale, name)
            choices = [(np.array([scale], np.float32), t) for t in types]
        else:
            per_row = role is Role.WEIGHT
            x64 = x.astype(np.float64)
            base = (three_sigma_base(x64.mean(1), x64.std(1)) if per_row
                    else three_sigma_base(x64.mean(), x64.std()))
            choices = [(_alpha_scales(x, base, t, per_row)[0], t) for t in types]
        best = None
        for scales, t in choices:
            enc = self._encode_with(x, role, scales, t)
            err = float(((self.decode(enc) - x).astype(np.float64) ** 2).sum())
            if best is None or err < best[0]:
                best = (err, enc)
        return best[1]

    def _encode_with(self, x, role, scales, t: AntType) -> Encoded:
        inv = 1.0 / scales.astype(np.float64).reshape(-1, 1)
        thr = (t.grid[:-1] + t.grid[1:]) / 2
        index = np.searchsorted(thr, np.abs(x.astype(np.float64)) * inv, side="right")
        codes = t.codes(index, x < 0)
        bits = codes.size * self.bits + 32 * scales.size + 2
        return Encoded(self.name, role, x.shape, codes, scales, bits, 0, {"type": t.name})

    def decode(self, enc: Encoded) -> np.ndarray:
        v = kernels.expand(enc.codes, TYPES[enc.meta["type"]].lut).astype(np.float64)
        return (v * enc.scales.astype(np.float64).reshape(-1, 1)).astype(np.float32)

    def _check(self, x: Encoded, w: Encoded) -> None:
        if x.shape[1] != w.shape[1]:
            raise UserError(f"gemm: K mismatch {x.shape} × {w.shape}")
        check_accumulator(x.shape[1] * 64 * 64, ACC_BITS, f"{self.name} gemm")

    def gemm(self, x: Encoded, w: Encoded) -> np.ndarray:
        self._check(x, w)
        acc = kernels.int_gemm(kernels.expand(x.codes, TYPES[x.meta["type"]].lut),
                               kernels.expand(w.codes, TYPES[w.meta["type"]].lut))
        return apply_scales(acc, x.scales, w.scales)

    def gemm_reference(self, x: Encoded, w: Encoded) -> np.ndarray:
        """Plain numpy ``Σ (ix·iw) << (ex+ew)`` from the decoder's fields."""
        self._check(x, w)
        ex, ix = TYPES[x.meta["type"]].fields(x.codes)
        ew, iw = TYPES[w.meta["type"]].fields(w.codes)
        prod = (ix[:, None, :] * iw[None, :, :]) << (ex[:, None, :] + ew[None, :, :])
        return apply_scales(prod.sum(-1), x.scales, w.scales)

    def calibrate(self, sample: CalibrationSample, *, name: str) -> dict:
        rows = sample.rows
        base = three_sigma_base(sample.mean, sample.std)
        (scales, _), t = min(((_alpha_scales(rows, base, t, False), t) for t in TYPES.values()),
                             key=lambda c: c[0][1])
        return {"scale": float(scales[0]), "kind": t.name}


ANT_W4A4 = AntFormat()


def _ant_mix() -> NumberFormat:
    from sim.formats.intq import INT8
    from sim.formats.perlayer import PerLayerFormat

    return PerLayerFormat(
        "ant-mix", ANT_W4A4, INT8, every=5,
        description="ANT's 4/8-bit mix: ant-w4a4 on 80 % of the transformer blocks, INT8 on every "
                    "fifth block (4, 9, …) and outside the blocks (the MixPE public simulator's "
                    "ANT runs 80 % of layers at 4 bits, papers/mixpe.md; which ones is our decision)")


ANT_MIX = _ant_mix()
