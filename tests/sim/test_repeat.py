"""Skipping periodic stretches of a program (sim.engine.Execution) is exact: every shape,
loop order, buffer layout, GQA grouping and fused epilogue gives the same stats as executing
every instruction of the mapped program."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import UserError
from mapping.mapper import FusedOp, OperandBits, map_matrix, map_vector, matrix_opcode
from mapping.program import Instr, Opcode, Program
from models.trace.ops import Op, OpKind, Phase
from sim.engine import Engine, MatrixTileTimer
from sim.target import load_target
from spec import TARGETS_DIR

TARGETS = sorted(p.stem for p in TARGETS_DIR.glob("*.yaml"))


def _target(name: str, single: frozenset[str] = frozenset(), scale: float = 1.0):
    """Target ``name`` with the ``single`` buffers single-buffered and every buffer ``scale``
    times its size."""
    target = load_target(name)
    buffers = {b: getattr(target.buffers, b).model_copy(update={
        "double_buffered": getattr(target.buffers, b).double_buffered and b not in single,
        "size": max(4096.0, getattr(target.buffers, b).size * scale)})
        for b in ("inputs", "weights", "outputs")}
    return target.model_copy(update={"buffers": target.buffers.model_copy(update=buffers)})


def _op(kind: OpKind, m: int, k: int, n: int, batch: int = 1, kv_heads: int | None = None) -> Op:
    return Op("t", kind, 0, Phase.DECODE if m == 1 else Phase.PREFILL, 0, ((m, k),), ((m, n),),
              "float16", m=m, k=k, n=n, batch=batch, kv_heads=kv_heads)


def _both(target, op, bits, fused=()):
    engine = Engine(target)
    timer = MatrixTileTimer(engine, matrix_opcode(op), bits.precision, bits.density)
    program = map_matrix(op, bits, target, fused, timer)
    execution = map_matrix(op, bits, target, fused, timer, engine.execution())
    return engine.run(program), execution.stats(), len(program), len(execution.end)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(TARGETS), m=st.sampled_from([1, 7, 64, 200, 512]),
       k=st.sampled_from([64, 100, 513, 2048, 4096]), n=st.sampled_from([1, 96, 300, 1024, 4099]),
       heads=st.sampled_from([(1, None), (8, 8), (8, 2), (12, 4), (32, 32)]),
       single=st.frozensets(st.sampled_from(["inputs", "weights", "outputs"])),
       scale=st.sampled_from([1.0, 0.5, 0.2]), fused=st.booleans(), data=st.data())
def test_skipping_periods_equals_running_every_instruction(name, m, k, n, heads, single, scale,
                                                          fused, data):
    target = _target(name, single, scale)
    batch, kv = heads
    kinds = [OpKind.LINEAR, OpKind.LM_HEAD] if batch == 1 else [OpKind.ATTN_SCORE, OpKind.ATTN_VALUE]
    op = _op(data.draw(st.sampled_from(kinds)), m, k, n, batch, kv)
    precision = data.draw(st.sampled_from(sorted(target.compute.precisions)))
    p = target.compute.precisions[precision]
    w_bits = data.draw(st.sampled_from([p.weight_bits, p.weight_bits + 0.25]))
    bits = OperandBits(precision, p.act_bits, w_bits, p.act_bits,
                       data.draw(st.sampled_from([1.0, 0.5])))
    extra = (FusedOp("eltwise", 1.0, 1, 16), FusedOp("activation", 2.5, 0, 16)) if fused else ()
    try:
        full, fast, _, _ = _both(target, op, bits, extra)
    except UserError:     # no tile fits the shrunken buffers: nothing to compare
        return
    assert fast == full


@pytest.mark.parametrize("name", ["int8-systolic", "flightllm-u280", "a100"])
def test_long_loops_run_few_instructions(name):
    """A decode attention product over 32 heads and a prefill linear over many N tiles: the
    engine executes a small fraction of the instructions (and the same stats)."""
    target = _target(name)
    p = target.compute.precisions[target.default_precision]
    bits = OperandBits(target.default_precision, p.act_bits, p.weight_bits, p.act_bits)
    for op in (_op(OpKind.ATTN_SCORE, 1, 128, 1000, 32, 32), _op(OpKind.LINEAR, 512, 4096, 11008)):
        full, fast, instructions, executed = _both(target, op, bits)
        assert fast == full
        if instructions > 100:      # FlightLLM's large tiles leave a linear only ~30
            assert executed < instructions / 3, (op, executed, instructions)


@pytest.mark.parametrize("name", ["int8-systolic", "bitfusion"])
@pytest.mark.parametrize("elements", [5, 40_000, 1_000_003])
def test_vector_ops_skip_exactly(name, elements):
    target = _target(name)
    op = Op("s", OpKind.SOFTMAX, 0, Phase.PREFILL, 0, ((elements,),), ((elements,),), "float16")
    engine = Engine(target)
    full = engine.run(map_vector(op, target))
    fast = map_vector(op, target, engine.execution()).stats()
    assert fast == full


def test_an_unsettled_token_stops_the_skip():
    """A period whose inputs did not all move by the same cycles is not periodic: a token that
    stood still but is still in the future of a unit's free time may yet delay it. Once it is
    behind every unit the period uses, it can be ignored, and skipping counts what it should."""
    engine = Engine(_target("int8-systolic"))
    step = engine.compute.vector_cycles(64, 1.0)
    ex = engine.execution()
    slow = ex.emit(Instr(Opcode.LOAD, buffer="inputs", bytes=int(engine.bytes_per_cycle * 1000)))
    a = ex.snapshot((slow,))
    ex.emit(Instr(Opcode.MISC, elements=64, ops_per_element=1.0))            # vector unit only
    b = ex.snapshot((slow,))
    assert ex.end[slow] == 1000 and ex.period_shift(a, b) is None   # the load is still ahead
    settled = ex.emit(Instr(Opcode.MISC, waits=(slow,), elements=64, ops_per_element=1.0))
    c = ex.snapshot((slow, settled))
    ex.emit(Instr(Opcode.MISC, elements=64, ops_per_element=1.0))
    d = ex.snapshot((slow, settled + 1))
    assert ex.period_shift(c, d) == step            # the load is behind the vector unit now
    with pytest.raises(ValueError):
        ex.fast_forward(a, b, 3)
    ex.fast_forward(c, d, 3)
    stats = ex.stats()
    assert stats.busy == {"memory": 1000, "matrix": 0, "vector": 6 * step}
    assert stats.cycles == 1000 + 5 * step          # the settled MISC started at 1000
    assert stats.actions[engine.target.vector.op_action] == 6 * 64


def test_a_program_never_skips():
    """Mapping into a Program records every instruction (what disassembly and the FlightLLM
    compiler read)."""
    target = _target("int8-systolic")
    op = _op(OpKind.ATTN_SCORE, 1, 128, 1000, 32, 32)
    bits = OperandBits("int8", 8, 8, 8)
    program = map_matrix(op, bits, target)
    assert isinstance(program, Program)
    assert sum(ins.opcode is Opcode.MATVEC for ins in program.instrs) == 32 * 2


def test_a_role_handed_to_another_token_is_not_resting():
    """A role whose token changes but whose release time happens to stay the same (a barrier
    releasing with the load it waits for) is moving in disguise: no skip."""
    engine = Engine(_target("int8-systolic"))
    ex = engine.execution()
    x = ex.emit(Instr(Opcode.LOAD, buffer="inputs", bytes=int(engine.bytes_per_cycle * 100)))
    y = ex.emit(Instr(Opcode.SYNC, waits=(x,)))          # released with x, another token
    a = ex.snapshot((x, y))
    z = ex.emit(Instr(Opcode.LOAD, waits=(x,), buffer="inputs", bytes=int(engine.bytes_per_cycle * 100)))
    b = ex.snapshot((y, z))
    assert ex.end[x] == ex.end[y] and ex.period_shift(a, b) is None


def test_grouped_query_heads_share_kv_within_each_sequence():
    """Two sequences of 9 query heads over 3 KV heads: 6 KV slabs, so the K/V bytes of the
    batch are twice one sequence's (not shared across sequences)."""
    target = _target("int8-systolic")
    bits = OperandBits("int8", 8, 8, 8)

    def kv_bytes(batch: int) -> int:
        op = Op("t", OpKind.ATTN_SCORE, 0, Phase.DECODE, 0, ((batch, 1, 64),), ((batch, 1, 300),),
                "float16", m=1, k=64, n=300, batch=batch, heads=9, kv_heads=3)
        program = map_matrix(op, bits, target)
        return sum(i.bytes for i in program.instrs if i.opcode is Opcode.LOAD and i.operand == "b")

    assert kv_bytes(18) == 2 * kv_bytes(9)
    assert kv_bytes(9) == 3 * 64 * 300       # one K slab per KV head, int8
