"""An accelerator simulator's layer list as a trace: per transformer layer, only the linear GEMMs.

The ANT / BitFusion / DnnWeaver lineage of simulators (and MixPE's public simulator built on
it, papers/mixpe.md) models a transformer as four GEMMs per layer on one batch of M tokens:
the fused QKV projection (d → 3d), the output projection (d → d) and a non-gated MLP (d → r·d,
r·d → d; r = 4 for every model, LLaMA included). No attention products, no softmax or norms,
no embedding or LM head, no KV cache. :func:`linear_gemm_trace` builds exactly that workload
from a zoo model's layer count and hidden size, so a reproduction can run the paper's own
workload beside the whole model as :mod:`models.trace.tracer` traces it.
"""

from __future__ import annotations

from models.trace.ops import Op, OpKind, Phase, Trace
from models.zoo import get_spec

GEMMS = ("qkv", "out", "fc1", "fc2")
"""The per-layer GEMMs, in order."""


def layer_gemms(hidden: int, mlp_ratio: int) -> list[tuple[str, int, int]]:
    """``(name, K, N)`` of one layer's four GEMMs (weights ``[N, K]``)."""
    d, f = hidden, mlp_ratio * hidden
    return [("qkv", d, 3 * d), ("out", d, d), ("fc1", d, f), ("fc2", f, d)]


def linear_gemm_trace(model: str, tokens: int, mlp_ratio: int = 4) -> Trace:
    """The simulator workload of zoo model ``model``: ``layers × 4`` linear GEMMs of ``tokens``
    rows each (one prefill pass, no decode)."""
    spec = get_spec(model)
    s = spec.shape
    ops = []
    params = 0
    for layer in range(s.layers):
        for name, k, n in layer_gemms(s.hidden, mlp_ratio):
            params += k * n
            ops.append(Op(f"layers.{layer}.{name}", OpKind.LINEAR, layer, Phase.PREFILL, 0,
                          inputs=((1, tokens, k),), outputs=((1, tokens, n),), dtype="float16",
                          m=tokens, k=k, n=n, batch=1))
    info = {"name": spec.name, "family": spec.family, "layers": s.layers, "hidden": s.hidden,
            "heads": s.heads, "kv_heads": s.kv_heads, "head_dim": s.head_dim,
            "ffn": mlp_ratio * s.hidden, "vocab": s.vocab, "max_positions": s.max_positions,
            "parameters": params, "dtype": "float16", "weight_bytes": 2 * params,
            "workload": f"linear GEMMs only: QKV, output, FC1, FC2 (non-gated MLP ×{mlp_ratio}) per layer"}
    return Trace(model=info, prefill=tokens, decode=0, batch=1, ops=ops)
