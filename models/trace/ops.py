"""The Trace data model: one record per operation, in execution order.

Shapes are tuples of ints. Matrix products carry GEMM dimensions: ``batch`` independent
products of an (M × K) by (K × N) matrix, so MACs = batch · M · K · N. For ``linear`` and
``lm_head`` the (K × N) operand is a weight ``[N, K]``; for ``attn_score`` it is the key cache,
for ``attn_value`` the value cache. A convolution (ViT's patch embedding) is a ``linear`` op:
its im2col GEMM, with M = batch · output positions, K = C_in · k_h · k_w, N = C_out, and the
im2col matrices as its input and output shapes (``models.trace.capture._im2col``).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


class OpKind(StrEnum):
    LINEAR = "linear"
    ATTN_SCORE = "attn_score"
    ATTN_VALUE = "attn_value"
    SOFTMAX = "softmax"
    NORM = "norm"
    ACTIVATION = "activation"
    ELTWISE = "eltwise"
    ROPE = "rope"
    EMBEDDING = "embedding"
    LM_HEAD = "lm_head"


class Phase(StrEnum):
    PREFILL = "prefill"
    DECODE = "decode"


MATRIX_KINDS = frozenset({OpKind.LINEAR, OpKind.ATTN_SCORE, OpKind.ATTN_VALUE, OpKind.LM_HEAD})
WEIGHT_KINDS = frozenset({OpKind.LINEAR, OpKind.LM_HEAD})

Shape = tuple[int, ...]

MAX_DIM = 2**24
"""Largest GEMM dimension (M, K, N, batch), head count, tensor dimension, layer index or token
count a trace or topology file may hold: 16 777 216. Real workloads stay far below (llama2-13b
at its full 4 096-token context: M = 4 096 per sequence, N ≤ 32 000 vocab); the bound refuses
absurd files at load, before any float overflow or hours of mapping."""


def _shown(value: object) -> str:
    """``repr(value)``, short: huge ints as a power of ten (``str`` of > 4300 digits fails)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"a number ≈ {'-' if value < 0 else ''}10^{round(math.log10(abs(value)))}"
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def bounded_int(value: object, what: str, low: int = 0, high: int = MAX_DIM,
                reason: str = "2^24: the largest dimension tapeout simulates in reasonable time") -> int:
    """``value`` if it is an int (not a bool) in ``[low, high]``; else ValueError naming ``what``
    (and ``reason``, why ``high`` is the limit)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{what} must be an integer ≥ {low}, got {_shown(value)}")
    if value > high:
        raise ValueError(f"{what} is {_shown(value)}, above the limit of {high:,} ({reason})")
    return value


@dataclass(frozen=True, slots=True)
class Op:
    """One operation. ``layer`` is ``None`` outside the transformer blocks (embedding, head).

    ``step`` is 0 for the prefill and the decode step index (0-based) in the decode phase.
    ``heads``/``kv_heads`` are set on attention ops (grouped-query attention: kv_heads < heads).
    """

    name: str
    kind: OpKind
    layer: int | None
    phase: Phase
    step: int
    inputs: tuple[Shape, ...]
    outputs: tuple[Shape, ...]
    dtype: str
    m: int | None = None
    k: int | None = None
    n: int | None = None
    batch: int | None = None
    heads: int | None = None
    kv_heads: int | None = None

    @property
    def is_matrix(self) -> bool:
        return self.kind in MATRIX_KINDS

    @property
    def macs(self) -> int:
        """Multiply-accumulates of a matrix product (0 for other kinds)."""
        if not self.is_matrix:
            return 0
        return self.batch * self.m * self.k * self.n

    @property
    def output_elements(self) -> int:
        return sum(math.prod(s) for s in self.outputs)


@dataclass
class Trace:
    """A model's forward passes: one prefill of ``prefill`` tokens, then ``decode`` steps.

    ``model`` describes the architecture (name, layers, hidden, heads, kv_heads, ffn, vocab,
    parameters, weight_bytes). ``tensors`` names the safetensors file recorded beside the
    trace file, if any.
    """

    model: dict
    prefill: int
    decode: int
    batch: int
    ops: list[Op]
    tensors: str | None = None
    extra: dict = field(default_factory=dict)
    derived: dict = field(default_factory=dict, repr=False, compare=False)
    """What the simulator derives from ``ops`` once per trace (:mod:`sim.digest`); travels
    with the trace to sweep workers. Never written to a trace file."""

    @property
    def name(self) -> str:
        return self.model["name"]

    def summary(self) -> dict:
        """Ops per kind, MACs per phase, weight bytes."""
        kinds = Counter(op.kind.value for op in self.ops)
        macs = Counter()
        for op in self.ops:
            macs[op.phase.value] += op.macs
        return {
            "ops": len(self.ops),
            "ops_per_kind": dict(sorted(kinds.items())),
            "macs_per_phase": {p.value: macs.get(p.value, 0) for p in Phase},
            "weight_bytes": self.model["weight_bytes"],
        }
