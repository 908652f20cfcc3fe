"""GOBO weight-only quantization: ``gobo-w3`` and ``gobo-w4`` (baseline, papers/olive.md "GOBO").

Weights ``[N, K]``, one dictionary per layer (the whole tensor):

* Gaussian fit: ``μ``, ``σ`` of all weights (float64, population σ). Outliers are the weights with
  ``|w − μ| > 3σ`` (our rule; GOBO reports ≈ 0.1 % outliers, the measured fraction is in
  ``meta["outlier_fraction"]``). They are kept exactly (FP32) with their positions.
* The other weights ("Gaussian" group) become one of ``C = 2^bits`` centroids (8 or 16): 1-D
  k-means (Lloyd), deterministic: the inliers are sorted once; centroids start at the inlier
  quantiles ``(i + ½)/C``; each iteration assigns every value to the nearest centroid (a value
  exactly halfway goes to the upper one) and moves each centroid to the float64 mean of its
  members (an empty cluster keeps its centroid), then sorts the centroids; stop when no
  assignment changes or after :data:`MAX_ITERATIONS`. Centroids are stored float32, ascending.
* Layout: ``codes [N, K]`` uint8 centroid indices for every position (at an outlier position the
  nearest centroid's index, ignored by the datapath); ``scales`` = the centroid table (float32
  ``[C]``); ``meta``: CSR outlier list — ``outlier_rows [N+1]``, ``outlier_cols`` (int32,
  ascending in each row), ``outlier_values`` (float32).
* Storage: ``bits`` per position + 32 bits per centroid + (32-bit value + 32-bit flat position)
  per outlier. No padding (K is free). ``decode(encode(·))`` is not idempotent: re-encoding
  refits μ, σ and the centroids to the decoded values.

Activations: FP16 (:mod:`sim.formats.half`).

GEMM (:func:`gemm`), per output ``y[m, n]``, float32, each operation rounded (no FMA): the dense
path looks up each weight's centroid and accumulates ``p = p + x_k · c[code_{n,k}]`` for k
ascending, skipping outlier positions; then the sparse outlier path continues the same
accumulator over row n's outliers in ascending position: ``p = p + x_k · w_outlier``; ``y = p``.
"""

from __future__ import annotations

import numba
import numpy as np

from core.errors import UserError
from sim.formats import half
from sim.formats.base import Encoded, NumberFormat, Role, check_finite

OUTLIER_SIGMAS = 3.0
MAX_ITERATIONS = 100
CENTROID_BITS = 32
OUTLIER_BITS = 32 + 32  # FP32 value + 32-bit flat position


def outlier_mask(w: np.ndarray) -> np.ndarray:
    """``|w − μ| > 3σ`` over the whole tensor (float64 statistics)."""
    w64 = w.astype(np.float64)
    mu, sigma = w64.mean(), w64.std()
    return np.abs(w64 - mu) > OUTLIER_SIGMAS * sigma


def _bounds(sorted_values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Cluster boundaries in ``sorted_values``: cluster i is ``[b[i], b[i+1])``."""
    mids = (centroids[:-1] + centroids[1:]) / 2
    inner = np.searchsorted(sorted_values, mids, side="left")
    return np.concatenate([[0], inner, [sorted_values.size]])


def fit_centroids(values: np.ndarray, count: int) -> np.ndarray:
    """1-D k-means of ``values`` into ``count`` ascending float32 centroids (module docstring)."""
    v = np.sort(values.astype(np.float64).ravel())
    if v.size == 0:
        return np.zeros(count, np.float32)
    centroids = np.quantile(v, (np.arange(count) + 0.5) / count)
    prefix = np.concatenate([[0.0], np.cumsum(v)])
    bounds = _bounds(v, centroids)
    for _ in range(MAX_ITERATIONS):
        sizes = np.diff(bounds)
        sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
        centroids = np.sort(np.where(sizes > 0, sums / np.maximum(sizes, 1), centroids))
        new = _bounds(v, centroids)
        if np.array_equal(new, bounds):
            break
        bounds = new
    return centroids.astype(np.float32)


def nearest(w: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (halfway → upper), uint8, same shape as ``w``."""
    c = centroids.astype(np.float64)
    mids = (c[:-1] + c[1:]) / 2
    return np.searchsorted(mids, w.astype(np.float64), side="right").astype(np.uint8)


def encode_weight(w: np.ndarray, bits: int, *, name: str, fmt: str) -> Encoded:
    """Outliers + centroid codes of ``w [N, K]`` (module docstring)."""
    w = check_finite(w, name)
    n, k = w.shape
    out = outlier_mask(w)
    centroids = fit_centroids(w[~out], 1 << bits)
    codes = nearest(w, centroids)
    rows, cols = np.nonzero(out)  # row-major: ascending position within each row
    row_ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
    n_out = int(out.sum())
    storage = n * k * bits + centroids.size * CENTROID_BITS + n_out * OUTLIER_BITS
    return Encoded(fmt, Role.WEIGHT, (n, k), codes, centroids, storage, 0,
                   {"outlier_rows": row_ptr, "outlier_cols": cols.astype(np.int32),
                    "outlier_values": w[rows, cols].astype(np.float32),
                    "outlier_fraction": n_out / max(1, w.size)})


def decode_weight(enc: Encoded) -> np.ndarray:
    """Centroid lookup, outliers put back at their positions (float32 ``[N, K]``)."""
    w = enc.scales[enc.codes]
    rows = np.repeat(np.arange(enc.shape[0]), np.diff(enc.meta["outlier_rows"]))
    w[rows, enc.meta["outlier_cols"]] = enc.meta["outlier_values"]
    return w


@numba.njit(cache=True, parallel=True)
def _gobo_kernel(xt, codes, table, row_ptr, cols, vals, out):  # pragma: no cover - jitted
    """``xt [K, M]`` float32 (widened FP16), tokens in the vector lanes; order as documented."""
    k_len, m_rows = xt.shape
    for n in numba.prange(codes.shape[0]):
        p = np.zeros(m_rows, np.float32)
        nxt = row_ptr[n]
        end = row_ptr[n + 1]
        for k in range(k_len):
            if nxt < end and cols[nxt] == k:  # outlier position: not on the dense path
                nxt += 1
                continue
            c = table[codes[n, k]]
            for m in range(m_rows):
                p[m] = p[m] + xt[k, m] * c
        for i in range(row_ptr[n], end):  # sparse outlier path
            k = cols[i]
            v = vals[i]
            for m in range(m_rows):
                p[m] = p[m] + xt[k, m] * v
        for m in range(m_rows):
            out[m, n] = p[m]


def gemm(x: Encoded, w: Encoded) -> np.ndarray:
    """``[M, N]`` float32: dense centroid path then sparse outlier path (module docstring)."""
    if x.role is not Role.ACTIVATION or w.role is not Role.WEIGHT:
        raise UserError("gemm(x, w) takes an encoded activation and an encoded weight")
    if x.shape[1] != w.shape[1]:
        raise UserError(f"gemm: K differs (activation {x.shape[1]}, weight {w.shape[1]})")
    out = np.empty((x.shape[0], w.shape[0]), np.float32)
    m = w.meta
    _gobo_kernel(np.ascontiguousarray(half.values(x).T), w.codes, w.scales, m["outlier_rows"],
                 m["outlier_cols"], m["outlier_values"], out)
    return out


def reference_gemm(x: Encoded, w: Encoded) -> np.ndarray:
    """Plain numpy, same order (k ascending over the dense path, then outliers); slow."""
    xv = half.values(x)
    dense = w.scales[w.codes]
    rows = np.repeat(np.arange(w.shape[0]), np.diff(w.meta["outlier_rows"]))
    is_out = np.zeros(w.shape, bool)
    is_out[rows, w.meta["outlier_cols"]] = True
    p = np.zeros((x.shape[0], w.shape[0]), np.float32)
    for k in range(w.shape[1]):
        term = xv[:, k, None] * dense[None, :, k]
        p = np.where(is_out[None, :, k], p, p + term)
    for n in range(w.shape[0]):
        lo, hi = w.meta["outlier_rows"][n], w.meta["outlier_rows"][n + 1]
        for k, v in zip(w.meta["outlier_cols"][lo:hi], w.meta["outlier_values"][lo:hi], strict=True):
            p[:, n] = p[:, n] + xv[:, k] * v
    return p


class GoboFormat(NumberFormat):
    """``gobo-w3`` / ``gobo-w4``: weight-only centroid quantization with FP32 outliers."""

    def __init__(self, bits: int):
        self.bits = bits
        self.name = f"gobo-w{bits}"
        self.description = (f"GOBO: {1 << bits} k-means centroids per layer, FP32 outliers beyond "
                            f"3σ with positions; FP16 activations")

    def code_bits(self, role: Role, name: str) -> int:
        """Centroid indices for weights (the MAC reads the FP16 centroid); FP16 activations."""
        return self.bits if Role(role) is Role.WEIGHT else 16

    def encode(self, x: np.ndarray, role: Role, *, name: str = "tensor",
               scale: float | None = None, **static) -> Encoded:
        if scale is not None:
            raise UserError(f"{self.name} has no scale to fix (centroids / FP16); drop --scale")
        if Role(role) is Role.WEIGHT:
            return encode_weight(x, self.bits, name=name, fmt=self.name)
        return half.encode(x, name=name, fmt=self.name)

    def decode(self, enc: Encoded) -> np.ndarray:
        return decode_weight(enc) if enc.role is Role.WEIGHT else half.decode(enc)

    def gemm(self, x: Encoded, w: Encoded) -> np.ndarray:
        return gemm(x, w)


GOBO_W3 = GoboFormat(3)
GOBO_W4 = GoboFormat(4)
