"""Test vectors for the MixPE benches: real tensors, random, adversarial; deterministic per seed.

Real vectors come from SmolLM2-135M layer 0 (the seven linears' weights and their captured
inputs of an 8-token prefill, :func:`models.samples.linear_samples`), encoded by the golden
model (:mod:`sim.formats.mixpe`): INT4 codes with per-group zero points and FP16 scales, INT8
per-token activations with their FP32 scales, and FP16 activations. The baseline PEs'
(:mod:`hw.mixpe.baselines`) weights are the same tensors as per-output-channel symmetric INT8
codes (:mod:`sim.formats.pertoken` over weight rows) and as FP16.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from models.samples import linear_samples
from sim.formats import half, pertoken
from sim.formats.mixpe import MIXPE_W4A8, MIXPE_W4A16, Q_MAX, MixPeFormat

X_MAX = 127
"""Largest |x| of the golden INT8 per-token encoder."""
W8_EXTREMES = np.array([-128, 127, -127, 0])
"""Adversarial INT8 weights: both ends of the range (products up to 2^14) and zero."""
FP16_EXTREMES = np.array([0x0000, 0x8000, 0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x03FF, 0x83FF,
                          0x0400, 0x8400, 0x3C00, 0xBC00, 0x3BFF, 0x7800], np.uint16)
"""±0, ±65504, ± the smallest subnormal, ± the largest subnormal, ± the smallest normal, ±1,
the largest value below 1, 2^15."""


@dataclass(frozen=True)
class RealLayer:
    """One layer-0 linear, encoded: weight codes ``q [N, K]``, zero points and FP16-valued
    scales ``[N, G]``; activation INT8 codes ``x8 [T, K]`` with per-token scales ``a [T]``;
    FP16 activation bits ``x16 [T, K]``; the weight as per-channel INT8 codes ``w8 [N, K]`` and
    FP16 bits ``w16 [N, K]`` (K padded to the group as the codes are)."""

    name: str
    q: np.ndarray
    zero: np.ndarray
    scale: np.ndarray
    x8: np.ndarray
    a: np.ndarray
    x16: np.ndarray
    w8: np.ndarray
    w16: np.ndarray


@cache
def real_layers(group: int = MIXPE_W4A8.group) -> tuple[RealLayer, ...]:
    """The layer-0 linears of SmolLM2-135M encoded by ``mixpe-w4a8`` / ``mixpe-w4a16`` (weights
    in groups of ``group``: the formats' 128, or another size for a smaller bench array)."""
    weights = MIXPE_W4A8 if group == MIXPE_W4A8.group else MixPeFormat("int8", group)
    out = []
    for sample in linear_samples():
        w = weights.encode(sample.weight, "weight", name=sample.name)
        x8 = MIXPE_W4A8.encode(sample.input, "activation", name=sample.name)
        x16 = MIXPE_W4A16.encode(sample.input, "activation", name=sample.name)
        w8 = pertoken.encode(sample.weight, bits=8, multiple=group, name=sample.name, scale=None,
                             fmt="int8")
        w16 = half.encode(sample.weight, name=sample.name, fmt="fp16", multiple=group)
        out.append(RealLayer(sample.name, w.codes, w.meta["zero"], w.scales, x8.codes, x8.scales,
                             x16.codes, w8.codes, w16.codes))
    return tuple(out)


def random_fp16(n: int, rng: np.random.Generator) -> np.ndarray:
    """Finite FP16 bit patterns over the whole range (subnormals and zeros included)."""
    bits = rng.integers(0, 1 << 16, n).astype(np.uint16)
    finite = (bits & 0x7C00) != 0x7C00
    return np.where(finite, bits, bits & 0x83FF)  # inf/NaN exponent → the subnormal range


WEIGHTS = {"int4": "q", "int8": "w8", "fp16": "w16"}
"""PE weight kinds → the :class:`RealLayer` field of their real values."""


def _real_pe_stream(n: int, fp16: bool, weight: str, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    layers = real_layers()
    xs, ws = [], []
    for layer in layers:
        x, w = layer.x16 if fp16 else layer.x8, getattr(layer, WEIGHTS[weight])
        rows = rng.integers(0, len(x), w.shape[0])
        xs.append(x[rows].reshape(-1)[: w.size])
        ws.append(w.reshape(-1)[: len(xs[-1])])
    x, w = np.concatenate(xs), np.concatenate(ws)
    pick = rng.choice(len(x), n, replace=False)
    return x[pick].astype(np.int64), w[pick].astype(np.int64)


def _held_zero_points(first: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A zero point per cycle, held from each group's first element on: a third drawn from the
    real layers' zero points, a third uniform 0..15, a third ∈ {0, 15}."""
    n, third = len(first), len(first) // 3
    real = np.concatenate([layer.zero.reshape(-1) for layer in real_layers()])
    draw = np.concatenate([rng.choice(real, third), rng.integers(0, Q_MAX + 1, third),
                           rng.choice([0, Q_MAX], n - 2 * third)]).astype(np.int64)
    start = np.maximum.accumulate(np.where(first.astype(bool), np.arange(n), 0))
    return draw[start]


def pe_vectors(fp16: bool, group: int, n: int, seed: int = 0, weight: str = "int4"
               ) -> dict[str, np.ndarray]:
    """``n`` cycles of PE operands: activation ``x`` (INT8, or FP16 bits when ``fp16``), the
    weight — ``int4``: code ``q`` 0..15 and the group's zero point ``zero``; ``int8``: ``w``
    −128..127; ``fp16``: ``w`` FP16 bits — and ``valid``, ``first``, ``last``.

    A third real (activation, weight) products, a third random over the full ranges, a third
    adversarial (x = ±127, 0 or the FP16 extremes; q ∈ {0, 15}, INT8 w ∈ {−128, 127, −127, 0},
    FP16 w the extremes); ``valid`` 90 % of cycles; groups of ``group`` valid elements, a
    quarter of them cut short at random, so the sum restarts often."""
    rng = np.random.default_rng(seed)
    third, rest = n // 3, n - 2 * (n // 3)
    real_x, real_w = _real_pe_stream(third, fp16, weight, rng)
    if fp16:
        rand_x = random_fp16(third, rng).astype(np.int64)
        adv_x = rng.choice(FP16_EXTREMES, rest).astype(np.int64)
    else:
        rand_x = rng.integers(-128, 128, third)
        adv_x = rng.choice([X_MAX, -X_MAX, 0, X_MAX, -X_MAX], rest)
    x = np.concatenate([real_x, rand_x, adv_x])
    if weight == "int4":
        w = [rng.integers(0, Q_MAX + 1, third), rng.choice([0, Q_MAX, Q_MAX], rest)]
    elif weight == "int8":
        w = [rng.integers(-128, 128, third), rng.choice(W8_EXTREMES, rest)]
    else:
        w = [random_fp16(third, rng), rng.choice(FP16_EXTREMES, rest)]
    valid = rng.random(n) < 0.9
    first, last = np.zeros(n, bool), np.zeros(n, bool)
    left = 0
    for t in np.flatnonzero(valid):
        if left == 0:
            first[t] = True
            left = group if rng.random() < 0.75 else int(rng.integers(1, group + 1))
        left -= 1
        last[t] = left == 0
    weights = np.concatenate([real_w, *w]).astype(np.int64)
    out = {"x": x} | ({"q": weights, "zero": _held_zero_points(first, rng)} if weight == "int4"
                      else {"w": weights})
    return out | {"valid": valid.astype(np.int64), "first": first.astype(np.int64),
                  "last": last.astype(np.int64)}


def array_tiles(rows: int, cols: int, k: int, group: int, fp16: bool, tiles: int, seed: int = 0
                ) -> dict[str, np.ndarray]:
    """``tiles`` tiles: activations ``x [tiles, rows, k]`` (INT8 codes or FP16 bits) with
    per-token scales ``a [tiles, rows]`` (W4A8), weight codes ``q [tiles, cols, k]``, zero points
    and scales ``[tiles, cols, k / group]``.

    Half the tiles are real (tokens × output channels of one layer-0 linear, a group-aligned K
    window; random instead when ``k`` is wider than every layer-0 input, 1536), a quarter random (codes, zero points, x over their full ranges, FP16 scales
    log-uniform over the normal range), a quarter adversarial: q and z ∈ {0, 15}, x ∈ {±127,
    0} or the FP16 extremes, scales at 65504, 1 and the smallest subnormal.
    """
    rng = np.random.default_rng(seed)
    groups = k // group
    x = np.zeros((tiles, rows, k), np.int64)
    a = np.ones((tiles, rows), np.float32)
    q = np.zeros((tiles, cols, k), np.int64)
    zero = np.zeros((tiles, cols, groups), np.int64)
    scale = np.zeros((tiles, cols, groups), np.float32)
    layers = [layer for layer in real_layers(group) if layer.q.shape[1] >= k]
    for t in range(tiles):
        kind = t % 4
        if kind in (0, 1) and not layers:
            kind = 2
        if kind in (0, 1):
            layer = layers[rng.integers(len(layers))]
            g0 = int(rng.integers(0, layer.q.shape[1] // group - groups + 1))
            window = slice(g0 * group, g0 * group + k)
            tok = rng.integers(0, len(layer.x8), rows)
            out = rng.choice(layer.q.shape[0], cols, replace=False)
            x[t] = (layer.x16 if fp16 else layer.x8)[tok][:, window]
            a[t] = layer.a[tok]
            q[t] = layer.q[out][:, window]
            zero[t] = layer.zero[out][:, g0:g0 + groups]
            scale[t] = layer.scale[out][:, g0:g0 + groups]
        elif kind == 2:
            x[t] = (random_fp16(rows * k, rng).reshape(rows, k) if fp16
                    else rng.integers(-X_MAX, X_MAX + 1, (rows, k)))
            a[t] = np.exp2(rng.uniform(-20, 4, rows))
            q[t] = rng.integers(0, Q_MAX + 1, (cols, k))
            zero[t] = rng.integers(0, Q_MAX + 1, (cols, groups))
            scale[t] = np.exp2(rng.uniform(-14, 15, (cols, groups))).astype(np.float16)
        else:
            x[t] = (rng.choice(FP16_EXTREMES, (rows, k)) if fp16
                    else rng.choice([X_MAX, -X_MAX, 0], (rows, k)))
            a[t] = rng.choice([1.0, 2.0 ** -20, 1000.0], rows)
            q[t] = rng.choice([0, Q_MAX], (cols, k))
            zero[t] = rng.choice([0, Q_MAX], (cols, groups))
            scale[t] = rng.choice(np.array([65504.0, 1.0, 2.0 ** -24], np.float32), (cols, groups))
    return {"x": x, "a": a, "q": q, "zero": zero, "scale": scale}
