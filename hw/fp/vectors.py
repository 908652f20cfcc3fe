"""Test vectors for the :mod:`hw.fp` benches: adversarial, then random, deterministic per seed.

Every generator returns int64 bit patterns (integers for :func:`from_int_vectors`): first its
adversarial set (always complete), then random vectors up to ``n`` in all. Random operands mix
uniform bit patterns over the whole space (NaNs, infs and subnormals included), finite values
with close exponents and often opposite signs (cancellation), and finite values with random
exponent differences.
"""

from __future__ import annotations

import numpy as np

from hw.fp.format import FloatFormat

EXP_DIFFERENCES = (0, 1, 2, 3, 23, 24, 25, 26, 30, 200)
"""Alignment distances always tried (with the format's own M − 1 … M + 4, 2M + 1), where the
exponent range has them: 23 … 26 are FP32's M and the distances where the smaller operand
lands on the guard, round and sticky bits or falls off the end."""


def pattern(fmt: FloatFormat, sign, exp, frac) -> np.ndarray:
    """Bit patterns from fields (arrays or scalars, broadcast)."""
    sign, exp, frac = (np.asarray(x, dtype=np.int64) for x in (sign, exp, frac))
    return (sign << (fmt.width - 1)) | (exp << fmt.man_bits) | frac


def power_of_two(fmt: FloatFormat, k: int) -> int | None:
    """The pattern of +2^k (normal or subnormal), ``None`` if ``fmt`` has no such value."""
    emin = 1 - fmt.bias
    if emin <= k <= fmt.exp_all_ones - 1 - fmt.bias:
        return (k + fmt.bias) << fmt.man_bits
    if emin - fmt.man_bits <= k < emin:
        return 1 << (k - emin + fmt.man_bits)
    return None


def specials(fmt: FloatFormat) -> np.ndarray:
    """Both zeros, both infs, quiet / signalling / negative / all-ones NaNs, the smallest and
    largest subnormals, the smallest normal, the largest finite value (FP16: 65504), 1 and its
    neighbours, 0.5, 1.5, 2 — each with both signs."""
    m, top = fmt.man_bits, fmt.exp_all_ones
    frac_ones = (1 << m) - 1
    one = fmt.bias << m
    magnitudes = [0, fmt.inf, 1, 2, 3, frac_ones, fmt.min_normal, fmt.min_normal + 1,
                  fmt.max_finite, fmt.max_finite - 1, one, one + 1, one - 1, one - (1 << m),
                  one + (1 << (m - 1)), one + (1 << m)]
    nans = [fmt.canonical_nan, (top << m) | 1, (top << m) | frac_ones, fmt.canonical_nan | 1]
    values = np.array(magnitudes, dtype=np.int64)
    return np.concatenate([values, values | fmt.sign_bit, np.array(nans, dtype=np.int64),
                           np.array(nans, dtype=np.int64) | fmt.sign_bit])


def _cross(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.meshgrid(values, values, indexing="ij")
    return a.ravel(), b.ravel()


def _both_orders(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([a, b]), np.concatenate([b, a])


def random_finite(fmt: FloatFormat, n: int, rng: np.random.Generator, exp_lo: int = 0,
                  exp_hi: int | None = None) -> np.ndarray:
    """``n`` finite patterns: random sign and fraction, exponent field in [exp_lo, exp_hi]."""
    hi = fmt.exp_all_ones - 1 if exp_hi is None else exp_hi
    return pattern(fmt, rng.integers(0, 2, n), rng.integers(exp_lo, hi + 1, n),
                   rng.integers(0, 1 << fmt.man_bits, n))


def random_bits(fmt: FloatFormat, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform patterns over the whole space."""
    return rng.integers(0, 1 << fmt.width, n, dtype=np.int64)


def _fill(pairs: list[tuple[np.ndarray, np.ndarray]], n: int, random_pairs) -> dict[str, np.ndarray]:
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    left = max(0, n - len(a))
    if left:
        ra, rb = random_pairs(left)
        a, b = np.concatenate([a, ra]), np.concatenate([b, rb])
    return {"a": a.astype(np.int64), "b": b.astype(np.int64)}


# --- addition ------------------------------------------------------------------------------------

def _exp_difference_pairs(fmt: FloatFormat, rng: np.random.Generator) -> list[tuple]:
    """For every alignment distance d: random operands, and structured fractions (0, all ones,
    1, a lone top bit) of both relative signs, in both orders."""
    m, top = fmt.man_bits, fmt.exp_all_ones
    distances = sorted({d for d in (*EXP_DIFFERENCES, m - 1, m, m + 1, m + 2, m + 3, m + 4, 2 * m + 1)
                        if 0 <= d <= top - 2})
    fracs = np.array([0, (1 << m) - 1, 1, 1 << (m - 1)])
    out = []
    for d in distances:
        ex = rng.integers(d, top, 64)  # y's field ex − d ≥ 0 (subnormal when 0)
        x = pattern(fmt, rng.integers(0, 2, 64), ex, rng.integers(0, 1 << m, 64))
        y = pattern(fmt, rng.integers(0, 2, 64), ex - d, rng.integers(0, 1 << m, 64))
        fx, fy, sy = (g.ravel() for g in np.meshgrid(fracs[:3], fracs, [0, 1], indexing="ij"))
        e = rng.integers(d, top, len(fx))
        out += [_both_orders(x, y), _both_orders(pattern(fmt, 0, e, fx), pattern(fmt, sy, e - d, fy))]
    return out


def _carry_and_tie_pairs(fmt: FloatFormat, rng: np.random.Generator) -> list[tuple]:
    """Carries through the whole significand (``1.11…1`` plus an ulp, half an ulp, a quarter)
    and halfway ties with even and odd kept bits, plus the values just above and just below
    half an ulp — as sums and as differences, in both orders."""
    m = fmt.man_bits
    ones = (1 << m) - 1
    xs, ys = [], []
    for e in sorted(set(rng.integers(1, fmt.exp_all_ones - 1, 24).tolist()) | {1, 2, m + 2}):
        ulp = e - fmt.bias - m  # x's ulp is 2^ulp
        small = [power_of_two(fmt, ulp + s) for s in (0, -1, -2)]
        half = small[1]
        beside_half = [] if half is None else [half + 1, half - 1]  # neighbouring patterns
        for frac in (ones, ones - 1, 0, 1, 2, int(rng.integers(0, 1 << m))):
            x = int(pattern(fmt, 0, e, frac))
            for y in [v for v in small if v is not None] + beside_half:
                for sx in (0, fmt.sign_bit):
                    for sy in (0, fmt.sign_bit):
                        xs.append(x | sx)
                        ys.append(y | sy)
    return [_both_orders(np.array(xs), np.array(ys))]


def _cancellation_pairs(fmt: FloatFormat, rng: np.random.Generator) -> list[tuple]:
    """Exact cancellation ``x + (−x)`` (both orders, both signs first) and near cancellation:
    neighbouring patterns of opposite sign, so the leading-zero count sweeps the significand."""
    x = np.concatenate([random_finite(fmt, 200, rng), random_finite(fmt, 40, rng, 0, 0),
                        specials(fmt)[:16]])
    x = x[(x & (fmt.sign_bit - 1)) < fmt.inf]  # finite
    near = (x & (fmt.sign_bit - 1)) + rng.integers(1, 1 << rng.integers(1, fmt.man_bits + 2, len(x)))
    near = np.minimum(near, fmt.max_finite) | (~x & fmt.sign_bit)
    return [_both_orders(x, x ^ fmt.sign_bit), _both_orders(x, near)]


def _boundary_pairs(fmt: FloatFormat, rng: np.random.Generator) -> list[tuple]:
    """The overflow edge (largest finite plus an ulp, half an ulp, just less), the
    subnormal/normal boundary (largest subnormal + smallest subnormal = smallest normal and
    back) and random subnormal sums."""
    big, ulp_k = fmt.max_finite, fmt.exp_all_ones - 1 - fmt.bias - fmt.man_bits
    half, quarter, ulp = (power_of_two(fmt, ulp_k + s) for s in (-1, -2, 0))
    ys = np.array([big, ulp, half, half - 1, half + 1, quarter, big - 1, fmt.min_normal])
    xs = np.array([big, big - 1, big - 2, big ^ (1 << fmt.man_bits)])
    bx, by = _cross(np.concatenate([xs, xs | fmt.sign_bit]))
    cx, cy = (g.ravel() for g in np.meshgrid(np.concatenate([xs, xs | fmt.sign_bit]), ys, indexing="ij"))
    small = np.array([0, 1, 2, (1 << fmt.man_bits) - 1, (1 << fmt.man_bits) - 2, fmt.min_normal,
                      fmt.min_normal + 1, 2 * fmt.min_normal])
    sx, sy = _cross(np.concatenate([small, small | fmt.sign_bit]))
    subs = random_finite(fmt, 400, rng, 0, 2)
    return [(bx, by), _both_orders(cx, cy), (sx, sy), (subs[:200], subs[200:])]


def add_vectors(fmt: FloatFormat, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``a``, ``b``: the adversarial sets above and every pair of :func:`specials`, then random
    pairs: 40 % uniform patterns, 40 % close exponents (often opposite signs), 20 % random
    finite values."""
    rng = np.random.default_rng(seed)
    pairs = [_cross(specials(fmt)), *_exp_difference_pairs(fmt, rng), *_carry_and_tie_pairs(fmt, rng),
             *_cancellation_pairs(fmt, rng), *_boundary_pairs(fmt, rng)]

    def random_pairs(count):
        k1, k2 = 2 * count // 5, 4 * count // 5
        close = random_finite(fmt, k2 - k1, rng)
        exp = (close >> fmt.man_bits) & fmt.exp_all_ones
        other_exp = np.clip(exp + rng.integers(-2, 3, len(close)), 0, fmt.exp_all_ones - 1)
        other = pattern(fmt, 0, other_exp, rng.integers(0, 1 << fmt.man_bits, len(close)))
        opposite = rng.random(len(close)) < 0.75  # mostly opposite signs: cancellation
        other |= np.where(opposite, ~close, close) & fmt.sign_bit
        a = np.concatenate([random_bits(fmt, k1, rng), close, random_finite(fmt, count - k2, rng)])
        b = np.concatenate([random_bits(fmt, k1, rng), other, random_finite(fmt, count - k2, rng)])
        return a, b

    return _fill(pairs, n, random_pairs)


# --- multiplication ------------------------------------------------------------------------------

def _product_tie_pairs(fmt: FloatFormat, rng: np.random.Generator, count: int = 400) -> list[tuple]:
    """Normal products exactly halfway between two neighbours (kept bit even or odd), and one
    step beside: significands ``u·2^(M−t)`` and ``w·2^t`` with u, w odd, ``u·w ≥ 2^(M+1)``, so
    the product is ``u·w·2^M`` — its guard bit 1 and nothing below."""
    m = fmt.man_bits
    t = rng.integers(0, m + 1, 4 * count)
    u = rng.integers(1 << t, 2 << t) | 1
    w = rng.integers(1 << (m - t), 2 << (m - t)) | 1
    keep = (u < (2 << t)) & (w < (2 << (m - t))) & (u * w >= 2 << m)
    sa, sb = (u << (m - t))[keep][:count], (w << t)[keep][:count]
    k = len(sa)
    # exponent fields with a normal result: ea + eb − bias in [1, all_ones − 2]
    ea = rng.integers(1, fmt.exp_all_ones - 1, k)
    lo, hi = np.maximum(1, fmt.bias + 1 - ea), np.minimum(fmt.exp_all_ones - 2, fmt.exp_all_ones - 3 + fmt.bias - ea)
    eb = lo + (rng.random(k) * (hi - lo + 1)).astype(np.int64)
    a = pattern(fmt, rng.integers(0, 2, k), ea, sa - (1 << m))
    b = pattern(fmt, rng.integers(0, 2, k), eb, sb - (1 << m))
    beside = np.where(sa - (1 << m) < (1 << m) - 1, a + 1, a - 1)
    return [(a, b), (beside, b)]


def _scaled_pairs(fmt: FloatFormat, rng: np.random.Generator, count: int = 600) -> list[tuple]:
    """``x · 2^k`` for results from below half the smallest subnormal to past the overflow
    edge: subnormal results that round (ties included: 2^k shifts x's low bits exactly onto
    the rounding position), underflow to zero or to the smallest subnormal, overflow."""
    m = fmt.man_bits
    emin, emax = 1 - fmt.bias, fmt.exp_all_ones - 1 - fmt.bias
    powers = {k: p for k in range(emin - m, emax + 1) if (p := power_of_two(fmt, k)) is not None}
    ks = np.array(sorted(powers))
    low_bits = np.array([0, 1, (1 << m) - 1, 1 << (m - 1), 3 << (m - 2), 1 << (m // 2), 5])
    result = rng.integers(emin - m - 3, emax + 2, count)  # target unbiased result exponent
    frac = np.where(rng.random(count) < 0.5, rng.choice(low_bits, count), rng.integers(0, 1 << m, count))
    out_a, out_b = [], []
    for r, f in zip(result, frac, strict=True):
        ex = rng.integers(max(emin, r - ks.max()), min(emax, r - ks.min()) + 1)
        k = int(r - ex)
        if k not in powers:
            continue
        out_a.append(int(pattern(fmt, rng.integers(0, 2), ex + fmt.bias, f)))
        out_b.append(powers[k] | (int(rng.integers(0, 2)) << (fmt.width - 1)))
    return [_both_orders(np.array(out_a), np.array(out_b))]


def _subnormal_rounding_pairs(fmt: FloatFormat, rng: np.random.Generator) -> list[tuple]:
    """``x · 2^k`` with a subnormal (or vanishing) result where the ``q`` lowest significand bits
    fall below the smallest subnormal, for every ``q`` from 1 to M + 2: exactly halfway (even
    and odd kept bits), halfway plus the lowest bit, just below halfway."""
    m, emin, emax = fmt.man_bits, 1 - fmt.bias, fmt.exp_all_ones - 1 - fmt.bias
    out_a, out_b = [], []
    for q in range(1, m + 3):
        guard = 1 << (q - 1)
        for _ in range(4):
            upper = (int(rng.integers(0, 1 << (m - q))) << q) if q < m else 0
            for low in (guard, guard | 1, guard - 1):  # halfway, above, below (q − 1 bits)
                sig = (1 << m) | upper | (low & ((1 << m) - 1))
                ea = int(rng.integers(emin, min(emax, m - q) + 1))  # x = sig · 2^(ea − M)
                b = power_of_two(fmt, emin - q - ea)  # the result's top bit at 2^(emin − q)
                if b is None:
                    continue
                out_a.append(int(pattern(fmt, rng.integers(0, 2), ea + fmt.bias, sig & ((1 << m) - 1))))
                out_b.append(b | (int(rng.integers(0, 2)) << (fmt.width - 1)))
    return [_both_orders(np.array(out_a), np.array(out_b))]


def _near_power_pairs(fmt: FloatFormat, rng: np.random.Generator, count: int = 64) -> list[tuple]:
    """Significand products just above and just below 2^(2M+1) (``sb = ⌊2^(2M+1) / sa⌋ + 0 | 1``):
    only the lowest bits are set, or every bit up to the top (rounding carries into the next
    binade). Placed in the normal range, at the overflow edge, across the subnormal boundary,
    and where the result is about half the smallest subnormal — there only the bits shifted
    out on the right decide between 0 and the smallest subnormal."""
    m = fmt.man_bits
    sa = rng.integers((1 << m) + 1, 2 << m, count)
    out_a, out_b = [], []
    for step in (0, 1):
        sb = (1 << (2 * m + 1)) // sa + step
        ok = sb < (2 << m)
        for t in (int(rng.integers(2, fmt.exp_all_ones - 2)), fmt.exp_all_ones - 1,
                  fmt.exp_all_ones - 2, 1, 0, -1, -m + 1, -m, -m - 1):
            total = t + fmt.bias - 1  # ea + eb (fields) putting P's top bit at field t
            ea = rng.integers(max(1, total - fmt.exp_all_ones + 2), min(fmt.exp_all_ones - 2, total - 1) + 1,
                              count)
            eb = total - ea
            k = int(ok.sum())
            out_a.append(pattern(fmt, rng.integers(0, 2, k), ea[ok], sa[ok] - (1 << m)))
            out_b.append(pattern(fmt, rng.integers(0, 2, k), eb[ok], sb[ok] - (1 << m)))
    return [_both_orders(np.concatenate(out_a), np.concatenate(out_b))]


def _exponent_sum_pairs(fmt: FloatFormat, rng: np.random.Generator, count: int = 400) -> list[tuple]:
    """Random significands whose exponents put the product at the overflow edge (fields
    all_ones − 2 … all_ones) and through the subnormal range, and subnormal × normal."""
    out = []
    for target in (fmt.exp_all_ones - 2, fmt.exp_all_ones - 1, fmt.exp_all_ones, 1, 0, -1,
                   -fmt.man_bits // 2, -fmt.man_bits, -fmt.man_bits - 1):
        ea = rng.integers(1, fmt.exp_all_ones - 1, count // 8)
        eb = target + fmt.bias - ea
        ok = (eb >= 1) & (eb <= fmt.exp_all_ones - 2)
        k = int(ok.sum())
        out.append((pattern(fmt, rng.integers(0, 2, k), ea[ok], rng.integers(0, 1 << fmt.man_bits, k)),
                    pattern(fmt, rng.integers(0, 2, k), eb[ok], rng.integers(0, 1 << fmt.man_bits, k))))
    sub = random_finite(fmt, count, rng, 0, 0)
    out.append(_both_orders(sub, random_finite(fmt, count, rng, fmt.bias, fmt.exp_all_ones - 1)))
    return out


def mul_vectors(fmt: FloatFormat, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``a``, ``b``: every pair of :func:`specials`, ties, scalings by powers of two, overflow
    and underflow edges, then random pairs: half uniform patterns, half finite values whose
    exponents sum near the bias (normal products)."""
    rng = np.random.default_rng(seed)
    pairs = [_cross(specials(fmt)), *_product_tie_pairs(fmt, rng), *_scaled_pairs(fmt, rng),
             *_subnormal_rounding_pairs(fmt, rng), *_near_power_pairs(fmt, rng),
             *_exponent_sum_pairs(fmt, rng)]

    def random_pairs(count):
        half = count // 2
        a = random_finite(fmt, count - half, rng)
        eb = np.clip(2 * fmt.bias - ((a >> fmt.man_bits) & fmt.exp_all_ones)
                     + rng.integers(-fmt.man_bits, fmt.man_bits + 1, len(a)), 0, fmt.exp_all_ones - 1)
        b = pattern(fmt, rng.integers(0, 2, len(a)), eb, rng.integers(0, 1 << fmt.man_bits, len(a)))
        return (np.concatenate([random_bits(fmt, half, rng), a]),
                np.concatenate([random_bits(fmt, half, rng), b]))

    return _fill(pairs, n, random_pairs)


# --- conversions ---------------------------------------------------------------------------------

def from_int_vectors(fmt: FloatFormat, int_bits: int, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``value`` (signed integers): 0, ±1, the range's extremes, every power of two and its
    neighbours, values that must round (ties with even and odd kept bits, one beside each,
    ``2^k − 1`` rounding into the next binade) and the format's overflow edge; then every
    integer of the range if ``n`` reaches their number; then uniform integers and integers
    with log-uniform magnitudes, half each, both signs."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (int_bits - 1)), (1 << (int_bits - 1)) - 1
    values = [0, 1, -1, lo, lo + 1, hi, hi - 1]
    for k in range(1, int_bits - 1):
        values += [(1 << k) + d for d in (-1, 0, 1)]
    p = fmt.precision
    for k in range(p, int_bits - 1):  # 2^k … 2^(k+1): the ulp is 2^(k − M), half of it rounds
        ulp = 1 << (k - fmt.man_bits)
        for base in ((1 << k), (1 << k) + ulp, (2 << k) - 2 * ulp):
            values += [base + ulp // 2 + d for d in (-1, 0, 1)]
    top = (fmt.exp_all_ones - 1 - fmt.bias)  # the largest finite value's exponent
    biggest = ((2 << fmt.man_bits) - 1) << (top - fmt.man_bits)
    half_ulp = 1 << (top - fmt.man_bits - 1)
    values += [biggest + d for d in (0, 1, half_ulp - 1, half_ulp, half_ulp + 1)]
    v = np.array([x for x in values if lo <= x <= hi] + [-x for x in values if lo <= -x <= hi],
                 dtype=np.int64)
    if n >= 1 << int_bits:  # every integer of the range
        v = np.concatenate([v, np.arange(lo, hi + 1, dtype=np.int64)])
    left = max(0, n - len(v))
    if left:
        half = left // 2
        uniform = rng.integers(lo, hi, half, endpoint=True)
        mags = np.floor(np.exp2(rng.uniform(0, int_bits - 1, left - half))).astype(np.int64)
        mags = np.minimum(mags + rng.integers(0, np.maximum(mags, 1)), hi)
        v = np.concatenate([v, uniform, np.where(rng.random(len(mags)) < 0.5, -mags, mags)])
    return {"value": v.astype(np.int64)}


def widen_vectors(src: FloatFormat, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``a``: :func:`specials`, then every ``src`` pattern if ``n`` reaches their number, else
    random patterns; random patterns beyond that."""
    rng = np.random.default_rng(seed)
    every = 1 << src.width
    a = [specials(src)]
    if n >= every:
        a.append(np.arange(every, dtype=np.int64))
    left = max(0, n - sum(map(len, a)))
    a.append(random_bits(src, left, rng))
    return {"a": np.concatenate(a).astype(np.int64)}
