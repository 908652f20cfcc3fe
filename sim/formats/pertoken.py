"""Per-token symmetric integer activations: the INT8 inputs of MixPE W4A8 and FlightLLM.

One scale per row (token): ``a = float32(max|x_row|) / qmax`` (float32 division), codes
``q = clip(rint_half_even(x / a), −qmax, qmax)`` (float32 division), so the code range is
symmetric (INT8: −127..127, the code −128 is never produced). An all-zero row gets ``a = 1.0``
and all-zero codes (no division by zero). ``scale`` fixes one step for every row (skips the
dynamic choice). Value = ``q · a`` (float32). Storage: ``bits`` per code + one float32 scale
per row. Dynamic per token, as in papers/mixpe.md ("per-token activation scale") and the INT8
activations of papers/flightllm.md.
"""

from __future__ import annotations

import numpy as np

from sim.formats.base import Encoded, Role, check_finite, check_scale, pad_k

SCALE_BITS = 32
"""Storage of one per-token scale (float32)."""


def qmax(bits: int) -> int:
    """Largest code magnitude of a symmetric ``bits``-bit integer (127 for INT8)."""
    return (1 << (bits - 1)) - 1


def quantize(x: np.ndarray, bits: int, *, name: str,
             scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``x [rows, K]`` float32 → (codes int8/int16 ``[rows, K]``, scales float32 ``[rows]``)."""
    top = qmax(bits)
    if scale is not None:
        check_scale(scale, name)
        a = np.full(x.shape[0], scale, dtype=np.float32)
    else:
        amax = np.abs(x).max(axis=1, initial=0.0).astype(np.float32)
        a = amax / np.float32(top)
        a[a == 0] = 1.0
    q = np.clip(np.rint(x / a[:, None]), -top, top)
    return q.astype(np.int8 if bits <= 8 else np.int16), a.astype(np.float32)


def dequantize(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """``codes · scale`` per row, float32."""
    return codes.astype(np.float32) * scales[:, None]


def storage_bits(rows: int, k: int, bits: int) -> int:
    """Codes plus one float32 scale per row."""
    return rows * k * bits + rows * SCALE_BITS


def encode(x: np.ndarray, *, bits: int, multiple: int, name: str, scale: float | None,
           fmt: str) -> Encoded:
    """An activation ``[tokens, K]`` as per-token codes, K zero-padded to ``multiple``."""
    x = check_finite(x, name)
    x, pad = pad_k(x, multiple)
    q, a = quantize(x, bits, name=name, scale=scale)
    return Encoded(fmt, Role.ACTIVATION, (x.shape[0], x.shape[1] - pad), q, a,
                   storage_bits(x.shape[0], x.shape[1], bits), pad)


def decode(enc: Encoded) -> np.ndarray:
    """float32 ``[tokens, K]`` values of an :func:`encode` result, padding removed."""
    return dequantize(enc.codes, enc.scales)[:, : enc.shape[1]]
