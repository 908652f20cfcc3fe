"""OliVe outlier-victim pair (OVP) encoding: grids, encoder, decoder and exact integer GEMM.

The one place for OVP-4 and OVP-8 (papers/olive.md); the fake-quant hook, the cycle models and
the RTL benches (hw/olive/) all import this module.

Layout. Tensors are ``[rows, K]`` (weights ``[N, K]``, activations ``[tokens, K]``); values are
paired along K: (2p, 2p+1) — papers/olive.md "4-bit encoding" (we always pair along K). K is
padded with zeros to an even length (``Encoded.padded``). ``codes`` holds one code per element
(uint8, ``bits`` significant bits); in memory the pair is one byte (OVP-4: even element in the low
nibble) or two bytes (OVP-8, even element first).

Codes (``b`` = 4 or 8 bits; ``IDENT = 1 << (b-1)``, i.e. ``1000`` / ``0x80``):

* normal int: two's complement of ``v``, ``|v| ≤ 2^(b-1) − 1`` (15 / 255 levels) — ``IDENT`` is
  ``−2^(b-1)``, never a normal value;
* normal flint4: sign-magnitude ``s << 3 | idx`` over :data:`~sim.formats.flint.FLINT4_MAGNITUDES`;
  ``IDENT`` would be −0, never produced (zero is always encoded ``0000``);
* outlier "abfloat" EeMm: ``s << (b-1) | e << m_bits | m`` with magnitude
  ``(2^M + m) << (e + bias)`` normal steps; ``(e, m) = (0, 0)`` is skipped in both signs because
  its negative pattern is ``IDENT`` (papers/olive.md; the decoder still reads those patterns by
  their bits, the encoder never produces them). Adaptive bias: the smallest ``bias`` with
  ``(2^M + 1) << bias`` (the smallest used outlier) > normal maximum, so the outlier range starts
  just above the normal grid:
  int4 → 2 ({12, 16, 24, 32, 48, 64, 96}), flint4 → 3 ({24 … 192}), int8/E4M3 → 4 ({144 … 15·2^19});
* victim: ``IDENT`` in the slot beside an outlier.

Decoder (hardware semantics, :func:`decode_fields`): per pair, if the even code is ``IDENT`` the
even value is the victim ``<0, 0>`` and the odd code is an outlier; else if the odd code is
``IDENT`` the odd value is the victim and the even code an outlier; else both are normal. It emits
``<exponent, integer>`` per value, value = ``integer << exponent`` normal steps:
normal int → ``<0, v>``; normal flint4 → :data:`~sim.formats.flint.FLINT4_EXP_INT` with sign;
victim → ``<0, 0>``; outlier → ``<e + bias, ±(2^M + m)>``. Widths: OVP-4 exponent 0..6 (3 bits),
integer −7..7 (4-bit signed); OVP-8 (E4M3) exponent 0..19 (5 bits), integer −127..127 (8 bits).

GEMM (:meth:`OliveFormat.gemm`, reference :func:`gemm_reference`): ``acc[m, n] = Σ_k (ix·iw) << (ex + ew)`` in a two's complement accumulator
of :func:`accumulator_bits` bits — int32 for OVP-4 (no overflow is *proved* for the given K
by :func:`accumulator_bound`, else :class:`UserError`), int64 for OVP-8 (E4M3 outlier products
reach 2^46) — then ``y = float32(float64(acc) · float64(sx) · float64(sw))``.

Encoder input (:func:`encode_fixed`, the RTL encoder's contract): int32 fixed point
``q = rint_half_even(x · (2^FRAC_BITS / s))`` (float64 arithmetic, ``s`` the float32 scale =
one normal step, magnitude clamped to 2^30 so it fits int32), i.e. value in units of 1/16
normal step; every grid midpoint is then an integer, so the decisions below are exact. Each
magnitude goes to the nearest point of the union of normal and outlier grids; a magnitude exactly
halfway goes to the larger point (our decision; the public code takes the later grid entry);
magnitudes above the largest outlier saturate to it. A result above the normal maximum is an
outlier. Outlier-outlier pairs keep the larger input magnitude ``|q|``, ties the even index
(papers/olive.md, our decision); the other becomes the victim. Always signed, identifier always
reserved (papers/olive.md, our decision).

Calibration (:func:`search_scales`, papers/olive.md "Scale selection"): ``base = max(|μ ± 3σ|)``,
``α = base · i / 100`` for i = 75, 77, …, 249; α is the normal maximum, so the step is
``s = float32(α / normal_max)``; keep the α with least squared error after OVP encoding (victims
included; ties → smaller i). Per output row for weights, per tensor for activations (static after
calibration). OVP-4 picks int4 or flint4 per tensor by total squared error (ties → int4).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numba
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
from sim.formats.flint import FLINT4_EXP_INT, FLINT4_MAGNITUDES, INT4_MAGNITUDES

FRAC_BITS = 4
"""Fractional bits of the encoder's fixed-point input (units of 2^-4 normal step)."""

_CLAMP = float(1 << 30)
_ONE = float(1 << FRAC_BITS)
ALPHA_PERCENT = np.arange(75, 250, 2)
"""The α sweep, in percent of ``base`` (papers/olive.md)."""

PAIR_KINDS = ("normal-normal", "outlier-normal", "outlier-outlier")


@dataclass(frozen=True, eq=False)
class OvpType:
    """One OVP variant: a normal grid plus an adaptive-bias abfloat outlier grid.

    ``grid``: union of normal then outlier magnitudes (normal steps, ascending);
    ``thresholds``: midpoints of ``grid`` in fixed-point units (``≥`` goes up);
    ``pos_code``/``neg_code``: the code of each grid point by sign; ``exp_int``: ``(e, i)`` of each
    grid point as the decoder emits it; ``lut_normal``/``lut_outlier``: code → signed value in
    normal steps (``i << e``) when the code is read as normal / as outlier.
    """

    name: str
    bits: int
    signed_magnitude: bool
    exp_bits: int
    man_bits: int
    bias: int
    n_normal: int
    grid: np.ndarray
    thresholds: np.ndarray
    pos_code: np.ndarray
    neg_code: np.ndarray
    exp_int: np.ndarray
    lut_normal: np.ndarray
    lut_outlier: np.ndarray

    @cached_property
    def index_table(self) -> np.ndarray:
        """Grid index of every fixed-point magnitude below min(last threshold + 1, 4096): a
        speed-up of the threshold search, identical to it by construction."""
        size = int(min(self.thresholds[-1] + 1, 4096))
        return np.searchsorted(self.thresholds, np.arange(size), side="right").astype(np.int16)

    @property
    def ident(self) -> int:
        return 1 << (self.bits - 1)

    @property
    def normal_max(self) -> int:
        return int(self.grid[self.n_normal - 1])

    @property
    def outlier_max(self) -> int:
        return int(self.grid[-1])


def make_type(name: str, bits: int, normal: np.ndarray, normal_exp_int: np.ndarray, *,
              signed_magnitude: bool, exp_bits: int, man_bits: int) -> OvpType:
    """Build the grids and code tables of one OVP variant (see the module docstring)."""
    if 1 + exp_bits + man_bits != bits:
        raise UserError(f"OVP-{bits} outlier type needs 1 + exponent + mantissa = {bits} bits, "
                        f"got E{exp_bits}M{man_bits}")
    nmax = int(normal[-1])
    bias = 0
    while ((1 << man_bits) + 1) << bias <= nmax:  # smallest *used* outlier above the normal max
        bias += 1
    out_mag, out_code, out_ei = [], [], []
    for e in range(1 << exp_bits):
        for m in range(1 << man_bits):
            if e == 0 and m == 0:
                continue
            out_mag.append(((1 << man_bits) + m) << (e + bias))
            out_code.append(e << man_bits | m)
            out_ei.append((e + bias, (1 << man_bits) + m))
    order = np.argsort(out_mag, kind="stable")
    grid = np.concatenate([normal, np.asarray(out_mag, np.int64)[order]])
    assert (np.diff(grid) > 0).all(), "grid must be strictly increasing"
    sign = 1 << (bits - 1)
    idx = np.arange(len(normal))
    if signed_magnitude:
        n_pos, n_neg = idx, idx | sign
        n_neg = np.where(idx == 0, 0, n_neg)  # zero is always +0: −0 is the identifier
    else:
        n_pos, n_neg = normal, (-normal) & ((1 << bits) - 1)
    o = np.asarray(out_code, np.int64)[order]
    pos_code = np.concatenate([n_pos, o]).astype(np.uint8)
    neg_code = np.concatenate([n_neg, o | sign]).astype(np.uint8)
    exp_int = np.concatenate([normal_exp_int, np.asarray(out_ei, np.int64)[order]])
    thresholds = ((grid[:-1] + grid[1:]) << FRAC_BITS) // 2  # exact: FRAC_BITS ≥ 1
    lut_normal = np.zeros(1 << bits, np.int32)
    lut_outlier = np.zeros(1 << bits, np.int32)
    nn = len(normal)
    lut_normal[pos_code[:nn]] = grid[:nn]
    lut_normal[neg_code[:nn]] = -grid[:nn]
    lut_outlier[pos_code[nn:]] = grid[nn:]
    lut_outlier[neg_code[nn:]] = -grid[nn:]
    # The skipped (e, m) = (0, 0) patterns decode by their bits (never produced by the encoder).
    lut_outlier[0] = (1 << man_bits) << bias
    lut_outlier[sign] = -((1 << man_bits) << bias)
    return OvpType(name, bits, signed_magnitude, exp_bits, man_bits, bias, nn, grid, thresholds,
                   pos_code, neg_code, exp_int, lut_normal, lut_outlier)


INT4 = make_type("int4", 4, INT4_MAGNITUDES, np.stack([0 * INT4_MAGNITUDES, INT4_MAGNITUDES], 1),
                 signed_magnitude=False, exp_bits=2, man_bits=1)
FLINT4 = make_type("flint4", 4, FLINT4_MAGNITUDES, FLINT4_EXP_INT,
                   signed_magnitude=True, exp_bits=2, man_bits=1)


def int8_type(exp_bits: int = 4, man_bits: int = 3) -> OvpType:
    """OVP-8: int8 normal (±127) with an E{exp_bits}M{man_bits} abfloat outlier (default E4M3,
    papers/olive.md "8-bit encoding", our decision; the public code's E2M5 is ``int8_type(2, 5)``)."""
    mags = np.arange(128, dtype=np.int64)
    return make_type(f"int8-e{exp_bits}m{man_bits}", 8, mags, np.stack([0 * mags, mags], 1),
                     signed_magnitude=False, exp_bits=exp_bits, man_bits=man_bits)


INT8_E4M3 = int8_type()
TYPES = {t.name: t for t in (INT4, FLINT4, INT8_E4M3)}


# --- encoder --------------------------------------------------------------------------------------

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


# --- calibration ------------------------------------------------------------------------------------

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


# --- decoder and GEMM ---------------------------------------------------------------------------

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


# --- slow plain-numpy references (what the tests hold the kernels to) --------------------------

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


# --- the formats -------------------------------------------------------------------------------------

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
        tx, tw = TYPES[x.meta["normal"]], TYPES[w.meta["normal"]]
        if x.codes.shape[1] != w.codes.shape[1]:
            raise UserError(f"gemm: K mismatch {x.shape} × {w.shape}")
        accumulator_bits(tx, tw, x.codes.shape[1])  # raises if not exact
        acc = np.empty((x.codes.shape[0], w.codes.shape[0]), np.int64)
        _gemm_kernel(expand(x.codes, tx).astype(np.int64), np.ascontiguousarray(w.codes),
                     tw.lut_normal.astype(np.int64), tw.lut_outlier.astype(np.int64), tw.ident,
                     acc)
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
