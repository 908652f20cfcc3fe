"""The cycle engine: hand-computed GEMMs, the event-driven reference, the compute-model seam."""

from __future__ import annotations

import heapq
import math
import random
import sys
import types

import pytest
import yaml

from mapping.mapper import OperandBits, map_matrix
from mapping.program import UNIT_OF, Instr, Opcode, Program
from models.trace.ops import Op, OpKind, Phase
from sim.compute import ComputeModel, TileCost, get_compute_model, register_compute_model
from sim.engine import Engine
from sim.target import load_target, parse_target
from spec import TARGETS_DIR

INT8 = OperandBits("int8", 8, 8, 8)


def gemm(m: int, k: int, n: int, batch: int = 1) -> Op:
    return Op("g", OpKind.LINEAR, 0, Phase.PREFILL, 0, ((m, k),), ((m, n),), "float16",
              m=m, k=k, n=n, batch=batch)


def test_one_tile_gemm_by_hand():
    """32×64·64×32 on int8-systolic: one tile. Memory at 128 B/cycle: A 2048 B = 16 cycles,
    B 2048 B = 16, C 1024 B = 8; OS array: 1 fold × (64 + 32 + 32 − 2) = 126 cycles.
    Loads serialise on the one interface (32), then compute (126), then the store (8)."""
    target = load_target("int8-systolic")
    stats = Engine(target).run(map_matrix(gemm(32, 64, 32), INT8, target))
    assert stats.cycles == 16 + 16 + 126 + 8
    assert stats.busy["matrix"] == 126
    assert stats.busy["memory"] == 40
    assert (stats.bytes_read, stats.bytes_written) == (4096, 1024)
    assert stats.macs == 32 * 64 * 32


def test_double_buffering_overlaps_loads_with_compute():
    """Two K tiles' worth of loads on a weight-bound shape: with double buffering the second
    load runs during the first tile's compute, so the makespan is less than the serial sum."""
    target = load_target("int8-systolic")
    op = gemm(32, 4096, 32)  # B is 128 KiB: two 64 KiB weight tiles
    prog = map_matrix(op, INT8, target)
    stats = Engine(target).run(prog)
    serial = stats.busy["memory"] + stats.busy["matrix"]
    assert stats.cycles < serial
    single = target.model_copy(update={"buffers": target.buffers.model_copy(update={
        "weights": target.buffers.weights.model_copy(update={"double_buffered": False, "size": 64 * 1024}),
        "inputs": target.buffers.inputs.model_copy(update={"double_buffered": False, "size": 128 * 1024}),
        "outputs": target.buffers.outputs.model_copy(update={"double_buffered": False, "size": 64 * 1024})})})
    single_stats = Engine(single).run(map_matrix(op, INT8, single))
    assert single_stats.cycles == single_stats.busy["memory"] + single_stats.busy["matrix"]
    assert single_stats.cycles > stats.cycles


@pytest.mark.parametrize("name, tile, cycles", [
    # (m, k, n) on 32×32; the last three equal SCALE-Sim 3.0.0's "Total Cycles" + 1 (measured:
    # 139007, 389119, 4591 for the GEMMs M=1,N=4096,K=1024 and M=64,N=128,K=512)
    ("systolic-os", (9, 55, 37), 1 * 2 * (55 + 32 + 32 - 2)),
    ("systolic-os", (1, 1024, 4096), 1 * 128 * (1024 + 32 + 32 - 2)),
    ("systolic-ws", (1, 1024, 4096), 32 * 128 * (1 + 2 * 32 + 32 - 2)),
    ("systolic-os", (64, 512, 128), 2 * 4 * (512 + 32 + 32 - 2)),
])
def test_systolic_tile_formulas(name, tile, cycles):
    target = load_target("int8-systolic")
    if name == "systolic-ws":
        doc = yaml.safe_load((TARGETS_DIR / "int8-systolic.yaml").read_text())
        doc["compute"].update(model="systolic-ws", dataflow="weight-stationary")
        target = parse_target(doc, "ws")
    model = get_compute_model(target)
    cost = model.matmul(tile, target.compute.precisions["int8"], 1.0, True)
    assert cost.cycles == cycles
    assert cost.actions["mac.pe8x4.int8"] == math.prod(tile)


def test_gpu_roofline_tile():
    target = load_target("a100")
    cost = get_compute_model(target).matmul((512, 4096, 4096), target.compute.precisions["fp16"], 1.0, True)
    assert cost.cycles == math.ceil(512 * 4096 * 4096 / (110638.3 * 0.7))


def reference_schedule(program: Program, engine: Engine) -> int:
    """A heap-ordered discrete-event loop: repeatedly start, among the head instructions of the
    unit queues, those whose tokens are released, at the earliest event time."""
    durations = []
    for ins in program.instrs:
        if ins.opcode in (Opcode.LOAD, Opcode.STORE):
            durations.append(math.ceil(ins.bytes / engine.bytes_per_cycle))
        elif ins.opcode is Opcode.MISC:
            durations.append(engine.compute.vector_cycles(ins.elements, ins.ops_per_element))
        elif ins.opcode is Opcode.SYNC:
            durations.append(0)
        else:
            durations.append(engine._tile(ins.opcode, ins.tile, ins.precision, ins.density, ins.first_k)[0])
    queues: dict = {}
    for i, ins in enumerate(program.instrs):
        queues.setdefault(UNIT_OF[ins.opcode] or f"sync{i}", []).append(i)
    done: dict[int, int] = {}
    free = dict.fromkeys(queues, 0)
    events = [0]
    now = 0
    while len(done) < len(program.instrs):
        now = heapq.heappop(events)
        progress = True
        while progress:
            progress = False
            for unit, queue in queues.items():
                if queue and free[unit] <= now:
                    i = queue[0]
                    if all(w in done and done[w] <= now for w in program.instrs[i].waits):
                        queue.pop(0)
                        done[i] = now + durations[i]
                        free[unit] = done[i]
                        heapq.heappush(events, done[i])
                        progress = True
        if not events:
            pending = [q[0] for q in queues.values() if q]
            times = [done[w] for i in pending for w in program.instrs[i].waits if w in done]
            heapq.heappush(events, max(times + [now + 1]))
    return max(done.values(), default=0)


@pytest.mark.parametrize("seed", range(6))
def test_engine_equals_event_loop_reference(seed):
    rng = random.Random(seed)
    target = load_target(rng.choice(["int8-systolic", "v100s"]))
    engine = Engine(target)
    op = gemm(rng.choice([1, 16, 100]), rng.choice([64, 700, 5000]), rng.choice([32, 300, 3000]),
              batch=rng.choice([1, 3]))
    prog = map_matrix(op, OperandBits(target.default_precision, 8, 8, 8), target)
    for _ in range(rng.randint(0, 5)):  # sprinkle vector work and barriers with random tokens
        i = len(prog.instrs)
        prog.emit(Instr(Opcode.MISC, waits=(rng.randrange(i),), elements=rng.randint(1, 5000),
                        ops_per_element=2.0))
        prog.emit(Instr(Opcode.SYNC, waits=(i,)))
    assert engine.run(prog).cycles == reference_schedule(prog, engine)


def test_a_design_registers_its_compute_model_without_editing_the_engine(tmp_path):
    module = types.ModuleType("design_under_test")

    class Doubler(ComputeModel):
        """Twice the output-stationary cycles and one extra 'decoder' action per tile."""

        def matmul(self, tile, precision, density, first_k):
            base = get_compute_model(load_target("int8-systolic")).matmul(tile, precision, density, first_k)
            return TileCost(2 * base.cycles, {**base.actions, "decoder.op": 1})

    module.Doubler = Doubler
    sys.modules["design_under_test"] = module
    try:
        doc = yaml.safe_load((TARGETS_DIR / "int8-systolic.yaml").read_text())
        doc["compute"]["model"] = "design_under_test:Doubler"
        target = parse_target(doc, "doubler")
        stats = Engine(target).run(map_matrix(gemm(32, 64, 32), INT8, target))
        assert stats.busy["matrix"] == 2 * 126
        assert stats.actions["decoder.op"] == 1
        from core.errors import UserError
        from sim.numerics import resolve_numerics
        from sim.simulate import Simulator

        with pytest.raises(UserError, match="no entry for action.*decoder.op"):
            Simulator(target, resolve_numerics(target, None)).run_group([gemm(32, 64, 32)])
        register_compute_model("doubler-test")(Doubler)
        doc["compute"]["model"] = "doubler-test"
        assert Engine(parse_target(doc, "doubler")).run(map_matrix(gemm(32, 64, 32), INT8, target)).busy["matrix"] == 252
    finally:
        del sys.modules["design_under_test"]


def test_unknown_compute_model_is_a_user_error():
    doc = yaml.safe_load((TARGETS_DIR / "int8-systolic.yaml").read_text())
    doc["compute"]["model"] = "warp-drive"
    from core.errors import UserError

    with pytest.raises(UserError, match="unknown compute model 'warp-drive'"):
        get_compute_model(parse_target(doc, "x"))


def test_nm_sparsity_only_where_the_array_supports_it():
    doc = yaml.safe_load((TARGETS_DIR / "int8-systolic.yaml").read_text())
    dense = get_compute_model(parse_target(doc, "dense"))
    doc["compute"]["sparsity"] = {"pattern": "n:m", "m": 16, "n": [2, 4, 8, 16]}
    sparse_target = parse_target(doc, "sparse")
    sparse = get_compute_model(sparse_target)
    int8 = sparse_target.compute.precisions["int8"]
    half = sparse.matmul((32, 64, 32), int8, 0.5, True)
    assert half.cycles == 32 + 32 + 32 - 2                 # K steps halved: 64 → 32
    assert half.actions["mac.pe8x4.int8"] == 32 * 64 * 32 / 2
    assert dense.matmul((32, 64, 32), int8, 0.5, True).cycles == 64 + 62   # zeros still multiplied


def test_moving_an_instruction_keeps_every_field():
    import dataclasses

    from mapping.program import Instr, Opcode

    values = {"opcode": Opcode.MATVEC, "waits": (1,), "buffer": "weights", "bytes": 7, "tile": (1, 2, 3),
              "first_k": False, "elements": 5, "ops_per_element": 2.5, "precision": "int8", "density": 0.25,
              "operation": "norm", "operand": "b", "offset": 64, "slot": 1, "reads": (1, 0),
              "from_activations": True}
    assert set(values) == {f.name for f in dataclasses.fields(Instr)}   # a new field needs a value here
    ins = Instr(**values)
    assert ins.moved((4, 5)) == dataclasses.replace(ins, waits=(4, 5))
    assert ins.moved((), slot=0, reads=(0, 1), from_activations=False) == dataclasses.replace(
        ins, waits=(), slot=0, reads=(0, 1), from_activations=False)
