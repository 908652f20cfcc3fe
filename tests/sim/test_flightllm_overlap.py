"""Always-on-chip decode: one program per decode step, barriers only between layers. Its
schedule keeps the dependencies the op-by-op programs had that these tests check — data between
consecutive ops, no weight slot overwritten while a tile still reads it, no output slot
overwritten before the work on its previous contents is done — also on a target whose slow SFU
makes the hazards likely; and it is faster only by overlap: the same weight bytes stream,
activations are never read back."""

from __future__ import annotations

from collections import defaultdict

import pytest

from mapping.program import Opcode
from models.trace.tracer import decode_steps
from sim.engine import Engine
from sim.flightllm.compiler import step_program
from sim.flightllm.overlap import COMPUTE, ON_CHIP, join_overlapped
from sim.numerics import resolve_numerics
from sim.simulate import Simulator, fusion_groups
from sim.target import load_target

CASES = [("smollm2-135m", 144, "flightllm-u280"), ("llama2-7b", 512, "flightllm-u280"),
         ("opt-6.7b", 1024, "flightllm-vhk158"), ("smollm2-135m", 144, "slow-sfu")]


def _load(name):
    if name == "slow-sfu":   # one SFU lane: softmax and fused ops outlast the loads
        from tapeout.report.flightllm import _target

        return _target("flightllm-u280", {"vector.lanes": 1}, "slow-sfu")
    return load_target(name)


def _groups(model, context, target_name):
    target = _load(target_name)
    ops = decode_steps(model, [context])[context]
    numerics = resolve_numerics(target, "flightllm-w4s", ops)
    sim = Simulator(target, numerics)
    groups = [(ops[a], sim.program(ops[a:b])) for a, b in fusion_groups(ops, target)]
    return target, ops, numerics, groups


@pytest.fixture(scope="module", params=CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def joined(request):
    target, ops, numerics, groups = _groups(*request.param)
    program, entries = join_overlapped(groups, 2, 2)
    spans: list[tuple[int, int]] = []
    Engine(target).run(program, spans)
    return target, ops, numerics, groups, program, entries, spans


def test_each_op_computes_after_the_op_before_it(joined):
    _, _, _, groups, program, entries, spans = joined
    compute_end = defaultdict(int)
    compute_start = defaultdict(lambda: float("inf"))
    for (g, _), ins, (start, end) in zip(entries, program.instrs, spans, strict=True):
        if ins.opcode in COMPUTE:
            compute_end[g] = max(compute_end[g], end)
            compute_start[g] = min(compute_start[g], start)
    for g in range(1, len(groups)):
        assert compute_start[g] >= compute_end[g - 1], groups[g][0].name


def test_no_weight_slot_is_overwritten_while_a_tile_reads_it(joined):
    _, _, _, _, program, _, spans = joined
    loads = defaultdict(list)                      # slot → [(start, index)] of loads into it
    readers = defaultdict(list)                    # load index → ends of the tiles reading it
    for i, ins in enumerate(program.instrs):
        if ins.opcode is Opcode.LOAD and ins.buffer == "weights":
            loads[ins.slot].append((spans[i][0], i))
        elif ins.opcode in (Opcode.MATMUL, Opcode.MATVEC):
            filled = [w for w in ins.waits if program.instrs[w].opcode is Opcode.LOAD
                      and program.instrs[w].buffer == "weights"]
            for w in filled:
                assert program.instrs[w].slot == ins.reads[1]
                readers[w].append(spans[i][1])
    checked = 0
    for slot, found in loads.items():
        found.sort()
        for (_, first), (next_start, _) in zip(found, found[1:], strict=False):
            assert all(end <= next_start for end in readers[first]), slot
            checked += len(readers[first])
    assert checked > 0


def test_no_output_slot_is_reused_before_its_contents_are_done(joined):
    _, _, _, _, program, _, spans = joined
    contents = defaultdict(list)          # slot → [[instruction indices of one content]]
    for i, ins in enumerate(program.instrs):
        if ins.opcode in (Opcode.MATMUL, Opcode.MATVEC):
            if ins.first_k:
                contents[ins.slot].append([i])
            else:
                contents[ins.slot][-1].append(i)
        elif ins.opcode is Opcode.MISC and contents[ins.slot]:
            contents[ins.slot][-1].append(i)
        elif ins.opcode is Opcode.STORE and not ins.from_activations and contents[ins.slot]:
            contents[ins.slot][-1].append(i)
    checked = 0
    for found in contents.values():
        for done, new in zip(found, found[1:], strict=False):
            assert max(spans[i][1] for i in done) <= spans[new[0]][0]
            checked += 1
    assert checked > 0


def test_the_same_weights_stream_and_activations_stay_on_chip(joined):
    _, _, _, groups, program, _, _ = joined
    separate = [ins for _, p in groups for ins in p.instrs]

    def moved(instrs, opcode, keep=lambda ins: True):
        return sum(i.bytes for i in instrs if i.opcode is opcode and keep(i))

    weights = lambda ins: ins.buffer == "weights"  # noqa: E731
    assert moved(program.instrs, Opcode.LOAD, weights) == moved(separate, Opcode.LOAD, weights)
    assert moved(program.instrs, Opcode.STORE) == moved(separate, Opcode.STORE)   # written through
    gathers = [ins for head, p in groups if head.kind.value == "embedding" for ins in p.instrs
               if ins.opcode is Opcode.LOAD]
    activations = [ins for ins in program.instrs if ins.opcode is Opcode.LOAD and ins.operand in ON_CHIP]
    same = lambda ins: (ins.operand, ins.bytes, ins.offset)  # noqa: E731
    assert list(map(same, activations)) == list(map(same, gathers))   # only the embeddings' table rows


def test_one_barrier_per_layer_boundary(joined):
    _, ops, _, groups, program, _, _ = joined
    layers = [head.layer for head, _ in groups]
    boundaries = sum(1 for a, b in zip(layers, layers[1:], strict=False) if a != b)
    assert sum(1 for ins in program.instrs if ins.opcode is Opcode.SYNC) == boundaries


def test_overlap_is_faster_but_never_beats_the_memory_it_streams(joined):
    target, ops, numerics, _, program, _, spans = joined
    barriers, _, _ = step_program(ops, target, numerics, overlap=False)
    engine = Engine(target)
    on, off = engine.run(program), engine.run(barriers)
    assert on.cycles < off.cycles
    assert on.cycles >= on.busy["memory"] and on.cycles >= on.busy["matrix"]
    assert on.cycles == max(end for _, end in spans)
