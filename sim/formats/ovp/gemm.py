"""The OVP decoder (hardware semantics, from the bit fields) and the exact integer GEMM with its
accumulator bound (rules: :mod:`sim.formats.ovp`, "Decoder" and "GEMM")."""

from __future__ import annotations

import numba
import numpy as np

from core.errors import UserError
from sim.formats.ovp.grids import OvpType


def decode_fields(codes: np.ndarray, t: OvpType) -> tuple[np.ndarray, np.ndarray]:
    """The hardware decoder, from the bit fields: codes ``[rows, K]`` → (exponent, integer),
    both int64 ``[rows, K]``; value = ``integer << exponent`` normal steps (module docstring)."""
    c = np.asarray(codes, np.int64)
    rows, k = c.shape
    c = c.reshape(rows, k // 2, 2)
    ident = t.ident
    # normal reading
    if t.signed_magnitude:
        mag_idx = c & (ident - 1)
        ne, ni = t.exp_int[mag_idx, 0], t.exp_int[mag_idx, 1]
        ni = np.where(c & ident, -ni, ni)
    else:
        ne, ni = np.zeros_like(c), np.where(c >= ident, c - (1 << t.bits), c)
    # outlier reading
    osign = np.where(c & ident, -1, 1)
    oe = ((c >> t.man_bits) & ((1 << t.exp_bits) - 1)) + t.bias
    oi = osign * ((1 << t.man_bits) + (c & ((1 << t.man_bits) - 1)))
    even_victim = c[..., 0] == ident
    odd_victim = ~even_victim & (c[..., 1] == ident)
    victim = np.stack([even_victim, odd_victim], -1)
    outlier = np.stack([odd_victim, even_victim], -1)
    exp = np.where(victim, 0, np.where(outlier, oe, ne))
    integer = np.where(victim, 0, np.where(outlier, oi, ni))
    return exp.reshape(rows, k), integer.reshape(rows, k)


@numba.njit(cache=True, inline="always")
def _decode_pair(ca, cb, lut_n, lut_o, ident):
    if ca == ident:
        return np.int32(0), lut_o[cb]
    if cb == ident:
        return lut_o[ca], np.int32(0)
    return lut_n[ca], lut_n[cb]


@numba.njit(cache=True, parallel=True)
def _expand_kernel(codes, lut_n, lut_o, ident, out):
    for r in numba.prange(codes.shape[0]):
        for p in range(codes.shape[1] // 2):
            a, b = _decode_pair(codes[r, 2 * p], codes[r, 2 * p + 1], lut_n, lut_o, ident)
            out[r, 2 * p] = a
            out[r, 2 * p + 1] = b


def expand(codes: np.ndarray, t: OvpType) -> np.ndarray:
    """Codes → int32 values in normal steps (``integer << exponent`` of the decoder)."""
    out = np.empty(codes.shape, np.int32)
    _expand_kernel(np.ascontiguousarray(codes), t.lut_normal, t.lut_outlier, t.ident, out)
    return out


@numba.njit(cache=True, parallel=True)
def _gemm_kernel(xv, wc, lut_n, lut_o, ident, acc):
    m_rows, k = xv.shape
    for n in numba.prange(wc.shape[0]):
        wv = np.empty(k, np.int64)
        for p in range(k // 2):
            a, b = _decode_pair(wc[n, 2 * p], wc[n, 2 * p + 1], lut_n, lut_o, ident)
            wv[2 * p] = a
            wv[2 * p + 1] = b
        for m in range(m_rows):
            s = np.int64(0)
            for j in range(k):
                s += xv[m, j] * wv[j]
            acc[m, n] = s


def integer_gemm(x_codes: np.ndarray, tx: OvpType, w_codes: np.ndarray, tw: OvpType) -> np.ndarray:
    """``acc[m, n] = Σ_k (ix·iw) << (ex + ew)`` exactly, int64 ``[M, N]``, for codes ``[M, K]``
    and ``[N, K]``; a :class:`UserError` when K is too long for an exact accumulator."""
    accumulator_bits(tx, tw, x_codes.shape[1])  # raises if not exact
    acc = np.empty((x_codes.shape[0], w_codes.shape[0]), np.int64)
    _gemm_kernel(expand(x_codes, tx).astype(np.int64), np.ascontiguousarray(w_codes),
                 tw.lut_normal.astype(np.int64), tw.lut_outlier.astype(np.int64), tw.ident, acc)
    return acc


def accumulator_bound(tx: OvpType, tw: OvpType, k: int) -> int:
    """Largest ``|Σ (ix·iw) << (ex+ew)|`` any partial sum can reach over ``k`` (even) elements.

    Per pair at most one slot of each operand holds an outlier and its partner is 0, so a pair
    contributes at most max(2·nx·nw, ox·ow, ox·nw, nx·ow) (n: normal max, o: outlier max)."""
    nx, ox, nw, ow = tx.normal_max, tx.outlier_max, tw.normal_max, tw.outlier_max
    return (k // 2) * max(2 * nx * nw, ox * ow, ox * nw, nx * ow)


def accumulator_bits(tx: OvpType, tw: OvpType, k: int) -> int:
    """32 if the int32 accumulator provably cannot overflow for this K, else 64 (checked)."""
    bound = accumulator_bound(tx, tw, k)
    if bound < 1 << 31:
        return 32
    if bound < 1 << 63:
        return 64
    raise UserError(f"K={k} is too long for an exact OVP accumulator; split the reduction")
