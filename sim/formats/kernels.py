"""Numba kernels shared by the table-decoded formats (ANT, AdaFloat, OLAccel, INT).

Integers only: codes are expanded through a lookup table to their signed integer value (in
units of the format's step, i.e. ``integer << exponent`` of the hardware decoder) and the GEMM
accumulates exact int64 products; the formats state and check the accumulator width their
hardware needs (:func:`sim.formats.base.check_accumulator`).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def _expand_kernel(codes, lut, out):
    for r in numba.prange(codes.shape[0]):
        for k in range(codes.shape[1]):
            out[r, k] = lut[codes[r, k]]


def expand(codes: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """``lut[codes]`` as int64 ``[rows, K]`` (codes: unsigned integers indexing ``lut``)."""
    out = np.empty(codes.shape, np.int64)
    _expand_kernel(np.ascontiguousarray(codes), np.asarray(lut, np.int64), out)
    return out


@numba.njit(cache=True, parallel=True)
def _gemm_kernel(xv, wv, acc):
    for n in numba.prange(wv.shape[0]):
        for m in range(xv.shape[0]):
            s = np.int64(0)
            for k in range(xv.shape[1]):
                s += xv[m, k] * wv[n, k]
            acc[m, n] = s


def int_gemm(xv: np.ndarray, wv: np.ndarray) -> np.ndarray:
    """``xv [M, K] · wv [N, K]ᵀ`` exactly, int64 ``[M, N]`` (caller proves no overflow)."""
    acc = np.empty((xv.shape[0], wv.shape[0]), np.int64)
    _gemm_kernel(np.ascontiguousarray(xv, np.int64), np.ascontiguousarray(wv, np.int64), acc)
    return acc


@numba.njit(cache=True, parallel=True)
def _grid_sweep_kernel(x, base, frac, nmax, table, grid, sse):
    top = table.shape[0] - 1
    for r in numba.prange(x.shape[0]):
        for c in range(frac.shape[0]):
            s = np.float32(base[r] * frac[c] / nmax)
            if s <= 0:
                continue
            sd = np.float64(s)
            inv = 2.0 / sd
            err = 0.0
            for k in range(x.shape[1]):
                a = abs(np.float64(x[r, k]))
                h = min(np.floor(a * inv), np.float64(top))
                d = a - grid[table[np.int64(h)]] * sd
                err += d * d
            sse[r, c] = err


def grid_sweep(x: np.ndarray, base: np.ndarray, percent: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Squared error ``[rows, len(percent)]`` of rounding each row to the symmetric integer
    magnitude ``grid`` (ascending, normal steps; ties up) with step
    ``float32(base·i/100 / grid[-1])``; ``inf`` where the step is 0 (all-zero rows).

    The grid midpoints are multiples of 1/2, so the grid index of ``q = |x|/s`` is exactly
    ``table[⌊2q⌋]`` with ``table[h]`` = number of midpoints ``m`` with ``2m ≤ h``."""
    x = np.ascontiguousarray(x, np.float32)
    base = np.broadcast_to(np.asarray(base, np.float64).reshape(-1), (x.shape[0],)).copy()
    grid = np.asarray(grid, np.int64)
    twice_mid = grid[:-1] + grid[1:]
    table = np.searchsorted(twice_mid, np.arange(twice_mid[-1] + 1), side="right")
    sse = np.full((x.shape[0], len(percent)), np.inf)
    _grid_sweep_kernel(x, base, np.asarray(percent, np.float64) / 100.0, float(grid[-1]),
                       table.astype(np.int64), grid.astype(np.float64), sse)
    return sse
