import math

import pytest

from core.errors import UserError
from models.trace import OpKind, Phase
from models.trace.tracer import trace_model


@pytest.fixture(scope="module")
def llama7b():
    return trace_model("llama2-7b", 128, 3)[0]


def _layer_ops(trace, layer, phase=Phase.PREFILL, step=0):
    return [op for op in trace.ops if op.layer == layer and op.phase == phase and op.step == step]


def test_llama2_7b_linear_shapes(llama7b):
    linears = {op.name.rsplit(".", 1)[-1]: op for op in _layer_ops(llama7b, 5) if op.kind == OpKind.LINEAR}
    assert sorted(linears) == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert (linears["q_proj"].k, linears["q_proj"].n) == (4096, 4096)
    assert (linears["gate_proj"].k, linears["gate_proj"].n) == (4096, 11008)
    assert (linears["up_proj"].k, linears["up_proj"].n) == (4096, 11008)
    assert (linears["down_proj"].k, linears["down_proj"].n) == (11008, 4096)
    assert all(op.m == 128 and op.batch == 1 for op in linears.values())


def test_llama2_7b_layers_and_heads(llama7b):
    layers = {op.layer for op in llama7b.ops if op.layer is not None}
    assert layers == set(range(32))
    scores = [op for op in llama7b.ops if op.kind == OpKind.ATTN_SCORE and op.phase == Phase.PREFILL]
    assert len(scores) == 32
    assert all((op.batch, op.heads, op.kv_heads, op.k, op.m, op.n) == (32, 32, 32, 128, 128, 128) for op in scores)


def test_decode_attention_at_context_length(llama7b):
    for step in range(3):
        context = 128 + step + 1
        ops = _layer_ops(llama7b, 0, Phase.DECODE, step)
        score = next(op for op in ops if op.kind == OpKind.ATTN_SCORE)
        value = next(op for op in ops if op.kind == OpKind.ATTN_VALUE)
        assert (score.m, score.k, score.n, score.batch) == (1, 128, context, 32)
        assert (value.m, value.k, value.n, value.batch) == (1, context, 128, 32)
        assert all(op.m == 1 for op in ops if op.kind == OpKind.LINEAR)


def test_layer_op_order(llama7b):
    kinds = [op.kind.value for op in _layer_ops(llama7b, 3)]
    assert kinds == ["norm", "linear", "linear", "linear", "rope", "attn_score", "softmax",
                     "attn_value", "linear", "eltwise", "norm", "linear", "activation", "linear",
                     "eltwise", "linear", "eltwise"]
    head = [op for op in llama7b.ops if op.phase == Phase.PREFILL and op.layer is None]
    assert [op.kind.value for op in head] == ["embedding", "norm", "lm_head"]
    assert head[-1].m == 1  # only the last position's logits are needed to generate


def test_gqa_shapes():
    trace = trace_model("smollm2-135m", 16, 2)[0]
    ops = _layer_ops(trace, 0, Phase.DECODE, 1)
    k_proj = next(op for op in ops if op.name.endswith("k_proj"))
    assert (k_proj.k, k_proj.n) == (576, 192)  # 3 KV heads × 64
    score = next(op for op in ops if op.kind == OpKind.ATTN_SCORE)
    assert (score.heads, score.kv_heads, score.batch, score.k, score.n) == (9, 3, 9, 64, 18)
    assert score.inputs == ((1, 9, 1, 64), (1, 3, 18, 64))


@pytest.mark.parametrize("model, prefill", [("smollm2-135m", 8), ("opt-6.7b", 8), ("gpt2-xl", 8),
                                            # contexts that cross head_dim = 64 (a static dim)
                                            ("smollm2-135m", 61), ("smollm2-135m", 62)])
def test_decode_extrapolation_equals_full_tracing(model, prefill):
    fast = trace_model(model, prefill, 5)[0]
    full = trace_model(model, prefill, 5, extrapolate=False)[0]
    assert fast.ops == full.ops


def test_encoder_has_no_decode():
    trace = trace_model("bert-base", 64, 0)[0]
    assert {op.phase for op in trace.ops} == {Phase.PREFILL}
    assert sum(op.kind == OpKind.ATTN_SCORE for op in trace.ops) == 12
    with pytest.raises(UserError, match="encoder"):
        trace_model("bert-base", 64, 1)


@pytest.mark.parametrize("prefill, decode, match", [(0, 1, "--prefill must be at least 1"),
                                                    (-3, 1, "--prefill"), (8, -1, "--decode"),
                                                    (1.5, 1, "must be an integer"),
                                                    (5000, 0, "at most 4096 positions")])
def test_bad_counts(prefill, decode, match):
    with pytest.raises(UserError, match=match):
        trace_model("llama2-7b", prefill, decode)


def test_macs_match_hand_count(llama7b):
    prefill_linear = sum(op.macs for op in llama7b.ops if op.kind == OpKind.LINEAR and op.phase == Phase.PREFILL)
    assert prefill_linear == 32 * 128 * (4 * 4096 * 4096 + 3 * 4096 * 11008)


def test_rope_reads_q_k_cos_sin_and_writes_rotated_q_k(llama7b):
    """RoPE is one op over its element-wise run: q and k (taken at the projections' outputs they
    view), cos and sin in; the two rotated tensors out — not the run's intermediates."""
    (rope,) = [op for op in _layer_ops(llama7b, 0) if op.kind is OpKind.ROPE]
    elements = sorted(math.prod(s) for s in rope.inputs)
    assert elements == sorted([128 * 4096, 128 * 4096, 128 * 128, 128 * 128])
    assert sorted(rope.outputs) == [(1, 32, 128, 128), (1, 32, 128, 128)]
