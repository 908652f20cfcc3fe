"""Tiling: fits the (double-buffered) buffers, least traffic among loop orders, programs agree."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from mapping.mapper import OperandBits, gemm_shape, map_matrix, map_vector, tiling_for
from mapping.program import Opcode
from mapping.tiling import ORDERS, GemmShape, compute_cycles, traffic_bytes
from models.trace.ops import Op, OpKind, Phase
from sim.target import load_target

TARGETS = ["int8-systolic", "fp16-systolic", "bitfusion", "v100s"]


def gemm(m, k, n, batch=1, kind=OpKind.LINEAR, kv_heads=None):
    return Op("g", kind, 0, Phase.PREFILL, 0, ((m, k),), ((m, n),), "float16", m=m, k=k, n=n,
              batch=batch, heads=batch if kv_heads else None, kv_heads=kv_heads)


dims = st.integers(min_value=1, max_value=6000)


@settings(max_examples=60, deadline=None)
@given(m=dims, k=dims, n=dims, target=st.sampled_from(TARGETS), bits=st.sampled_from([4, 8, 16]))
def test_tiles_fit_and_traffic_is_minimal(m, k, n, target, bits):
    spec = load_target(target)
    shape = GemmShape(m, k, n, bits, bits, bits, spec.compute.accumulator_bits)
    t = tiling_for(shape, spec)
    b = spec.buffers
    assert t.tm * t.tk * bits <= b.inputs.tile_bytes * 8
    assert t.tk * t.tn * bits <= b.weights.tile_bytes * 8
    assert t.tm * t.tn * shape.acc_bits <= b.outputs.tile_bytes * 8
    assert t.traffic == min(traffic_bytes(shape, t.tm, t.tk, t.tn, order) for order in ORDERS)
    # never below the compulsory traffic: every operand once, outputs once
    assert t.traffic >= math.ceil((m * k + k * n + m * n) * bits / 8)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 700), k=st.integers(1, 3000), n=st.integers(1, 3000),
       batch=st.integers(1, 3), target=st.sampled_from(TARGETS))
def test_program_moves_the_tiling_traffic_and_covers_every_mac(m, k, n, batch, target):
    spec = load_target(target)
    bits = OperandBits(spec.default_precision, 8, 8, 8)
    op = gemm(m, k, n, batch)
    prog = map_matrix(op, bits, spec)
    tiling = tiling_for(gemm_shape(op, bits, spec.compute.accumulator_bits), spec)
    moved = sum(i.bytes for i in prog.instrs if i.opcode in (Opcode.LOAD, Opcode.STORE))
    # per-tile byte rounding can only add < 1 byte per transfer
    transfers = sum(1 for i in prog.instrs if i.opcode in (Opcode.LOAD, Opcode.STORE))
    assert batch * tiling.traffic - batch * 3 <= moved <= batch * tiling.traffic + transfers
    tiles = [i.tile for i in prog.instrs if i.tile]
    assert sum(math.prod(t) for t in tiles) == batch * m * k * n
    assert all(t[0] <= tiling.tm and t[1] <= tiling.tk and t[2] <= tiling.tn for t in tiles)
    want = Opcode.MATVEC if m == 1 else Opcode.MATMUL
    assert {i.opcode for i in prog.instrs if i.tile} == {want}


def test_hand_example_prefers_keeping_the_large_operand_resident():
    """A 4096×4096 int8 weight does not fit; streaming it once (weights outer, M inner)
    beats re-reading it per M tile: traffic = |A|·refetch + |B| + |C|."""
    spec = load_target("int8-systolic")
    shape = GemmShape(512, 4096, 4096, 8, 8, 8, 32)
    t = tiling_for(shape, spec)
    assert t.traffic <= traffic_bytes(shape, t.tm, t.tk, t.tn, ("m", "n", "k"))
    assert traffic_bytes(shape, 512, 4096, 4096, ("m", "n", "k")) == 512 * 4096 + 4096 * 4096 + 512 * 4096


def test_grouped_query_attention_reuses_kv_tiles():
    spec = load_target("int8-systolic")
    bits = OperandBits("int8", 8, 8, 8)
    shared = map_matrix(gemm(1, 64, 300, batch=9, kind=OpKind.ATTN_SCORE, kv_heads=3), bits, spec)
    separate = map_matrix(gemm(1, 64, 300, batch=9, kind=OpKind.ATTN_SCORE, kv_heads=9), bits, spec)
    weights = lambda p: sum(i.bytes for i in p.instrs if i.buffer == "weights")  # noqa: E731
    assert weights(shared) * 3 == weights(separate)


def test_vector_op_chunks_fit_the_inputs_buffer():
    spec = load_target("int8-systolic")
    op = Op("s", OpKind.SOFTMAX, 0, Phase.PREFILL, 0, ((1, 32, 512, 512),), ((1, 32, 512, 512),), "float16")
    prog = map_vector(op, spec)
    loads = [i for i in prog.instrs if i.opcode is Opcode.LOAD]
    assert all(i.bytes <= spec.buffers.inputs.tile_bytes for i in loads)
    assert sum(i.bytes for i in loads) == 32 * 512 * 512 * 2
    assert sum(i.elements for i in prog.instrs if i.opcode is Opcode.MISC) == 32 * 512 * 512


def test_timed_search_avoids_splitting_k_of_a_decode_product():
    """llama2-7b decode q_proj (1 × 4096 × 4096, int8) on the 32 × 32 output-stationary array:
    by traffic alone K is cut into 32-element tiles, each paying the array's fill/drain; timed
    by the compute model, the search keeps long K tiles for a few % more traffic and ≥ 2.5×
    fewer cycles."""
    from sim.engine import Engine, MatrixTileTimer

    spec = load_target("int8-systolic")
    bits = OperandBits("int8", 8, 8, 8)
    op = Op("q", OpKind.LINEAR, 0, Phase.DECODE, 0, ((1, 4096),), ((1, 4096),), "float16",
            m=1, k=4096, n=4096, batch=1)
    engine = Engine(spec)
    timer = MatrixTileTimer(engine, Opcode.MATVEC, "int8", 1.0)
    shape = gemm_shape(op, bits, spec.compute.accumulator_bits)
    by_traffic, timed = tiling_for(shape, spec), tiling_for(shape, spec, timer)
    assert by_traffic.tk == 32 and timed.tk > 32
    assert timed.traffic <= 1.05 * by_traffic.traffic
    slow = engine.run(map_matrix(op, bits, spec)).cycles
    fast = engine.run(map_matrix(op, bits, spec, timer=timer)).cycles
    assert fast * 2.5 <= slow
    # the estimate behind the choice is the compute model's own sum over the tiles
    assert compute_cycles(shape, timed.tm, timed.tk, timed.tn, timer) == engine.run(
        map_matrix(op, bits, spec, timer=timer)).busy["matrix"]
