"""MixPE group-quantized INT4 weights × INT8 or FP16 activations (papers/mixpe.md).

The one place for ``mixpe-w4a8`` and ``mixpe-w4a16``: grid, encoder, decoder and the golden GEMM
of the shift-and-add PE, imported by the fake-quant seam, the cycle models and the RTL benches.

Weights ``[N, K]`` (papers/mixpe.md, our decision): groups of ``g = 128`` consecutive input
channels along K; per (output row n, group G) a scale ``s`` (stored FP16) and a zero point
``z ∈ 0..15`` (4 bits); codes ``q ∈ 0..15`` (unsigned INT4), value ``w = s·(q − z)``.
Encoder: ``lo = min(min w_G, 0)``, ``hi = max(max w_G, 0)`` (zero always representable, so the
padding stays exactly zero); for a clipping ratio r: ``s = fp16((r·hi − r·lo) / 15)`` clamped to
the FP16 range, ``s = 1`` where that is 0 (all-zero group); ``z = clip(rint(−r·lo / s), 0, 15)``;
``q = clip(rint(w / s) + z, 0, 15)`` (float32 arithmetic, round half to even); r is chosen per
group by least squared error (:mod:`sim.formats.clipsearch`, our decision; see "Accuracy").
``scale`` (``--scale``) fixes ``s`` for every group (``z = clip(rint(−lo / s), 0, 15)``).
``decode(encode(·))`` is not idempotent in general: the search may leave code 15 (or 0) unused,
and re-encoding the decoded group then fits a narrower grid.
K is padded with zeros to a multiple of g (``Encoded.padded``). Storage per weight row:
4 bits per code + (16 + 4) bits per group.

Activations: ``mixpe-w4a8`` — per-token symmetric INT8 (:mod:`sim.formats.pertoken`);
``mixpe-w4a16`` — FP16 (:mod:`sim.formats.half`: round to nearest even, saturating at ±65504
instead of inf). Activations are padded along K like the weights.

GEMM, W4A8 (:func:`gemm_w4a8`, per output ``y[m, n]``):

1. integer, per group G: ``P = Σ_{j∈G} q_j·x_j``, computed by the PE as ``Σ_b q_b·(x_j ≪ b)``
   (identical integers); ``S = Σ_{j∈G} x_j`` (per token and group, shared by all n);
   ``D = P − z·S = Σ_{j∈G} (q_j − z)·x_j``.
   Widths (g = 128, x ∈ −127..127, q, z ∈ 0..15): ``|P| ≤ 128·15·127 = 243 840 < 2^18``,
   ``|S| ≤ 16 256 < 2^14``, ``|z·S| ≤ 243 840``, ``|D| ≤ 128·15·127 < 2^18``: a 19-bit signed
   accumulator suffices (the RTL width). The numba kernel evaluates these integer sums in
   float32 vector lanes: every operand and partial sum is an integer of magnitude < 2^18 < 2^24,
   so each float32 operation is exact and the result equals the 19-bit integer arithmetic (issue
   3 allows floating point where a stated bound proves exactness; :func:`reference_gemm` does it
   in int64 and the tests compare).
2. float32, in this order, each operation rounded to float32 (round to nearest even, no fused
   multiply-add): ``acc = 0``; for G ascending: ``acc = acc + s_G · float32(D_G)``
   (``float32(D)`` is exact as ``|D| < 2^24``; one multiply, one add); finally
   ``y = acc · a_m`` with ``a_m`` the float32 per-token scale. Dequantization happens once per
   group, never per weight.

GEMM, W4A16 (:func:`gemm_w4a16`): FP16 activations are widened to FP32 (exact) before the PE
shifts them, and ``x·2^b`` adds b (0..3) to the FP32 exponent — exact, and never overflows or
becomes subnormal: ``|x| ≤ 65504`` gives ``|x·2^b| ≤ 524 032``, and FP16 subnormals (≥ 2^−24)
are normal FP32 numbers, as are their shifted copies (our rule for overflow/subnormals: widen
first, so neither case exists). Per element the PE adds its up-to-4 shifted copies
``Σ_b q_b·(x_j·2^b) = q_j·x_j`` — exact in FP32, since an 11-bit FP16 significand times a
4-bit integer needs 15 bits. Then, each step rounded to float32, no FMA, per (m, n):
``acc = 0``; for G ascending: ``p = 0``, for j ∈ G ascending ``p = p + q_j·x_j``;
``σ = 0``, for j ∈ G ascending ``σ = σ + x_j`` (shared by all n); ``t = float32(z_G)·σ``;
``d = p − t``; ``acc = acc + s_G·d``. ``y = acc`` (no activation scale).

One numba kernel serves both (:func:`_group_kernel`; W4A16 uses ``a_m = 1``, an exact
multiply); tests/formats/test_mixpe.py compares it with the slow numpy reference
(:func:`reference_gemm`), which does the shift-and-add literally.

Accuracy (measured, ``tapeout accuracy smollm2-135m --tokens 512``; fp16 17.6): W4A16 23.7,
W4A8 25.0. The loss is the INT4 weights on this small model, not the datapath: plain min/max
scales give 25.0 (W4A16), an independent torch min/max INT4 g128 quantizer 24.9, and g = 32
21.0; the clip search brings 25.0 down to 23.7.
"""

from __future__ import annotations

import numba
import numpy as np

from core.errors import UserError
from sim.formats import half, pertoken
from sim.formats.base import (
    Encoded,
    NumberFormat,
    Role,
    check_accumulator,
    check_finite,
    check_scale,
    pad_k,
)
from sim.formats.clipsearch import clip_search

GROUP = 128
"""Input channels per weight group g (the public MixPE simulator's value, papers/mixpe.md)."""
W_BITS = 4
Q_MAX = (1 << W_BITS) - 1  # 15: codes and zero points are 0..15
A_BITS = 8
SCALE_BITS = 16  # s_G stored as FP16
ZERO_BITS = 4


# --- weights --------------------------------------------------------------------------------------

def _fit(wg: np.ndarray, lo: np.ndarray, hi: np.ndarray
         ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """(scale, zero) of the range [lo, hi] per group, and the groups decoded with them."""
    s = np.minimum((hi - lo) / np.float32(Q_MAX), half.FP16_MAX)
    s = s.astype(np.float16).astype(np.float32)
    s[s == 0] = 1.0
    z = np.clip(np.rint(-lo / s), 0, Q_MAX).astype(np.uint8)
    q = _codes(wg, s, z)
    return (s, z), s[..., None] * (q.astype(np.float32) - z[..., None])


def _codes(wg: np.ndarray, s: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(wg / s[..., None]) + z[..., None], 0, Q_MAX).astype(np.uint8)


def group_params(w: np.ndarray, group: int, scale: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per (row, group) float32 scales (FP16 values) and uint8 zero points of ``w [N, K]``."""
    n, k = w.shape
    wg = w.reshape(n, k // group, group)
    lo = np.minimum(wg.min(axis=2), 0.0)
    hi = np.maximum(wg.max(axis=2), 0.0)
    if scale is not None:
        s = np.full(lo.shape, scale, dtype=np.float32)
        return s, np.clip(np.rint(-lo / s), 0, Q_MAX).astype(np.uint8)
    return clip_search(wg, lambda r: _fit(wg, lo * r, hi * r))


def encode_weight(w: np.ndarray, *, name: str, group: int = GROUP,
                  scale: float | None = None, fmt: str = "mixpe") -> Encoded:
    """INT4 asymmetric group quantization of ``w [N, K]`` (rules in the module docstring)."""
    w = check_finite(w, name)
    if scale is not None:
        check_scale(scale, name)
    w, pad = pad_k(w, group)
    n, k = w.shape
    s, z = group_params(w, group, scale)
    wg = w.reshape(n, k // group, group)
    q = _codes(wg, s, z)
    bits = n * k * W_BITS + s.size * (SCALE_BITS + ZERO_BITS)
    return Encoded(fmt, Role.WEIGHT, (n, k - pad), q.reshape(n, k), s, bits, pad,
                   {"zero": z, "group": group})


def decode_weight(enc: Encoded) -> np.ndarray:
    """``s·(q − z)`` in float32, padding removed."""
    g = enc.meta["group"]
    n, k = enc.codes.shape
    q = enc.codes.reshape(n, k // g, g).astype(np.int16) - enc.meta["zero"][:, :, None]
    w = (q.astype(np.float32) * enc.scales[:, :, None]).reshape(n, k)
    return w[:, : enc.shape[1]]


# --- activations ----------------------------------------------------------------------------------

# --- golden GEMMs ---------------------------------------------------------------------------------

ROWS_PER_TASK = 4
"""Weight rows one kernel task computes together, sharing each loaded activation (speed only)."""


@numba.njit(cache=True, parallel=True)
def _group_kernel(xt, a, q, z, s, group, out):  # pragma: no cover - jitted
    """Both PEs. ``xt [K, M]`` float32 activations (INT8 values or widened FP16), token-minor so
    the M tokens form the vector lanes; every lane keeps the documented ascending-j order and
    float32 rounding (no reassociation, no FMA)."""
    k, m_rows = xt.shape
    n_rows = q.shape[0]
    groups = k // group
    sigma = np.zeros((groups, m_rows), np.float32)  # Σ_{j∈G} x_j per token, shared by every n
    for g in range(groups):
        for j in range(g * group, (g + 1) * group):
            for m in range(m_rows):
                sigma[g, m] = sigma[g, m] + xt[j, m]
    for task in numba.prange((n_rows + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        n0 = task * ROWS_PER_TASK
        rows = min(ROWS_PER_TASK, n_rows - n0)
        acc = np.zeros((ROWS_PER_TASK, m_rows), np.float32)
        p = np.empty((ROWS_PER_TASK, m_rows), np.float32)
        for g in range(groups):
            p[:, :] = 0.0
            for j in range(g * group, (g + 1) * group):
                for r in range(rows):
                    qj = np.float32(q[n0 + r, j])
                    for m in range(m_rows):
                        p[r, m] = p[r, m] + qj * xt[j, m]
            for r in range(rows):
                zg = np.float32(z[n0 + r, g])
                sg = s[n0 + r, g]
                for m in range(m_rows):
                    acc[r, m] = acc[r, m] + sg * (p[r, m] - zg * sigma[g, m])
        for r in range(rows):
            for m in range(m_rows):
                out[m, n0 + r] = acc[r, m] * a[m]


def _run(xt: np.ndarray, a: np.ndarray, w: Encoded) -> np.ndarray:
    out = np.empty((xt.shape[1], w.codes.shape[0]), np.float32)
    _group_kernel(np.ascontiguousarray(xt), a, w.codes, w.meta["zero"], w.scales,
                  w.meta["group"], out)
    return out


def partial_sum_bound(group: int) -> int:
    """Largest ``|P|``, ``|z·S|`` or ``|D|`` of one W4A8 group: ``g · 15 · 127``."""
    return group * Q_MAX * pertoken.qmax(A_BITS)


def gemm_w4a8(x: Encoded, w: Encoded) -> np.ndarray:
    """``[M, N]`` float32 output of the W4A8 PE array (module docstring, steps 1–2)."""
    _check_shapes(x, w)
    # float32 lanes hold integers exactly below 2^24, i.e. within a 25-bit two's complement.
    check_accumulator(partial_sum_bound(w.meta["group"]), 25, f"{w.format} gemm")
    return _run(x.codes.T.astype(np.float32), x.scales, w)


def gemm_w4a16(x: Encoded, w: Encoded) -> np.ndarray:
    """``[M, N]`` float32 output of the W4A16 PE array (module docstring)."""
    _check_shapes(x, w)
    return _run(half.values(x).T, np.ones(x.codes.shape[0], np.float32), w)


def _check_shapes(x: Encoded, w: Encoded) -> None:
    if x.role is not Role.ACTIVATION or w.role is not Role.WEIGHT:
        raise UserError("gemm(x, w) takes an encoded activation and an encoded weight")
    if x.shape[1] != w.shape[1]:
        raise UserError(f"gemm: K differs (activation {x.shape[1]}, weight {w.shape[1]})")


# --- slow references (tests only) ----------------------------------------------------------------

def shift_add(q: np.ndarray, x: np.ndarray, shift) -> np.ndarray:
    """``Σ_b q_b · shift(x, b)`` over the 4 weight bits: the PE's product, bit by bit."""
    total = None
    for b in range(W_BITS):
        term = np.where(((q >> b) & 1).astype(bool), shift(x, b), 0).astype(x.dtype)
        total = term if total is None else total + term
    return total


def reference_gemm(x: Encoded, w: Encoded) -> np.ndarray:
    """Plain-numpy model of either PE, shift-and-add spelt out; slow, for the tests."""
    g = w.meta["group"]
    n, k = w.codes.shape
    q = w.codes.astype(np.int64)
    z = w.meta["zero"].astype(np.int64)
    m = x.codes.shape[0]
    acc = np.zeros((m, n), np.float32)
    for gi in range(k // g):
        cols = slice(gi * g, (gi + 1) * g)
        qg = q[:, cols][None, :, :]  # [1, N, g]
        if x.format.endswith("a8"):
            xg = x.codes[:, cols].astype(np.int64)[:, None, :]  # [M, 1, g]
            p = shift_add(qg, xg, lambda v, b: v << b).sum(axis=2)  # [M, N] int64
            d = p - z[None, :, gi] * xg.sum(axis=2)
            acc = acc + w.scales[None, :, gi] * d.astype(np.float32)
        else:
            xg = half.values(x)[:, cols][:, None, :]
            prods = shift_add(qg, xg, lambda v, b: np.ldexp(v, b).astype(np.float32))
            p = np.zeros((m, n), np.float32)
            sigma = np.zeros((m, 1), np.float32)
            for j in range(g):  # ascending j, float32 rounding after every add
                p = p + prods[:, :, j]
                sigma = sigma + xg[:, :, j]
            d = p - z[None, :, gi].astype(np.float32) * sigma
            acc = acc + w.scales[None, :, gi] * d
    return acc * x.scales[:, None] if x.format.endswith("a8") else acc


# --- the format ----------------------------------------------------------------------------------

class MixPeFormat(NumberFormat):
    """``mixpe-w4a8`` (INT8 per-token activations) or ``mixpe-w4a16`` (FP16 activations)."""

    def __init__(self, activation: str, group: int = GROUP):
        if activation not in ("int8", "fp16"):
            raise ValueError(f"activation must be int8 or fp16, got {activation!r}")
        self.activation = activation
        self.group = group
        self.name = "mixpe-w4a8" if activation == "int8" else "mixpe-w4a16"
        self.description = (f"MixPE: INT4 asymmetric weights, groups of {group} along K with FP16 "
                            f"scale + 4-bit zero; {'INT8 per-token' if activation == 'int8' else 'FP16'}"
                            " activations")

    def code_bits(self, role: Role, name: str) -> int:
        """INT4 weights; INT8 or FP16 activations."""
        if Role(role) is Role.WEIGHT:
            return W_BITS
        return A_BITS if self.activation == "int8" else 16

    def encode(self, x: np.ndarray, role: Role, *, name: str = "tensor",
               scale: float | None = None, **static) -> Encoded:
        if Role(role) is Role.WEIGHT:
            return encode_weight(x, name=name, group=self.group, scale=scale, fmt=self.name)
        if self.activation == "int8":
            return pertoken.encode(x, bits=A_BITS, multiple=self.group, name=name, scale=scale,
                                   fmt=self.name)
        if scale is not None:
            raise UserError(f"{self.name}: FP16 activations have no scale; drop --scale")
        return half.encode(x, name=name, fmt=self.name, multiple=self.group)

    def decode(self, enc: Encoded) -> np.ndarray:
        if enc.role is Role.WEIGHT:
            return decode_weight(enc)
        if self.activation == "int8":
            return pertoken.decode(enc)
        return half.decode(enc)

    def gemm(self, x: Encoded, w: Encoded) -> np.ndarray:
        return gemm_w4a8(x, w) if self.activation == "int8" else gemm_w4a16(x, w)


MIXPE_W4A8 = MixPeFormat("int8")
MIXPE_W4A16 = MixPeFormat("fp16")
