"""The ``mixpe`` compute model: the RTL's tile formula per fold, whole groups, INT8 as two
passes, and the dequantizer / group-sum energy charged where the RTL spends it."""

from __future__ import annotations

import pytest

from sim.compute.registry import get_compute_model
from sim.formats import mixpe
from sim.mixpe import design
from sim.mixpe.tile import mixpe_array_tile_cycles
from sim.target import load_target


def test_tile_formula():
    assert mixpe_array_tile_cycles(8, 8, 256) == 256 + 16
    assert mixpe_array_tile_cycles(64, 64, 4096) == 4096 + 128
    with pytest.raises(ValueError):
        mixpe_array_tile_cycles(0, 8, 128)


def test_widths_follow_the_golden_bound():
    """19 / 15 signed bits for groups of 128: |P| ≤ 128·15·127 < 2^18, |S| ≤ 128·127 < 2^14."""
    assert mixpe.partial_sum_bound(128) == 243_840
    assert design.partial_sum_needed(128) == 19
    assert design.group_sum_needed(128) == 15
    assert design.partial_sum_needed(256) == 20


def test_w4a8_model_counts_folds_groups_and_passes():
    target = load_target("mixpe-w4a8")  # 64 × 64
    model = get_compute_model(target)
    w4a8, int8 = target.compute.precisions["w4a8"], target.compute.precisions["int8"]
    cost = model.matmul((128, 4096, 192), w4a8, 1.0, True)
    assert cost.cycles == 2 * 3 * mixpe_array_tile_cycles(64, 64, 4096)
    assert cost.actions["mac.mixpe.w4a8"] == 128 * 4096 * 192
    assert cost.actions["mixpe.dequant.w4a8"] == 128 * 192 * 32      # once per output and group
    assert cost.actions["mixpe.groupsum.w4a8"] == 128 * 4096 * 3      # once per column fold
    assert cost.actions["mixpe.token_scale"] == 128 * 192
    # a later K tile continues the accumulation: the token scale is applied once per output
    assert "mixpe.token_scale" not in model.matmul((128, 4096, 192), w4a8, 1.0, False).actions
    # K is padded to whole groups: 100 elements cost one group of 128
    assert model.matmul((64, 100, 64), w4a8, 1.0, True).cycles == mixpe_array_tile_cycles(64, 64, 128)
    # an INT8 operand takes two 4-bit passes: twice the groups
    two = model.matmul((64, 256, 64), int8, 1.0, True)
    assert two.cycles == mixpe_array_tile_cycles(64, 64, 512)
    assert two.actions["mixpe.dequant.w4a8"] == 64 * 64 * 4


def test_w4a16_model_has_no_token_scale():
    target = load_target("mixpe-w4a16")
    cost = get_compute_model(target).matmul((32, 256, 32), target.compute.precisions["w4a16"], 1.0, True)
    assert cost.cycles == mixpe_array_tile_cycles(32, 32, 256)
    assert "mixpe.token_scale" not in cost.actions
    assert cost.actions["mixpe.dequant.w4a16"] == 32 * 32 * 2


def test_linear_layers_run_native_and_attention_two_pass():
    """A simulated prefill: every linear MAC is a W4A8 product, every attention and LM-head MAC
    an INT8 two-pass one, and the dequantizer runs once per (output, group, pass)."""
    from models.trace.ops import OpKind
    from models.trace.tracer import trace_model
    from sim.simulate import simulate

    trace = trace_model("smollm2-135m", 64, 0)[0]
    sim = simulate(trace, load_target("mixpe-w4a8"), "mixpe-w4a8")
    assert sim.linear_precision == "w4a8"
    linear = sum(op.macs for op in trace.ops if op.kind is OpKind.LINEAR)
    other = sum(op.macs for op in trace.ops if op.is_matrix and op.kind is not OpKind.LINEAR)
    assert sim.actions["mac.mixpe.w4a8"] == linear
    assert sim.actions["mac.mixpe.w4a8.int8"] == other
    outputs_groups = sum(op.m * op.n * (op.batch or 1) * -(-op.k // 128)
                         * (1 if op.kind is OpKind.LINEAR else 2)
                         for op in trace.ops if op.is_matrix)
    assert sim.actions["mixpe.dequant.w4a8"] == outputs_groups
