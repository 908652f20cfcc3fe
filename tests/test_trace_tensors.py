"""Recorded tensors are the real operands: products recomputed from them match the outputs."""

import pytest
import torch

from models.trace import OpKind
from models.trace import io as trace_io
from models.trace.tensors import load_tensors
from models.trace.tracer import trace_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    from tapeout.cli import main

    path = tmp_path_factory.mktemp("t") / "small.trace.json"
    with pytest.raises(SystemExit) as exc:
        main(["trace", "smollm2-135m", "--prefill", "8", "--decode", "2", "--tensors",
              "--tensor-ops", "model.layers.1.*", "-o", str(path)])
    assert exc.value.code == 0
    trace = trace_io.load(path)
    return trace, load_tensors(path, trace.tensors)


def test_linear_tensors(recorded):
    trace, tensors = recorded
    ops = [(i, op) for i, op in enumerate(trace.ops) if op.kind == OpKind.LINEAR and op.layer == 1]
    assert len(ops) == 7 * 3
    for i, op in ops:
        x, y = tensors[f"op{i}.input"], tensors[f"op{i}.output"]
        w = tensors[f"weight.{op.name}"]
        assert w.shape == (op.n, op.k) and x.shape[-1] == op.k
        torch.testing.assert_close(x @ w.T, y, rtol=1e-4, atol=1e-4)
    assert not any(k.startswith("weight.model.layers.2") for k in tensors)


def test_attention_tensors(recorded):
    trace, tensors = recorded
    for i, op in enumerate(trace.ops):
        if op.layer != 1 or op.kind not in (OpKind.ATTN_SCORE, OpKind.ATTN_VALUE):
            continue
        a, b, y = tensors[f"op{i}.input"], tensors[f"op{i}.other"], tensors[f"op{i}.output"]
        assert b.shape[1] == op.kv_heads == 3 and a.shape[1] == op.heads == 9
        b = b.repeat_interleave(op.heads // op.kv_heads, dim=1)
        got = a @ b.transpose(-1, -2) if op.kind == OpKind.ATTN_SCORE else a @ b
        torch.testing.assert_close(got, y, rtol=1e-4, atol=1e-4)
        assert tuple(y.shape) == op.outputs[0]


def test_decode_is_greedy_generation(recorded):
    trace, _ = recorded
    assert [op.step for op in trace.ops if op.kind == OpKind.LM_HEAD] == [0, 0, 1]


def test_tensors_need_a_real_model():
    from core.errors import UserError

    with pytest.raises(UserError, match="no trained weights"):
        trace_model("llama2-7b", 8, 1, tensors="*")
