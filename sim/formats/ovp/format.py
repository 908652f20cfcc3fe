"""The OliVe number formats ``olive-w4a4`` and ``olive-w8a8``: calibration, encoding, decoding and
the exact GEMM behind the format contract (:mod:`sim.formats.base`)."""

from __future__ import annotations

import numpy as np

from core.errors import UserError
from sim.formats.base import (
    Encoded,
    NumberFormat,
    Role,
    apply_scales,
    check_finite,
    check_scale,
    pad_k,
)
from sim.formats.ovp.calibration import search_scales, three_sigma_base
from sim.formats.ovp.encoder import encode_scaled
from sim.formats.ovp.gemm import expand, integer_gemm
from sim.formats.ovp.grids import FLINT4, INT4, INT8_E4M3, TYPES, OvpType

PAIR_KINDS = ("normal-normal", "outlier-normal", "outlier-outlier")


class OliveFormat(NumberFormat):
    """``olive-w4a4`` / ``olive-w8a8``: OVP weights (per-row α) and activations (static α).

    ``meta``: ``normal`` (type name), ``pairs`` (counts by kind), ``outliers`` (kept),
    ``victims``, ``dropped_outliers`` (the smaller outlier of outlier-outlier pairs).
    Storage: ``bits`` per code + one float32 scale per row (weights) or per tensor
    (activations) + 1 bit naming the normal type when there is a choice.
    """

    calibration_tokens = 512

    def __init__(self, name: str, bits: int, types: tuple[OvpType, ...], description: str):
        self.name, self.bits, self.types, self.description = name, bits, types, description

    def _type(self, normal: str | None) -> tuple[OvpType, ...]:
        if normal is None:
            return self.types
        for t in self.types:
            if t.name == normal:
                return (t,)
        raise UserError(f"{self.name}: normal type must be one of "
                        f"{', '.join(t.name for t in self.types)}, got {normal!r}")

    def encode(self, x: np.ndarray, role: Role, *, name: str = "tensor",
               scale: float | None = None, normal: str | None = None) -> Encoded:
        role = Role(role)
        x = check_finite(x, name)
        shape = x.shape
        x, pad = pad_k(x, 2)
        types = self._type(normal)
        if scale is not None:
            check_scale(scale, name)
            fixed = np.array([scale], np.float32)
            choices = [(fixed, t) for t in types]
        elif role is Role.WEIGHT:
            x64 = x[:, :shape[1]].astype(np.float64)
            base = three_sigma_base(x64.mean(1), x64.std(1))
            choices = [(search_scales(x, base, t, per_row=True)[0], t) for t in types]
        else:  # an activation without a static scale: calibrate on the tensor itself
            x64 = x[:, :shape[1]].astype(np.float64)
            base = three_sigma_base(x64.mean(), x64.std())
            choices = [(search_scales(x, base, t, per_row=False)[0], t) for t in types]
        best = None
        for scales, t in choices:
            codes, counts = encode_scaled(x, scales, t)
            enc = self._encoded(role, shape, pad, codes, scales, counts, t)
            if len(choices) == 1:
                return enc
            err = float(((self.decode(enc)[:, :shape[1]] - x[:, :shape[1]]).astype(np.float64) ** 2).sum())
            if best is None or err < best[0]:
                best = (err, enc)
        return best[1]

    def _encoded(self, role, shape, pad, codes, scales, counts, t) -> Encoded:
        pairs = counts.sum(0)
        bits = codes.size * self.bits + 32 * scales.size + (len(self.types) > 1)
        meta = {"normal": t.name, "pairs": dict(zip(PAIR_KINDS, map(int, pairs), strict=True)),
                "outliers": int(pairs[1] + pairs[2]), "victims": int(pairs[1] + pairs[2]),
                "dropped_outliers": int(pairs[2])}
        return Encoded(self.name, role, shape, codes, scales, bits, pad, meta)

    def decode(self, enc: Encoded) -> np.ndarray:
        t = TYPES[enc.meta["normal"]]
        v = expand(enc.codes, t).astype(np.float64) * enc.scales.astype(np.float64).reshape(-1, 1)
        return v.astype(np.float32)[:, :enc.shape[1]]

    def gemm(self, x: Encoded, w: Encoded) -> np.ndarray:
        """``[M, K] × [N, K]ᵀ`` exactly as the hardware (module docstring) → float32 ``[M, N]``."""
        if x.codes.shape[1] != w.codes.shape[1]:
            raise UserError(f"gemm: K mismatch {x.shape} × {w.shape}")
        acc = integer_gemm(x.codes, TYPES[x.meta["normal"]], w.codes, TYPES[w.meta["normal"]])
        return apply_scales(acc, x.scales, w.scales)

    def calibrate(self, sample, *, name: str) -> dict:
        rows, _ = pad_k(sample.rows, 2)
        base = three_sigma_base(sample.mean, sample.std)
        best = min(((search_scales(rows, base, t, per_row=False), t) for t in self.types),
                   key=lambda c: c[0][1])
        (scales, _), t = best
        return {"scale": float(scales[0]), "normal": t.name}


OLIVE_W4A4 = OliveFormat("olive-w4a4", 4, (INT4, FLINT4),
                         "OliVe OVP-4: int4/flint4 normal + E2M1 abfloat outliers, per-row "
                         "weight α, static per-tensor activation α")
OLIVE_W8A8 = OliveFormat("olive-w8a8", 8, (INT8_E4M3,),
                         "OliVe OVP-8: int8 normal + E4M3 abfloat outliers, per-row weight α, "
                         "static per-tensor activation α")
