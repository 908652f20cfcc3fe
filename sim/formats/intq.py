"""Plain symmetric integer baselines: ``int8`` (W8A8) and ``int4`` (W4A4).

Weights: one scale per output channel (row of ``[N, K]``); activations: one scale per token
(row of ``[tokens, K]``), chosen dynamically every forward. Both use the symmetric per-row
quantizer of :mod:`sim.formats.pertoken` (``s = max|row| / qmax``, codes ``rint(x / s)`` in
``−qmax..qmax``: 255 / 15 levels; an all-zero row gets ``s = 1``).

GEMM: ``acc[m, n] = Σ_k qx·qw`` in an int32 accumulator — exact when
``K · qmax² < 2^31`` (K ≤ 133 143 for INT8), checked — then
:func:`~sim.formats.base.apply_scales`. Storage: ``bits`` per code + one float32 scale per row.
No padding: K is unconstrained.
"""

from __future__ import annotations

import numba
import numpy as np

from core.errors import UserError
from sim.formats import pertoken
from sim.formats.base import (
    Encoded,
    NumberFormat,
    Role,
    apply_scales,
    check_accumulator,
    check_finite,
)

ACC_BITS = 32


@numba.njit(cache=True, parallel=True)
def _gemm_kernel(xq, wq, acc):
    for n in numba.prange(wq.shape[0]):
        for m in range(xq.shape[0]):
            s = np.int32(0)
            for k in range(xq.shape[1]):
                s += np.int32(xq[m, k]) * np.int32(wq[n, k])
            acc[m, n] = s


def gemm_reference(x: Encoded, w: Encoded) -> np.ndarray:
    """Plain numpy: int64 products summed, then the scales (the kernel's contract)."""
    acc = x.codes.astype(np.int64) @ w.codes.astype(np.int64).T
    return apply_scales(acc, x.scales, w.scales)


class IntFormat(NumberFormat):
    """Symmetric ``bits``-bit integers, per output channel (weights) / per token (activations)."""

    def __init__(self, name: str, bits: int, description: str):
        self.name, self.bits, self.description = name, bits, description

    def encode(self, x: np.ndarray, role: Role, *, name: str = "tensor",
               scale: float | None = None) -> Encoded:
        role = Role(role)
        x = check_finite(x, name)
        codes, scales = pertoken.quantize(x, self.bits, name=name, scale=scale)
        bits = pertoken.storage_bits(x.shape[0], x.shape[1], self.bits)
        return Encoded(self.name, role, x.shape, codes, scales, bits)

    def decode(self, enc: Encoded) -> np.ndarray:
        return pertoken.dequantize(enc.codes, enc.scales)

    def gemm(self, x: Encoded, w: Encoded) -> np.ndarray:
        if x.shape[1] != w.shape[1]:
            raise UserError(f"gemm: K mismatch {x.shape} × {w.shape}")
        top = pertoken.qmax(self.bits)
        check_accumulator(x.shape[1] * top * top, ACC_BITS, f"{self.name} gemm")
        acc = np.empty((x.shape[0], w.shape[0]), np.int32)
        _gemm_kernel(np.ascontiguousarray(x.codes), np.ascontiguousarray(w.codes), acc)
        return apply_scales(acc, x.scales, w.scales)


INT8 = IntFormat("int8", 8, "INT8 per-output-channel weights, per-token dynamic INT8 activations")
INT4 = IntFormat("int4", 4, "INT4 per-output-channel weights, per-token dynamic INT4 activations")
