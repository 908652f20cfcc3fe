"""FlightLLM N:M sparse INT4/INT8 weights × INT8 activations: ``flightllm-w4s`` (papers/flightllm.md).

The one place for the format: pruning, encoder, decoder and the golden GEMM of the configurable
sparse DSP chain, imported by the fake-quant seam, the cycle models and the RTL benches.

Weights ``[N, K]``, K padded with zeros to a multiple of the scale group (128, itself a multiple
of the block M = 16; ``Encoded.padded``). Per layer a :class:`LayerRule` gives ``keep`` (the N of
N:16, one of 2, 4, 8, 16) and the weight width (4 or 8 bits).

* Pruning: in every block of 16 consecutive input channels of a row, keep the ``keep`` largest
  magnitudes (ties → lower index), store their positions ascending. Exactly ``keep`` values per
  block, whatever the data (zeros included).
* Quantization of the kept values: symmetric, codes ``−qmax..qmax`` (INT4: ±7, INT8: ±127), one
  scale per (row, group of 128 input channels) ``s = fp16(r·max|kept| / qmax)``, ``s = 1`` for
  an all-zero group; ``q = clip(rint(w / s), ±qmax)`` (float32, half to even); the clipping ratio
  r per group by least squared error (:mod:`sim.formats.clipsearch`). ``scale`` fixes s.
* Layout: ``codes [N, K/16, keep]`` int8 values; ``meta["index"]`` same shape, uint8 0..15.
* Storage: per kept value ``bits`` + a 4-bit index (the artifact's metadata: half the INT8 data
  size); dense layers (``keep == 16``) store no index. Plus 16 bits (FP16) per group scale.

Default per-layer configuration (:data:`DEFAULT_RULES`, our decision from papers/flightllm.md,
"Formats in the artifact"): only ``q_proj`` and ``k_proj`` are sparse, at 4:16 (75 % zeros, the
supported ratio nearest the artifact's 0.7); every weight is INT4 (the artifact models weights at
INT4 bandwidth). INT8 layers are a rule away (``LayerRule("*.down_proj", 16, 8)``). Rules match
the module name (``….q_proj``; a trailing ``.weight`` is ignored) with :mod:`fnmatch`, first
match wins.
Measured cost of that default (``tapeout accuracy smollm2-135m --tokens 512``, fp32 17.58, no
fine-tuning — the paper fine-tunes after sparsification): 319; q/k at 8:16 INT4 59.4; every layer
dense INT4 35.1; q/k 4:16 with INT8 everywhere 180. Pruning without fine-tuning dominates.

Activations: per-token symmetric INT8 (:mod:`sim.formats.pertoken`), as the artifact's INT8
activations.

GEMM (:func:`gemm`), per output ``y[m, n]``, mirroring the CSD chain: for each kept weight the
sparse MUX selects ``x[m, 16·b + index]`` and one INT8×INT8 product enters the chain (pruned
weights are never multiplied). Integer partial sum per group G: ``P = Σ v·x_sel`` over the kept
values of the group's 8 blocks. Widths: ``|v·x| ≤ 127·127 = 16 129`` (15 bits + sign), at most
128 products per group → ``|P| ≤ 2 064 512 < 2^21``: 22 bits signed; a DSP48E2 P register has 48,
and with two INT8 lanes packed per DSP (18 bits per lane) the Overflow Adjust Unit carries the
high part to the next reduction node, so the chain's result is still the exact sum. The numba
kernel evaluates P in float32 lanes — exact, every partial sum is an integer below 2^24.
Then float32, each operation rounded, no FMA: ``acc = 0``; for G ascending
``acc = acc + s_G · float32(P_G)``; ``y = acc · a_m`` (per-token activation scale).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from core.errors import UserError
from sim.formats import pertoken
from sim.formats.base import Encoded, NumberFormat, Role, check_finite, check_scale, pad_k
from sim.formats.clipsearch import clip_search

BLOCK = 16
"""M of N:M: input channels per sparsity block (papers/flightllm.md: M = 16 in the artifact)."""
GROUP = 128
"""Input channels per weight scale (8 blocks)."""
INDEX_BITS = 4
SCALE_BITS = 16
A_BITS = 8
KEEP_CHOICES = (2, 4, 8, 16)
BIT_CHOICES = (4, 8)


@dataclass(frozen=True)
class LayerRule:
    """Layers whose module name matches ``pattern`` keep ``keep`` of 16 weights at ``bits``."""

    pattern: str
    keep: int
    bits: int

    def __post_init__(self):
        if self.keep not in KEEP_CHOICES:
            raise UserError(f"N:16 sparsity keeps one of {KEEP_CHOICES} per block, got {self.keep}")
        if self.bits not in BIT_CHOICES:
            raise UserError(f"FlightLLM weights are INT4 or INT8, got {self.bits} bits")


DEFAULT_RULES = (LayerRule("*.q_proj", 4, 4), LayerRule("*.k_proj", 4, 4), LayerRule("*", 16, 4))


def rule_for(name: str, rules: Sequence[LayerRule]) -> LayerRule:
    """First rule whose pattern matches ``name`` (trailing ``.weight`` ignored)."""
    module = name.removesuffix(".weight")
    for rule in rules:
        if fnmatch.fnmatchcase(module, rule.pattern):
            return rule
    raise UserError(f"no FlightLLM layer rule matches {module!r}; end the rules with a '*' rule")


# --- weights --------------------------------------------------------------------------------------

def nm_prune(w: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """``w [N, K]`` (K a multiple of 16) → (kept values ``[N, K/16, keep]`` float32, ascending
    positions ``[N, K/16, keep]`` uint8): the ``keep`` largest |w| per block, ties → lower index."""
    n, k = w.shape
    blocks = w.reshape(n, k // BLOCK, BLOCK)
    order = np.argsort(-np.abs(blocks), axis=2, kind="stable")[:, :, :keep]
    index = np.sort(order, axis=2)
    return np.take_along_axis(blocks, index, axis=2), index.astype(np.uint8)


def _codes(groups: np.ndarray, s: np.ndarray, qmax: int) -> np.ndarray:
    return np.clip(np.rint(groups / s[..., None]), -qmax, qmax).astype(np.int8)


def _fit(groups: np.ndarray, amax: np.ndarray, qmax: int
         ) -> tuple[tuple[np.ndarray], np.ndarray]:
    """FP16 scale for the range ±amax per group, and the groups decoded with it."""
    s = np.minimum(amax / np.float32(qmax), np.finfo(np.float16).max)
    s = s.astype(np.float16).astype(np.float32)
    s[s == 0] = 1.0
    return (s,), _codes(groups, s, qmax).astype(np.float32) * s[..., None]


def encode_weight(w: np.ndarray, rule: LayerRule, *, name: str,
                  scale: float | None = None, fmt: str = "flightllm-w4s") -> Encoded:
    """Prune to ``rule.keep``:16 and quantize the kept values (module docstring)."""
    w = check_finite(w, name)
    w, pad = pad_k(w, GROUP)
    n, k = w.shape
    values, index = nm_prune(w, rule.keep)
    qmax = pertoken.qmax(rule.bits)
    per_group = GROUP // BLOCK
    grouped = values.reshape(n, k // GROUP, per_group * rule.keep)
    if scale is None:
        amax = np.abs(grouped).max(axis=2)
        (s,) = clip_search(grouped, lambda r: _fit(grouped, amax * r, qmax))
    else:
        check_scale(scale, name)
        s = np.full((n, k // GROUP), scale, np.float32)
    q = _codes(grouped, s, qmax)
    index_bits = INDEX_BITS if rule.keep < BLOCK else 0
    bits = q.size * (rule.bits + index_bits) + s.size * SCALE_BITS
    return Encoded(fmt, Role.WEIGHT, (n, k - pad), q.reshape(values.shape), s, bits, pad,
                   {"index": index, "keep": rule.keep, "bits": rule.bits}, rule.keep / BLOCK)


def decode_weight(enc: Encoded) -> np.ndarray:
    """Dense float32 ``[N, K]``: kept ``q·s`` at their positions, zeros elsewhere."""
    n, blocks, keep = enc.codes.shape
    per_group = GROUP // BLOCK
    s = np.repeat(enc.scales, per_group, axis=1)[:, :, None]  # [N, K/16, 1]
    dense = np.zeros((n, blocks, BLOCK), np.float32)
    np.put_along_axis(dense, enc.meta["index"].astype(np.intp),
                      enc.codes.astype(np.float32) * s, axis=2)
    return dense.reshape(n, blocks * BLOCK)[:, : enc.shape[1]]


def keep_mask(enc: Encoded) -> np.ndarray:
    """Boolean ``[N, K_padded]``: the positions the encoding keeps (exactly N per block)."""
    n, blocks, _ = enc.codes.shape
    mask = np.zeros((n, blocks, BLOCK), bool)
    np.put_along_axis(mask, enc.meta["index"].astype(np.intp), True, axis=2)
    return mask.reshape(n, blocks * BLOCK)


# --- golden GEMM ----------------------------------------------------------------------------------

@numba.njit(cache=True, parallel=True)
def _chain_kernel(xt, a, values, index, s, out):  # pragma: no cover - jitted
    """``xt [K, M]`` float32 INT8 activations (tokens in the vector lanes: two tokens share one
    weight in a packed DSP48); ``values``/``index`` ``[N, K/16, keep]``; ``s [N, K/128]``."""
    m_rows = xt.shape[1]
    n_rows, blocks, keep = values.shape
    per_group = GROUP // BLOCK
    for n in numba.prange(n_rows):
        acc = np.zeros(m_rows, np.float32)
        p = np.empty(m_rows, np.float32)
        for g in range(blocks // per_group):
            p[:] = 0.0
            for b in range(g * per_group, (g + 1) * per_group):
                for i in range(keep):
                    k = b * BLOCK + index[n, b, i]  # the sparse MUX
                    v = np.float32(values[n, b, i])
                    for m in range(m_rows):
                        p[m] = p[m] + v * xt[k, m]
            sg = s[n, g]
            for m in range(m_rows):
                acc[m] = acc[m] + sg * p[m]
        for m in range(m_rows):
            out[m, n] = acc[m] * a[m]


def gemm(x: Encoded, w: Encoded) -> np.ndarray:
    """``[M, N]`` float32 output of the sparse DSP chains (module docstring)."""
    if x.role is not Role.ACTIVATION or w.role is not Role.WEIGHT:
        raise UserError("gemm(x, w) takes an encoded activation and an encoded weight")
    if x.shape[1] != w.shape[1]:
        raise UserError(f"gemm: K differs (activation {x.shape[1]}, weight {w.shape[1]})")
    out = np.empty((x.codes.shape[0], w.codes.shape[0]), np.float32)
    xt = np.ascontiguousarray(x.codes.T, dtype=np.float32)
    _chain_kernel(xt, x.scales, w.codes, w.meta["index"], w.scales, out)
    return out


def group_sums(x: Encoded, w: Encoded) -> np.ndarray:
    """The exact integer partial sums ``P [M, N, G]`` of every (token, output, group): what the
    sparse MUX selects times the kept codes, summed over the group's 8 blocks (int64)."""
    n, blocks, keep = w.codes.shape
    per_group = GROUP // BLOCK
    cols = (np.arange(blocks)[None, :, None] * BLOCK + w.meta["index"]).reshape(n, -1)  # [N, kept]
    xsel = x.codes.astype(np.int64)[:, cols]  # [M, N, kept]: what each sparse MUX selects
    prods = xsel * w.codes.reshape(n, -1).astype(np.int64)[None]
    return prods.reshape(x.codes.shape[0], n, blocks // per_group, per_group * keep).sum(axis=3)


def partial_sum_bound(bits: int) -> int:
    """Largest ``|P|`` of a group: 128 kept products of ``bits``-bit codes × INT8 (any N)."""
    return GROUP * pertoken.qmax(bits) * pertoken.qmax(A_BITS)


def reference_gemm(x: Encoded, w: Encoded) -> np.ndarray:
    """Plain-numpy model (:func:`group_sums`, then the FP32 steps); slow, for the tests."""
    partial = group_sums(x, w)
    acc = np.zeros(partial.shape[:2], np.float32)
    with np.errstate(over="ignore"):  # IEEE: an FP32 overflow is ±inf, as the chain's
        for g in range(partial.shape[2]):
            acc = acc + w.scales[None, :, g] * partial[:, :, g].astype(np.float32)
        return acc * x.scales[:, None]


# --- the format ----------------------------------------------------------------------------------

class FlightLlmFormat(NumberFormat):
    """``flightllm-w4s``: N:16 sparse INT4/INT8 weights per layer rule, INT8 per-token inputs."""

    def __init__(self, rules: Sequence[LayerRule] = DEFAULT_RULES, name: str = "flightllm-w4s"):
        """``rules``: per-layer rules, first match wins; ``name``: the format's name in reports
        (give a rule set of your own its own name)."""
        self.rules, self.name = tuple(rules), name
        shown = ", ".join(f"{r.pattern} {r.keep}:16 INT{r.bits}" for r in self.rules)
        self.description = f"FlightLLM: N:16 sparse per-group weights ({shown}); INT8 per-token"

    def layer_rule(self, name: str) -> LayerRule:
        """The rule of module ``name``: its N of N:16 and its weight width."""
        return rule_for(name, self.rules)

    def code_bits(self, role: Role, name: str) -> int:
        """The rule's INT4 or INT8 weights; INT8 activations."""
        return self.layer_rule(name).bits if Role(role) is Role.WEIGHT else A_BITS

    def encode(self, x: np.ndarray, role: Role, *, name: str = "tensor",
               scale: float | None = None, **static) -> Encoded:
        if Role(role) is Role.WEIGHT:
            return encode_weight(x, rule_for(name, self.rules), name=name, scale=scale,
                                 fmt=self.name)
        return pertoken.encode(x, bits=A_BITS, multiple=GROUP, name=name, scale=scale,
                               fmt=self.name)

    def decode(self, enc: Encoded) -> np.ndarray:
        if enc.role is Role.WEIGHT:
            return decode_weight(enc)
        return pertoken.decode(enc)

    def gemm(self, x: Encoded, w: Encoded) -> np.ndarray:
        return gemm(x, w)


FLIGHTLLM_W4S = FlightLlmFormat()
