"""Runs for the CSD chain bench: real, random and adversarial; deterministic per seed.

A run is a token pair × ``rows = L / N`` output rows × ``k`` input channels, laid out as the
chain takes it (:class:`hw.flightllm.chain.CsdChain`): ``x [runs, 2, k]`` INT8 codes with the
tokens' FP32 scales ``a [runs, 2]``; per slice i (row ``i // N``, kept weight ``i mod N`` of each
block) ``w [runs, L, k/16]`` codes and ``index`` positions; ``scale [runs, L/2, k/128]`` the rows'
group scales (rows ≥ L/N zero); ``keep`` (N) and ``bits`` (4 or 8) per run; ``w_port`` the
weight port's bytes — for INT4 the code in the low nibble and random bits above it, which the
chain must ignore.

Real runs come from SmolLM2-135M layer 0's ``q_proj``, ``k_proj`` and ``down_proj``
(:func:`models.samples.linear_samples`), pruned and quantized by the golden format
(:mod:`sim.formats.flightllm`) for each (N, width), with their captured inputs as per-token INT8.
Adversarial runs push every lane to its limit — all codes ±qmax against activations ±127, the
two tokens of opposite signs (a negative low lane borrows from the high lane), every index
equal, alternating signs, all-zero blocks — with extreme scales.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from models.samples import linear_samples
from sim.flightllm.design import TOKENS, keep_choices
from sim.formats import pertoken
from sim.formats.flightllm import BIT_CHOICES, BLOCK, GROUP, FlightLlmFormat, LayerRule

REAL_LAYERS = ("q_proj", "k_proj", "down_proj")
X_MAX = pertoken.qmax(8)
SCALE_EXTREMES = np.array([65504.0, 1.0, 2.0 ** -24, 2.0 ** -14], np.float32)
"""FP16-valued group scales: the largest, 1, the smallest subnormal and smallest normal."""
TOKEN_SCALE_EXTREMES = np.array([1.0, 2.0 ** -20, 1000.0, 2.0 ** -126, 2.0 ** 100], np.float32)
"""Token scales of adversarial runs: with the extreme group scales some outputs are FP32
subnormals (2^-126 · 2^-24 · P) and some overflow to ±inf (2^100 · 65504 · P)."""


@cache
def _real_activations() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per real layer: the captured inputs as INT8 codes ``[T, K]`` and their scales ``[T]``."""
    out = {}
    for sample in linear_samples():
        if sample.name.rsplit(".", 1)[-1] in REAL_LAYERS:
            enc = pertoken.encode(sample.input, bits=8, multiple=GROUP, name=sample.name,
                                  scale=None, fmt="flightllm-w4s")
            out[sample.name] = (enc.codes.astype(np.int64), enc.scales.astype(np.float32))
    return out


@cache
def real_weights(keep: int, bits: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per real layer, encoded at ``keep``:16 INT``bits``: codes and indices
    ``[N, K/16, keep]``, scales ``[N, K/128]``."""
    fmt = FlightLlmFormat([LayerRule("*", keep, bits)], name=f"bench-{keep}-{bits}")
    out = {}
    for sample in linear_samples():
        if sample.name in _real_activations():
            enc = fmt.encode(sample.weight, "weight", name=sample.name)
            out[sample.name] = (enc.codes.astype(np.int64), enc.meta["index"].astype(np.int64),
                                enc.scales.astype(np.float32))
    return out


def _random_index(rng, rows: int, blocks: int, keep: int) -> np.ndarray:
    """Ascending distinct positions per block, as the format stores them."""
    order = np.argsort(rng.random((rows, blocks, BLOCK)), axis=2)[:, :, :keep]
    return np.sort(order, axis=2)


def _adversarial(rng, variant: int, rows: int, blocks: int, keep: int, qmax: int, k: int):
    """(codes, index ``[rows, blocks, keep]``, x ``[2, k]``) of one adversarial variant."""
    codes = np.full((rows, blocks, keep), qmax)
    index = _random_index(rng, rows, blocks, keep)
    x = np.full((TOKENS, k), X_MAX)
    if variant == 0:      # every lane at +max
        pass
    elif variant == 1:    # low lane at +max, high lane at −max, and the reverse on half the rows
        x[1] = -X_MAX
        codes[rows // 2:] = -qmax
    elif variant == 2:    # low lane at −max (borrows from the high lane), high at +max
        x[0] = -X_MAX
    elif variant == 3:    # every index equal: one input channel per block feeds every slice
        index[:] = rng.integers(0, BLOCK)
        x = rng.choice([X_MAX, -X_MAX], (TOKENS, k))
        codes = rng.choice([qmax, -qmax], (rows, blocks, keep))
    elif variant == 4:    # alternating signs along the cascade and across channels
        codes = np.where(np.arange(keep) % 2, -qmax, qmax) * np.ones((rows, blocks, 1), int)
        x = np.where(np.arange(k) % 2, -X_MAX, X_MAX) * np.array([[1], [-1]])
    else:                 # zero blocks among full-scale ones
        zero = rng.random((rows, blocks)) < 0.5
        codes = np.where(zero[..., None], 0, rng.choice([qmax, -qmax], (rows, blocks, keep)))
        x = rng.choice([X_MAX, -X_MAX, 0], (TOKENS, k))
    return codes, index, x


def configs(length: int, keep: int, bits: int) -> list[tuple[int, int]]:
    """The (N, width) pairs a bench runs: ``keep`` / ``bits`` 0 mean every choice."""
    keeps = keep_choices(length) if keep == 0 else (keep,)
    widths = BIT_CHOICES if bits == 0 else (bits,)
    return [(n, b) for n in keeps for b in widths]


def chain_runs(length: int, k: int, keep: int, bits: int, count: int, seed: int = 0
               ) -> dict[str, np.ndarray]:
    """At least ``count`` runs spread evenly over :func:`configs`, interleaved (run r has
    configuration r mod their count); for each configuration half real, a quarter random, a
    quarter adversarial (see the module docstring)."""
    rng = np.random.default_rng(seed)
    pairs = configs(length, keep, bits)
    per = -(-count // len(pairs))
    n, blocks, groups, rows_max = per * len(pairs), k // BLOCK, k // GROUP, length // 2
    v = {"x": np.zeros((n, TOKENS, k), np.int64), "a": np.ones((n, TOKENS), np.float32),
         "w": np.zeros((n, length, blocks), np.int64),
         "index": np.zeros((n, length, blocks), np.int64),
         "scale": np.zeros((n, rows_max, groups), np.float32),
         "keep": np.zeros(n, np.int64), "bits": np.zeros(n, np.int64)}
    real = _real_activations()
    for run in range(n):  # the configurations interleaved: N and the width change every run
        keep_n, width = pairs[run % len(pairs)]
        nth = run // len(pairs)
        rows, qmax, kind = length // keep_n, pertoken.qmax(width), nth % 4
        layers = [name for name, (codes, _) in real.items() if codes.shape[1] >= k]
        if kind in (0, 1) and layers:
            name = layers[rng.integers(len(layers))]
            xq, xa = real[name]
            wq, wi, ws = real_weights(keep_n, width)[name]
            g0 = int(rng.integers(0, xq.shape[1] // GROUP - groups + 1))
            tok = rng.choice(len(xq), TOKENS, replace=False)
            out = int(rng.integers(0, wq.shape[0] - rows + 1))
            b0 = g0 * GROUP // BLOCK
            x, a = xq[tok, g0 * GROUP:g0 * GROUP + k], xa[tok]
            codes, index = wq[out:out + rows, b0:b0 + blocks], wi[out:out + rows, b0:b0 + blocks]
            scale = ws[out:out + rows, g0:g0 + groups]
        elif kind in (0, 1, 2):
            x = rng.integers(-X_MAX, X_MAX + 1, (TOKENS, k))
            a = np.exp2(rng.uniform(-20, 4, TOKENS)).astype(np.float32)
            codes = rng.integers(-qmax, qmax + 1, (rows, blocks, keep_n))
            index = _random_index(rng, rows, blocks, keep_n)
            scale = np.exp2(rng.uniform(-24, 15, (rows, groups))).astype(np.float16)
        else:
            codes, index, x = _adversarial(rng, (nth // 4) % 6, rows, blocks, keep_n, qmax, k)
            a = rng.choice(TOKEN_SCALE_EXTREMES, TOKENS)
            scale = rng.choice(SCALE_EXTREMES, (rows, groups))
        v["x"][run], v["a"][run], v["scale"][run, :rows] = x, a, scale
        v["w"][run] = codes.transpose(0, 2, 1).reshape(rows * keep_n, blocks)  # slice r·N + s
        v["index"][run] = index.transpose(0, 2, 1).reshape(rows * keep_n, blocks)
        v["keep"][run], v["bits"][run] = keep_n, width
    int4 = (v["bits"] == 4)[:, None, None]
    noise = rng.integers(0, 16, v["w"].shape) << 4
    v["w_port"] = np.where(int4, (v["w"] & 0xF) | noise, v["w"] & 0xFF)
    return v
