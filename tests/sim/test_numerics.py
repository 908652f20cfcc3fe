"""The per-op numerics seam: a format's per-layer rules reach the mapper and the cycle model."""

from __future__ import annotations

import pytest
import yaml

from core.errors import UserError
from models.trace.ops import OpKind
from models.trace.tracer import trace_model
from sim.formats import get_format
from sim.formats.base import Role, TensorStorage
from sim.formats.flightllm import FlightLlmFormat, LayerRule
from sim.numerics import resolve_numerics
from sim.simulate import simulate
from sim.target import load_target, parse_target
from spec import TARGETS_DIR

Q, V = "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"


@pytest.fixture(scope="module")
def trace():
    return trace_model("smollm2-135m", 16, 2)[0]


def _ant(top: dict | None = None, **compute) -> object:
    doc = yaml.safe_load((TARGETS_DIR / "ant.yaml").read_text())
    doc["compute"].update(compute)
    doc.update(top or {})
    return parse_target(doc, "ant-variant")


def _by_name(trace, sim, name_end: str, phase: str = "prefill"):
    return next(r for op, r in zip(trace.ops, sim.results, strict=True)
                if op.name.endswith(name_end) and op.phase.value == phase and op.layer == 0)


def test_flightllm_storage_is_per_layer():
    fmt = get_format("flightllm-w4s")
    # 4 of every 16 weights kept, each 4 bits + a 4-bit index, + an FP16 scale per 128 inputs
    assert fmt.storage(Role.WEIGHT, Q) == TensorStorage(4, 0.25 * 8 + 16 / 128, 0.25)
    assert fmt.storage(Role.WEIGHT, V) == TensorStorage(4, 4 + 16 / 128, 1.0)
    assert fmt.storage(Role.ACTIVATION, Q).code_bits == 8


def test_sparse_layers_reach_the_cycle_model(trace):
    """k_proj (4:16) and v_proj (dense) have the same shape (576 → 192): on an array that skips
    N:M zeros the sparse one takes fewer cycles and reads fewer weight bytes; on one that does
    not, only the bytes differ."""
    sparse_target = _ant(sparsity={"pattern": "n:m", "m": 16, "n": [4, 16]})
    sim = simulate(trace, sparse_target, "flightllm-w4s")
    k, v = _by_name(trace, sim, "k_proj"), _by_name(trace, sim, "v_proj")
    assert k.compute_cycles < v.compute_cycles
    assert k.bytes_read < v.bytes_read
    assert k.macs == v.macs          # the dense MAC count of the op is the same
    dense_sim = simulate(trace, load_target("ant"), "flightllm-w4s")
    k, v = _by_name(trace, dense_sim, "k_proj"), _by_name(trace, dense_sim, "v_proj")
    assert k.bytes_read < v.bytes_read
    # memoisation keys on the numerics too: the full simulation agrees
    assert simulate(trace, sparse_target, "flightllm-w4s", memo=False).results == sim.results


def test_mixed_int4_int8_rules_run_each_layer_at_its_precision(trace):
    mixed = FlightLlmFormat((LayerRule("*.down_proj", 16, 8), LayerRule("*", 16, 4)), "flightllm-mixed")
    target = load_target("ant")                      # int8 (W8A8), w4a8, int4 (W4A4)
    numerics = resolve_numerics(target, mixed, trace.ops)
    linears = [op for op in trace.ops if op.kind is OpKind.LINEAR]
    precisions = {op.name.rsplit(".", 1)[-1]: numerics.for_op(op).precision for op in linears}
    assert precisions["down_proj"] == "int8"
    assert {p for name, p in precisions.items() if name != "down_proj"} == {"w4a8"}
    assert numerics.linear("model.layers.3.mlp.down_proj").w_bits == pytest.approx(8 + 16 / 128)
    sim = simulate(trace, target, mixed)
    up, down = _by_name(trace, sim, "up_proj", "decode"), _by_name(trace, sim, "down_proj", "decode")
    assert up.macs == down.macs                      # 576 × 1536 either way round
    assert down.bytes_read > 1.8 * up.bytes_read     # INT8 weights dominate a decode step
    assert sim.linear_precision == "w4a8"            # the precision of most linear MACs
    assert sim.numerics.format == "flightllm-mixed"


def test_a_layer_the_target_cannot_run_is_refused_before_simulating(trace):
    int8_down = FlightLlmFormat((LayerRule("*.down_proj", 16, 8), LayerRule("*", 16, 4)), "int8-down")
    only_w4a8 = _ant({"default_precision": "w4a8", "attention_precision": "w4a8"},
                     precisions={"w4a8": {"weight_bits": 4, "act_bits": 8, "macs_per_cycle": 2048,
                                          "mac_action": "mac.pe8x4.w4a8"}})
    with pytest.raises(UserError, match=r"cannot run format int8-down \(layer "
                                         r"model\.layers\.0\.mlp\.down_proj\): it needs 8-bit weights"):
        resolve_numerics(only_w4a8, int8_down, trace.ops)
    resolve_numerics(only_w4a8, FlightLlmFormat(), trace.ops)   # all INT4: fits


def test_uniform_formats_give_every_linear_layer_the_same_numerics(trace):
    numerics = resolve_numerics(load_target("olive-systolic"), "olive-w4a4", trace.ops)
    bits = {numerics.for_op(op) for op in trace.ops if op.kind is OpKind.LINEAR}
    assert len(bits) == 1 and bits.pop().precision == "ovp4"
