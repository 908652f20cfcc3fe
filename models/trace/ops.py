"""The Trace data model: one record per operation, in execution order.

Shapes are tuples of ints. Matrix products carry GEMM dimensions: ``batch`` independent
products of an (M × K) by (K × N) matrix, so MACs = batch · M · K · N. For ``linear`` and
``lm_head`` the (K × N) operand is a weight ``[N, K]``; for ``attn_score`` it is the key cache,
for ``attn_value`` the value cache.
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
