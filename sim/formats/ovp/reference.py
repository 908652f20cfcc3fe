"""Slow plain-numpy references of the OVP encoder and GEMM: what the tests hold the numba
kernels to."""

from __future__ import annotations

import numpy as np

from sim.formats.base import Encoded, apply_scales
from sim.formats.ovp.gemm import accumulator_bits, decode_fields
from sim.formats.ovp.grids import FRAC_BITS, TYPES, OvpType


def encode_fixed_reference(q: np.ndarray, t: OvpType) -> tuple[np.ndarray, np.ndarray]:
    """:func:`encode_fixed` by brute force: distance to every grid point, largest of the nearest."""
    q = np.asarray(q, np.int64)
    mag = np.abs(q)
    points = t.grid << FRAC_BITS
    dist = np.abs(mag[..., None] - points)
    j = len(points) - 1 - np.argmin(dist[..., ::-1], axis=-1)
    codes = np.where(q < 0, t.neg_code[j], t.pos_code[j]).astype(np.uint8)
    rows, k = q.shape
    out = (j >= t.n_normal).reshape(rows, k // 2, 2)
    m = mag.reshape(rows, k // 2, 2)
    both = out[..., 0] & out[..., 1]
    even_wins = m[..., 0] >= m[..., 1]
    victim_even = (out[..., 1] & ~out[..., 0]) | (both & ~even_wins)
    victim_odd = (out[..., 0] & ~out[..., 1]) | (both & even_wins)
    c = codes.reshape(rows, k // 2, 2)
    c[..., 0] = np.where(victim_even, t.ident, c[..., 0])
    c[..., 1] = np.where(victim_odd, t.ident, c[..., 1])
    kind = out.sum(-1)
    counts = np.stack([(kind == i).sum(1) for i in range(3)], 1)
    return c.reshape(rows, k), counts


def gemm_reference(x: Encoded, w: Encoded) -> np.ndarray:
    """:meth:`OliveFormat.gemm` literally: ``Σ_k (ix·iw) << (ex+ew)`` from :func:`decode_fields`,
    checking every partial sum against the accumulator width."""
    tx, tw = TYPES[x.meta["normal"]], TYPES[w.meta["normal"]]
    ex, ix = decode_fields(x.codes, tx)
    ew, iw = decode_fields(w.codes, tw)
    top = (1 << (accumulator_bits(tx, tw, x.codes.shape[1]) - 1)) - 1
    acc = np.zeros((ix.shape[0], iw.shape[0]), np.int64)
    for k in range(ix.shape[1]):
        acc += (ix[:, k, None] * iw[None, :, k]) << (ex[:, k, None] + ew[None, :, k])
        if np.abs(acc).max(initial=0) > top:
            raise OverflowError("OVP accumulator overflow")
    return apply_scales(acc, x.scales, w.scales)
