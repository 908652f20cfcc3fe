"""The OVP encoder: float or fixed-point values → codes, pair by pair (rules: :mod:`sim.formats.ovp`).

:func:`encode_fixed` is the contract the RTL encoder (:class:`hw.olive.encoder.OvpEncoder`) is
checked against; :func:`encode_scaled` fuses the float → fixed-point step into it.
"""

from __future__ import annotations

import numba
import numpy as np

from core.errors import UserError
from sim.formats.ovp.grids import FRAC_BITS, OvpType

_CLAMP = float(1 << 30)
_ONE = float(1 << FRAC_BITS)


@numba.njit(cache=True, inline="always")
def _fix(x, inv):
    v = np.float64(x) * inv
    v = min(max(v, -_CLAMP), _CLAMP)
    return np.int64(np.rint(v))


@numba.njit(cache=True, inline="always")
def _grid_index(mag, thr, jtab):
    if mag < jtab.shape[0]:
        return np.int64(jtab[mag])
    lo, hi = 0, thr.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if thr[mid] <= mag:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, inline="always")
def _pair(qa, qb, thr, jtab, n_normal):
    """Grid indices of a pair and which values survive; kind 0 nn, 1 on, 2 oo."""
    ma, mb = abs(qa), abs(qb)
    ja, jb = _grid_index(ma, thr, jtab), _grid_index(mb, thr, jtab)
    oa, ob = ja >= n_normal, jb >= n_normal
    if oa and ob:
        keep_a = ma >= mb
        return ja, jb, keep_a, not keep_a, 2
    if oa:
        return ja, jb, True, False, 1
    if ob:
        return ja, jb, False, True, 1
    return ja, jb, True, True, 0


@numba.njit(cache=True, inline="always")
def _code(j, q, keep, pos_code, neg_code, ident):
    if not keep:
        return np.uint8(ident)
    return neg_code[j] if q < 0 else pos_code[j]


@numba.njit(cache=True, parallel=True)
def _encode_fixed_kernel(q, thr, jtab, pos_code, neg_code, n_normal, ident, codes, counts):
    for r in numba.prange(q.shape[0]):
        for p in range(q.shape[1] // 2):
            qa, qb = np.int64(q[r, 2 * p]), np.int64(q[r, 2 * p + 1])
            ja, jb, ka, kb, kind = _pair(qa, qb, thr, jtab, n_normal)
            codes[r, 2 * p] = _code(ja, qa, ka, pos_code, neg_code, ident)
            codes[r, 2 * p + 1] = _code(jb, qb, kb, pos_code, neg_code, ident)
            counts[r, kind] += 1


@numba.njit(cache=True, parallel=True)
def _encode_float_kernel(x, inv, thr, jtab, pos_code, neg_code, n_normal, ident, codes, counts):
    per_row = inv.shape[0] > 1
    for r in numba.prange(x.shape[0]):
        s = inv[r] if per_row else inv[0]
        c0 = c1 = c2 = 0
        for p in range(x.shape[1] // 2):
            qa, qb = _fix(x[r, 2 * p], s), _fix(x[r, 2 * p + 1], s)
            ja, jb, ka, kb, kind = _pair(qa, qb, thr, jtab, n_normal)
            codes[r, 2 * p] = _code(ja, qa, ka, pos_code, neg_code, ident)
            codes[r, 2 * p + 1] = _code(jb, qb, kb, pos_code, neg_code, ident)
            c0 += kind == 0
            c1 += kind == 1
            c2 += kind == 2
        counts[r, 0], counts[r, 1], counts[r, 2] = c0, c1, c2


def encode_fixed(q: np.ndarray, t: OvpType) -> tuple[np.ndarray, np.ndarray]:
    """The encoder the RTL is checked against: fixed-point ``q`` → (codes, pair counts).

    ``q``: integer array ``[rows, K]``, K even, value/scale in units of 2^-:data:`FRAC_BITS`
    normal step (any magnitude; ≥ the top grid point saturates). Returns ``codes`` uint8
    ``[rows, K]`` and per-row counts ``[rows, 3]`` of normal-normal / outlier-normal /
    outlier-outlier pairs. Rules: module docstring.
    """
    q = np.ascontiguousarray(q, dtype=np.int64)
    if q.ndim != 2 or q.shape[1] % 2:
        raise UserError(f"encode_fixed needs [rows, even K] integers, got shape {q.shape}")
    codes = np.empty(q.shape, np.uint8)
    counts = np.zeros((q.shape[0], 3), np.int64)
    _encode_fixed_kernel(q, t.thresholds, t.index_table, t.pos_code, t.neg_code, t.n_normal, t.ident, codes,
                         counts)
    return codes, counts


def to_fixed(x: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The encoder's fixed-point input: ``rint(x · (2^FRAC_BITS / s))`` per row (int64)."""
    inv = float(1 << FRAC_BITS) / np.asarray(scales, np.float32).astype(np.float64)
    inv = inv.reshape(-1, 1)
    return np.rint(np.clip(x.astype(np.float64) * inv, -_CLAMP, _CLAMP)).astype(np.int64)


def encode_scaled(x: np.ndarray, scales: np.ndarray, t: OvpType) -> tuple[np.ndarray, np.ndarray]:
    """``encode_fixed(to_fixed(x, scales))`` fused: float32 ``[rows, K]`` with K even, float32
    scales ``[rows]`` or ``[1]`` (one normal step) → (codes, per-row pair counts)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    inv = float(1 << FRAC_BITS) / np.asarray(scales, np.float32).astype(np.float64).reshape(-1)
    codes = np.empty(x.shape, np.uint8)
    counts = np.zeros((x.shape[0], 3), np.int64)
    _encode_float_kernel(x, inv, t.thresholds, t.index_table, t.pos_code, t.neg_code, t.n_normal, t.ident,
                         codes, counts)
    return codes, counts
