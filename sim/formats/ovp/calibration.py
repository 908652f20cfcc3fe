"""OliVe's scale selection: the α sweep around the 3σ base, least squared error after OVP
encoding (rules: :mod:`sim.formats.ovp`, "Calibration")."""

from __future__ import annotations

import numba
import numpy as np

from sim.formats.ovp.encoder import _ONE, _fix, _pair
from sim.formats.ovp.grids import OvpType

ALPHA_PERCENT = np.arange(75, 250, 2)
"""The α sweep, in percent of ``base`` (papers/olive.md)."""


@numba.njit(cache=True, parallel=True)
def _sweep_kernel(x, base, frac, nmax, thr, jtab, grid, n_normal, sse):
    for r in numba.prange(x.shape[0]):
        for c in range(frac.shape[0]):
            s = np.float32(base[r] * frac[c] / nmax)
            if s <= 0:
                continue  # left at +inf: an all-zero row keeps the fallback scale
            sd = np.float64(s)
            inv = _ONE / sd
            err = 0.0
            for p in range(x.shape[1] // 2):
                xa, xb = x[r, 2 * p], x[r, 2 * p + 1]
                qa, qb = _fix(xa, inv), _fix(xb, inv)
                ja, jb, ka, kb, _ = _pair(qa, qb, thr, jtab, n_normal)
                va = grid[ja] * sd if ka else 0.0
                vb = grid[jb] * sd if kb else 0.0
                da = abs(np.float64(xa)) - va
                db = abs(np.float64(xb)) - vb
                err += da * da + db * db
            sse[r, c] = err


def sweep(x: np.ndarray, base: np.ndarray, t: OvpType) -> np.ndarray:
    """Squared error ``[rows, len(ALPHA_PERCENT)]`` of each row under each candidate α;
    ``base``: ``[rows]``."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    base = np.ascontiguousarray(base, dtype=np.float64)
    if base.shape != (x.shape[0],):
        raise ValueError(f"sweep: base must have shape ({x.shape[0]},), got {base.shape}")
    sse = np.full((x.shape[0], len(ALPHA_PERCENT)), np.inf)
    _sweep_kernel(x, base, ALPHA_PERCENT / 100.0, float(t.normal_max),
                  t.thresholds, t.index_table, t.grid.astype(np.float64),
                  t.n_normal, sse)
    return sse


def _candidate_scale(base: np.ndarray, i: np.ndarray, t: OvpType) -> np.ndarray:
    s = (np.asarray(base, np.float64) * (ALPHA_PERCENT[i] / 100.0) / t.normal_max).astype(np.float32)
    return np.where(s > 0, s, np.float32(1.0))  # all-zero data: any step encodes it exactly


def search_scales(x: np.ndarray, base: np.ndarray, t: OvpType, *, per_row: bool
                  ) -> tuple[np.ndarray, float]:
    """OliVe's α sweep: (float32 scales ``[rows]`` or ``[1]``, total squared error).

    ``base``: per row (``[rows]``) or one for the whole tensor (``[1]``, broadcast)."""
    base = np.broadcast_to(np.asarray(base, np.float64).reshape(-1), (x.shape[0],))
    sse = sweep(x, base, t)
    sse = np.where(np.isinf(sse), (x.astype(np.float64) ** 2).sum(1, keepdims=True), sse)
    if per_row:
        i = sse.argmin(1)
        return _candidate_scale(base, i, t), float(sse[np.arange(len(i)), i].sum())
    total = sse.sum(0)
    i = int(total.argmin())
    return _candidate_scale(base[:1], np.array([i]), t), float(total[i])


def three_sigma_base(mean: np.ndarray | float, std: np.ndarray | float) -> np.ndarray:
    """``max(|μ + 3σ|, |μ − 3σ|)`` (papers/olive.md)."""
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    return np.atleast_1d(np.maximum(np.abs(mean + 3 * std), np.abs(mean - 3 * std)))
