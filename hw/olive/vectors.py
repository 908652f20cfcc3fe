"""Test vectors for the OliVe benches: real tensors, random, adversarial.

Real vectors come from SmolLM2-135M layer 0 (the seven linears' inputs and weights of an
8-token prefill, :func:`models.samples.linear_samples`), quantized with the golden model's own
calibration (:class:`sim.formats.ovp.OliveFormat`: per-row α for weights, per-tensor α for
activations). Every generator is deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from hw.olive.decoder import NORMAL_TYPES
from models.samples import linear_samples
from sim.formats.ovp import FRAC_BITS, OLIVE_W4A4, OLIVE_W8A8, OvpType, to_fixed

FORMATS = {4: OLIVE_W4A4, 8: OLIVE_W8A8}
PE_SPAN = 32
"""The PE vectors restart the sum at least every PE_SPAN cycles, so sums stay exact."""


@dataclass(frozen=True)
class RealTensor:
    """One encoded real tensor: fixed-point input ``q`` and its codes (``[rows, K]``, K even),
    with the index of its normal type in ``NORMAL_TYPES[bits]``."""

    name: str
    q: np.ndarray
    codes: np.ndarray
    normal: int


@cache
def real_tensors(bits: int) -> tuple[RealTensor, ...]:
    """Layer-0 inputs and weights encoded by the golden model (``bits`` = 4 or 8), by name."""
    fmt = FORMATS[bits]
    names = [t.name for t in NORMAL_TYPES[bits]]
    found = {}
    for sample in linear_samples():
        found[f"{sample.name}.weight"], found[f"{sample.name}.input"] = sample.weight, sample.input
    out = []
    for name, x in sorted(found.items()):
        role = "weight" if name.endswith(".weight") else "activation"
        enc = fmt.encode(x, role, name=name)
        padded = np.pad(x, ((0, 0), (0, enc.padded)))
        q = to_fixed(padded, enc.scales)
        out.append(RealTensor(name, q, enc.codes, names.index(enc.meta["normal"])))
    return tuple(out)


def real_pairs(bits: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` fixed-point pairs ``[n, 2]`` drawn from the real tensors, with their normal index;
    half of them from pairs that hold an outlier, so both paths are exercised."""
    pools, normals = [], []
    for t in real_tensors(bits):
        pairs = t.q.reshape(-1, 2)
        pools.append(pairs)
        normals.append(np.full(len(pairs), t.normal))
    q, normal = np.concatenate(pools), np.concatenate(normals)
    outlier = _has_outlier(q, normal, bits)
    pick = np.concatenate([
        rng.choice(np.flatnonzero(outlier), n // 2, replace=outlier.sum() < n // 2),
        rng.choice(len(q), n - n // 2, replace=False),
    ])
    return q[pick], normal[pick]


def _has_outlier(q: np.ndarray, normal: np.ndarray, bits: int) -> np.ndarray:
    limit = np.array([(t.thresholds[t.n_normal - 1]) for t in NORMAL_TYPES[bits]])
    return (np.abs(q) >= limit[normal][:, None]).any(1)


def random_pairs(t: OvpType, n: int, rng: np.random.Generator) -> np.ndarray:
    """Pairs with log-uniform magnitudes from 0 to 4× the largest outlier, random signs."""
    top = np.log2(4.0 * (int(t.grid[-1]) << FRAC_BITS))
    mag = np.floor(np.exp2(rng.uniform(0, top, (n, 2)))) - 1
    return (mag * rng.choice([-1, 1], (n, 2))).astype(np.int64)


def adversarial_pairs(t: OvpType, rng: np.random.Generator) -> np.ndarray:
    """Corner cases: every grid midpoint and its neighbours in both slots and signs, both values
    outliers (equal magnitudes — the tie goes to the even element — and either larger),
    maximum magnitudes (±2^30 the golden clamp, and the int32 extremes), zeros, alternating
    signs."""
    thr = t.thresholds.astype(np.int64)
    edges = np.concatenate([thr - 1, thr, thr + 1])
    out_lo = int(t.thresholds[t.n_normal - 1])
    outliers = np.concatenate([edges[edges >= out_lo], (t.grid[t.n_normal:] << FRAC_BITS)])
    big = np.array([1 << 30, (1 << 31) - 1, 1 << 31], dtype=np.int64)
    cases = [
        np.stack([edges, np.zeros_like(edges)], 1), np.stack([np.zeros_like(edges), -edges], 1),
        np.stack([edges, edges[::-1]], 1), np.stack([-edges, edges], 1),
        np.stack([outliers, outliers], 1), np.stack([outliers, -outliers], 1),
        np.stack([outliers, rng.permutation(outliers)], 1),
        np.stack([-outliers, outliers + 1], 1), np.stack([outliers + 1, -outliers], 1),
        np.array([[big[0], big[0]], [-big[0], big[0]], [big[1], -big[2]], [-big[2], big[1]],
                  [-big[2], -big[2]], [0, 0], [0, -big[2]], [big[1], 0]]),
    ]
    alternating = np.arange(1, 2 * len(thr) + 1) * (t.grid[-1] << FRAC_BITS) // (2 * len(thr))
    cases.append(np.stack([alternating, -alternating], 1))
    cases.append(np.stack([-alternating, alternating[::-1]], 1))
    return np.concatenate(cases).astype(np.int64)


def encoder_vectors(bits: int, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``q`` ``[≥n, 2]`` and ``normal`` ``[≥n]``: adversarial (every type), then half real and
    the rest random, ``n`` in all (at least the adversarial set)."""
    rng = np.random.default_rng(seed)
    qs, normals = [], []
    for index, t in enumerate(NORMAL_TYPES[bits]):
        adv = adversarial_pairs(t, rng)
        qs.append(adv)
        normals.append(np.full(len(adv), index))
    left = max(0, n - sum(map(len, qs)))
    if left:
        q, normal = real_pairs(bits, left // 2, rng)
        qs.append(q)
        normals.append(normal)
        types = NORMAL_TYPES[bits]
        rest = left - left // 2
        for index, t in enumerate(types):
            count = rest // len(types) + (index < rest % len(types))
            qs.append(random_pairs(t, count, rng))
            normals.append(np.full(count, index))
    return {"q": np.concatenate(qs), "normal": np.concatenate(normals)}


def decoder_vectors(bits: int, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``code`` (pair words, even code low) and ``normal``: every pair word for OVP-4, and for
    OVP-8 every word with the identifier in either half; then real codes and random words."""
    rng = np.random.default_rng(seed)
    ident, size = 1 << (bits - 1), 1 << bits
    if bits == 4:
        special = np.arange(size * size)
    else:
        other = np.arange(size)
        special = np.concatenate([other << bits | ident, ident << bits | other])
    codes, normals = [], []
    for index in range(len(NORMAL_TYPES[bits])):
        codes.append(special)
        normals.append(np.full(len(special), index))
    left = max(0, n - sum(map(len, codes)))
    pool = [(t.codes.reshape(-1, 2), t.normal) for t in real_tensors(bits)]
    words = np.concatenate([c[:, 0].astype(np.int64) | c[:, 1].astype(np.int64) << bits for c, _ in pool])
    kinds = np.concatenate([np.full(len(c), normal) for c, normal in pool])
    pick = rng.choice(len(words), left // 2, replace=False)
    codes += [words[pick], rng.integers(0, size * size, left - left // 2)]
    normals += [kinds[pick], rng.integers(0, len(NORMAL_TYPES[bits]), left - left // 2)]
    return {"code": np.concatenate(codes).astype(np.int64),
            "normal": np.concatenate(normals).astype(np.int64)}


def pe_vectors(bits: int, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` cycles of PE operands: ``a_code``/``b_code`` pair words with their ``a_normal`` /
    ``b_normal`` types, drawn from :func:`decoder_vectors` (real, random, identifier patterns);
    ``valid`` 90 % of cycles, ``clear`` about every 16th and at least every ``span`` cycles
    (``span``: :data:`PE_SPAN`), so sums stay exact."""
    rng = np.random.default_rng(seed)
    codes = decoder_vectors(bits, 2 * n, seed)
    pick = rng.permutation(len(codes["code"]))[:2 * n]
    code, normal = codes["code"][pick], codes["normal"][pick]
    valid = rng.random(n) < 0.9
    clear = (rng.random(n) < 1 / 16) | (np.arange(n) % PE_SPAN == 0)
    return {"a_code": code[:n], "b_code": code[n:], "a_normal": normal[:n], "b_normal": normal[n:],
            "valid": valid.astype(np.int64), "clear": clear.astype(np.int64)}


def array_tiles(bits: int, rows: int, cols: int, k: int, tiles: int, seed: int = 0
                ) -> dict[str, np.ndarray]:
    """``a`` codes ``[tiles, rows, k]``, ``w`` codes ``[tiles, cols, k]`` and normal indices.

    Half the tiles are slices of the real encoded activations × weights, a quarter random code
    words (including patterns the encoder never emits), a quarter adversarial: every pair an
    outlier of the largest magnitude, identifiers in alternating slots and signs, zeros.
    """
    rng = np.random.default_rng(seed)
    real = real_tensors(bits)
    acts = [t for t in real if t.name.endswith(".input")]
    weights = [t for t in real if t.name.endswith(".weight")]
    n_types = len(NORMAL_TYPES[bits])
    a = np.zeros((tiles, rows, k), np.int64)
    w = np.zeros((tiles, cols, k), np.int64)
    an = np.zeros(tiles, np.int64)
    wn = np.zeros(tiles, np.int64)
    for tile in range(tiles):
        kind = tile % 4
        if kind in (0, 1):
            x, wt = acts[rng.integers(len(acts))], weights[rng.integers(len(weights))]
            kk = min(x.codes.shape[1], wt.codes.shape[1])
            start = 2 * rng.integers(0, (kk - k) // 2 + 1)
            a[tile] = _rows(x.codes, rows, rng)[:, start:start + k]
            w[tile] = _rows(wt.codes, cols, rng)[:, start:start + k]
            an[tile], wn[tile] = x.normal, wt.normal
        elif kind == 2:
            a[tile] = rng.integers(0, 1 << bits, (rows, k))
            w[tile] = rng.integers(0, 1 << bits, (cols, k))
            an[tile], wn[tile] = rng.integers(0, n_types, 2)
        else:
            an[tile], wn[tile] = rng.integers(0, n_types, 2)
            a[tile] = _adversarial_codes(NORMAL_TYPES[bits][an[tile]], rows, k, rng)
            w[tile] = _adversarial_codes(NORMAL_TYPES[bits][wn[tile]], cols, k, rng)
    return {"a": a, "w": w, "a_normal": an, "w_normal": wn}


def _rows(codes: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    pick = rng.choice(codes.shape[0], count, replace=codes.shape[0] < count)
    return codes[pick].astype(np.int64)


def _adversarial_codes(t: OvpType, rows: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Outlier/victim pairs with the largest outliers, identifier slot and sign alternating,
    mixed with zero pairs and the largest normal values."""
    top_pos, top_neg = int(t.pos_code[-1]), int(t.neg_code[-1])
    nmax_pos, nmax_neg = int(t.pos_code[t.n_normal - 1]), int(t.neg_code[t.n_normal - 1])
    pairs = [(top_pos, t.ident), (t.ident, top_neg), (t.ident, top_pos), (top_neg, t.ident),
             (0, 0), (nmax_pos, nmax_neg), (nmax_neg, nmax_neg), (t.ident, t.ident)]
    choice = rng.integers(0, len(pairs), (rows, k // 2))
    table = np.array(pairs, np.int64)
    return table[choice].reshape(rows, k)
