import math

import pytest
import torch

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


@pytest.fixture(scope="module")
def vit_b16():
    return trace_model("vit-b16", 197, 0, batch=2)[0]


def test_vit_b16_layer_gemms(vit_b16):
    """Every linear of a ViT-B/16 layer runs over all 197 tokens of both images: M = 197 · 2."""
    ops = _layer_ops(vit_b16, 0)
    linears = {op.name.rsplit(".", 1)[-1]: op for op in ops if op.kind == OpKind.LINEAR}
    assert {n: (op.m, op.k, op.n, op.batch) for n, op in linears.items()} == {
        "q_proj": (394, 768, 768, 1), "k_proj": (394, 768, 768, 1), "v_proj": (394, 768, 768, 1),
        "o_proj": (394, 768, 768, 1), "fc1": (394, 768, 3072, 1), "fc2": (394, 3072, 768, 1)}
    score = next(op for op in ops if op.kind == OpKind.ATTN_SCORE)
    assert (score.m, score.k, score.n, score.batch, score.heads) == (197, 64, 197, 24, 12)
    assert [op.kind.value for op in ops] == [
        "norm", "linear", "linear", "linear", "attn_score", "softmax", "attn_value", "linear",
        "eltwise", "norm", "linear", "activation", "linear", "eltwise"]


def test_vit_b16_patch_embedding_is_its_im2col_gemm(vit_b16):
    """Conv2d(3, 768, kernel = stride = 16) over 224² images: M = 2 images · 196 patches,
    K = 3 · 16², N = 768; its operands are the im2col matrices."""
    patch = vit_b16.ops[0]
    assert (patch.name, patch.kind, patch.layer) == ("embeddings.patch_embeddings.projection", OpKind.LINEAR, None)
    assert (patch.m, patch.k, patch.n, patch.batch) == (392, 768, 768, 1)
    assert (patch.inputs, patch.outputs) == (((2, 196, 768),), ((2, 196, 768),))
    assert patch.macs == 2 * 196 * 768 * 768


def test_vit_b16_embeddings_and_head(vit_b16):
    """The CLS token joins the patches and the position embeddings are added in one eltwise op;
    after the blocks: the final LayerNorm and the pooler (dense + tanh on the CLS tokens)."""
    outside = [op for op in vit_b16.ops if op.layer is None]
    assert [(op.name, op.kind.value) for op in outside] == [
        ("embeddings.patch_embeddings.projection", "linear"), ("embeddings.eltwise", "eltwise"),
        ("layernorm", "norm"), ("pooler.dense", "linear"), ("pooler.activation", "activation")]
    embed = outside[1]
    assert sorted(embed.inputs) == [(1, 1, 768), (1, 197, 768), (2, 768, 14, 14)]  # CLS, positions, patches
    assert embed.outputs == ((2, 197, 768),)
    assert (outside[3].m, outside[3].k, outside[3].n) == (2, 768, 768)
    assert {op.phase for op in vit_b16.ops} == {Phase.PREFILL}
    assert sum(op.kind == OpKind.ATTN_SCORE for op in vit_b16.ops) == 12


@pytest.mark.parametrize("model, tokens, prefill, match", [
    ("vit-b16", 197, 196, r"197 tokens \(196 patches of 16×16 pixels \+ CLS\); use --prefill 197, not 196"),
    ("vit-h14", 257, 197, r"257 tokens \(256 patches of 14×14 pixels \+ CLS\); use --prefill 257, not 197"),
])
def test_vit_prefill_is_the_image(model, tokens, prefill, match):
    with pytest.raises(UserError, match=match):
        trace_model(model, prefill, 0)
    with pytest.raises(UserError, match="encoder"):
        trace_model(model, tokens, 1)


def test_conv2d_lowered_to_im2col_matches_the_convolution():
    """A padded, strided conv recorded through the sink: input rows @ weightᵀ + bias = output."""
    from torch import nn

    from models.trace.capture import Recorder, TensorSink

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 5, kernel_size=3, stride=2, padding=1)).eval()
    recorder = Recorder(model, lm_head=None, rotary=False, sink=TensorSink("*"))
    with torch.no_grad(), recorder:
        y = model(torch.randn(2, 3, 9, 7))
    recorder.remove_hooks()
    (op,) = recorder.ops
    assert (op.kind, op.m, op.k, op.n) == (OpKind.LINEAR, 2 * 5 * 4, 3 * 9, 5)
    t = recorder.sink.tensors
    assert t["op0.input"].shape == (2, 20, 27) and t["weight.0"].shape == (5, 27)
    product = t["op0.input"] @ t["weight.0"].T + model[0].bias
    torch.testing.assert_close(product, t["op0.output"])
    torch.testing.assert_close(t["op0.output"], y.flatten(-2).transpose(-1, -2))


@pytest.mark.parametrize("module, call", [
    (lambda nn: nn.Conv2d(4, 4, 3, groups=2), "conv2d"),     # grouped: not one im2col GEMM
    (lambda nn: nn.ConvTranspose2d(4, 4, 2), "conv_transpose2d"),
])
def test_unclassified_matrix_work_is_refused_not_dropped(module, call):
    from torch import nn

    from models.trace.capture import Recorder

    model = nn.Sequential(module(nn)).eval()
    recorder = Recorder(model, lm_head=None, rotary=False)
    with pytest.raises(UserError, match=f"cannot trace 0 .*it calls {call}, matrix work"):
        with torch.no_grad(), recorder:
            model(torch.zeros(1, 4, 8, 8, device="meta"))
    recorder.remove_hooks()
