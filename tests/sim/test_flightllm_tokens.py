"""FlightLLM's dependency tokens: explicit waits → wait/release masks → waits again gives the
cycle engine exactly the same cycles, on every program a real model maps to; corrupt masks are
refused."""

from __future__ import annotations

import random

import pytest

from core.errors import UserError
from mapping.mapper import OperandBits, map_matrix
from mapping.program import Instr, Opcode, Program
from models.trace.ops import Op, OpKind, Phase
from models.trace.tracer import trace_model
from sim.engine import Engine
from sim.flightllm.tokens import MASK_BITS, MODULES, Tokens, from_tokens, through_tokens, to_tokens
from sim.numerics import resolve_numerics
from sim.simulate import Simulator, fusion_groups
from sim.target import load_target


def _gemm(m: int, k: int, n: int, batch: int = 1) -> Op:
    return Op("g", OpKind.LINEAR, 0, Phase.PREFILL, 0, ((m, k),), ((m, n),), "float16",
              m=m, k=k, n=n, batch=batch)


def _assert_same_schedule(program: Program, engine: Engine) -> None:
    decoded = through_tokens(program)
    for original, ins in zip(program.instrs, decoded.instrs, strict=True):
        assert set(ins.waits) <= set(original.waits)  # only waits that were there
    assert engine.run(decoded).cycles == engine.run(program).cycles


def test_hand_example_masks():
    """LD inputs, LD weights, MM waiting for both (one LD token: the later load's, the LD module
    runs in order), ST waiting for the MM, MISC waiting for the ST and the first load (two
    tokens: MISC has waited for no LD yet)."""
    p = Program()
    a = p.emit(Instr(Opcode.LOAD, buffer="inputs", bytes=64))
    w = p.emit(Instr(Opcode.LOAD, buffer="weights", bytes=64))
    mm = p.emit(Instr(Opcode.MATMUL, waits=(a, w), tile=(4, 4, 4), precision="int8"))
    st = p.emit(Instr(Opcode.STORE, waits=(mm,), buffer="outputs", bytes=16))
    p.emit(Instr(Opcode.MISC, waits=(st, a), elements=16, ops_per_element=1.0))
    bit = {m: {o: 1 << (4 - [x for x in MODULES if x != m].index(o)) for o in MODULES if o != m}
           for m in MODULES}  # most significant bit first, as the artifact's ISA
    tokens = to_tokens(p)
    assert tokens[a] == Tokens(0, bit["LD"]["MISC"])                    # a: only MISC needs it
    assert tokens[w] == Tokens(0, bit["LD"]["MM"])                      # w: the later load
    assert tokens[mm] == Tokens(bit["MM"]["LD"], bit["MM"]["ST"])
    assert tokens[st] == Tokens(bit["ST"]["MM"], bit["ST"]["MISC"])
    assert tokens[4] == Tokens(bit["MISC"]["ST"] | bit["MISC"]["LD"], 0)
    assert from_tokens([i.opcode for i in p.instrs], tokens) == [(), (), (w,), (mm,), (a, st)]


def test_every_module_mask_has_five_bits():
    assert MASK_BITS == 5 and len(MODULES) == 6


@pytest.mark.parametrize("target", ["int8-systolic", "olive-systolic", "mixpe-w4a8", "v100s"])
@pytest.mark.parametrize("m, k, n, batch", [(32, 64, 32, 1), (32, 4096, 32, 1), (1, 4096, 11008, 1),
                                            (128, 576, 1536, 1), (300, 1000, 700, 3), (1, 64, 144, 9)])
def test_matrix_programs_keep_their_cycles(target, m, k, n, batch):
    spec = load_target(target)
    prog = map_matrix(_gemm(m, k, n, batch), OperandBits(spec.default_precision, 8, 8, 8), spec)
    _assert_same_schedule(prog, Engine(spec))


def test_a_whole_model_step_with_barriers_keeps_its_cycles():
    """Every fused op group of SmolLM2-135M (16-token prefill, 2 decode steps) on the OliVe
    array, each alone and all of one decode step chained with SYS barriers."""
    spec = load_target("olive-systolic")
    trace, _ = trace_model("smollm2-135m", 16, 2)
    sim = Simulator(spec, resolve_numerics(spec, "olive-w4a4", trace.ops))
    ops = trace.ops
    chained = Program()
    for start, stop in fusion_groups(ops, spec):
        prog = sim.program(ops[start:stop])
        _assert_same_schedule(prog, sim.engine)
        if ops[start].phase is Phase.DECODE and ops[start].step == 1:
            chained.extend(prog)
    assert sum(i.opcode is Opcode.SYNC for i in chained.instrs) > 100
    _assert_same_schedule(chained, sim.engine)


@pytest.mark.parametrize("seed", range(20))
def test_random_programs_keep_their_cycles(seed):
    """Random op programs joined by barriers, with extra random backward waits between them."""
    rng = random.Random(seed)
    spec = load_target("int8-systolic")
    engine = Engine(spec)
    prog = Program()
    for _ in range(rng.randint(1, 4)):
        part = map_matrix(_gemm(rng.choice([1, 16, 100]), rng.choice([64, 700, 5000]),
                                rng.choice([32, 300, 3000])), OperandBits("int8", 8, 8, 8), spec)
        for _ in range(rng.randint(0, 6)):
            i = len(part.instrs)
            waits = tuple(sorted(rng.sample(range(i), min(i, rng.randint(1, 4)))))
            part.emit(Instr(rng.choice([Opcode.MISC, Opcode.STORE, Opcode.LOAD]), waits=waits,
                            buffer="outputs", bytes=rng.randint(1, 9000),
                            elements=rng.randint(1, 5000), ops_per_element=2.0))
        prog.extend(part)
    _assert_same_schedule(prog, engine)


def test_bad_programs_are_refused():
    forward = Program([Instr(Opcode.LOAD, waits=(1,)), Instr(Opcode.LOAD)])
    with pytest.raises(ValueError, match="point back"):
        to_tokens(forward)
    p = Program([Instr(Opcode.LOAD), Instr(Opcode.SYNC, waits=(0,)), Instr(Opcode.LOAD),
                 Instr(Opcode.SYNC, waits=(2,))])
    with pytest.raises(ValueError, match="previous barrier 1"):
        to_tokens(p)


def test_corrupt_masks_are_refused():
    ops = [Opcode.LOAD, Opcode.MATMUL]
    with pytest.raises(UserError, match="no earlier instruction released"):
        from_tokens(ops, [Tokens(), Tokens(wait=1)])
    with pytest.raises(UserError, match="never waited for"):
        from_tokens(ops, [Tokens(release=1 << 1), Tokens()])      # LD → MM token left over
    with pytest.raises(UserError, match="exceed 5 bits"):
        from_tokens(ops, [Tokens(release=1 << 5), Tokens()])
