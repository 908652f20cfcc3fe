"""Trace op → :class:`~mapping.program.Program` for one target.

* Matrix products (linear, attention, LM head) are tiled by :func:`mapping.tiling.choose_tiling`
  and emitted as a loop nest (:mod:`mapping.nest`) of loads, ``matmul`` tiles (``matvec`` when
  M = 1: decode) and stores. Buffers hold two tiles when double buffered: a load into a slot waits for the last
  instruction that read the slot's previous tile, so loads overlap compute; a single-buffered
  target serialises them.
* Element-wise ops the target may fuse (``compute.fusion``) that directly follow a matrix op run
  on the vector unit on each output tile before it is stored: their input never leaves the chip;
  only their extra operands (the residual of an add, the other factor of a product) are loaded.
* Other vector ops (norm, softmax, activation, element-wise, RoPE, embedding gather) stream
  through the vector unit in chunks that fit the inputs buffer.

The batch dimension (attention heads) is the outermost loop; heads sharing a KV head (grouped
query attention) reuse a resident K/V tile.

One op's program has at most ``MAX_TILES`` tiles (vector ops: chunks); a larger op is refused
with a :class:`~core.errors.UserError` before any instruction is emitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.errors import UserError
from mapping.nest import MatrixNest, ceil_bytes
from mapping.periods import Periods, repeats
from mapping.program import Instr, InstrSink, Opcode, Program
from mapping.slots import Slots
from mapping.tiling import GemmShape, TileTimer, Tiling, choose_tiling
from models.trace.ops import Op, OpKind
from spec.schema import TargetSpec

ATTENTION = frozenset({OpKind.ATTN_SCORE, OpKind.ATTN_VALUE})
MAX_TILES = 2**22
"""Most tiles (vector ops: chunks) one op's program may have: 4 194 304, ≈ 17 M instructions,
≈ 40 s and ≈ 4.5 GB to map and run. llama2-13b's largest op at its full 4 096-token context
(down_proj on fp16-systolic) has 161 k tiles, so 26 sequences of it still map."""


@dataclass(frozen=True, slots=True)
class OperandBits:
    """Precision of one matrix op: the target precision that computes it, the storage bits per
    logical element of its activations (A), weights or KV cache (B) and outputs (scales,
    metadata and sparse compression included), and the kept fraction of weights (N:M)."""

    precision: str
    a_bits: float
    w_bits: float
    o_bits: float
    density: float = 1.0
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # hashed once: the simulator keys its memo of every trace op on it
        object.__setattr__(self, "_hash", hash((self.precision, self.a_bits, self.w_bits,
                                                self.o_bits, self.density)))

    def __hash__(self) -> int:
        return self._hash


@dataclass(frozen=True, slots=True)
class FusedOp:
    """An element-wise op executed on each output tile of the matrix op it follows."""

    kind: str
    ops_per_element: float
    extra_inputs: int       # operands beyond the fused producer's output, loaded per tile
    element_bits: int


def misc_ops_per_element(target: TargetSpec, kind: str) -> float:
    """Element-operations per element of a ``misc`` instruction computing op kind ``kind`` on
    ``target``'s vector unit; an embedding gather only moves its rows (0)."""
    if kind == OpKind.EMBEDDING.value:
        return 0.0
    return target.vector.ops_per_element[kind]


def gemm_shape(op: Op, bits: OperandBits, acc_bits: int) -> GemmShape:
    return GemmShape(op.m, op.k, op.n, bits.a_bits, bits.w_bits, bits.o_bits, acc_bits)


def matrix_opcode(op: Op) -> Opcode:
    """``matvec`` for a single-row product (decode), else ``matmul``."""
    return Opcode.MATVEC if op.m == 1 else Opcode.MATMUL


def tiling_for(shape: GemmShape, target: TargetSpec, timer: TileTimer | None = None) -> Tiling:
    """The tiling :func:`map_matrix` uses (``timer``: the matrix unit's cycles per tile)."""
    b = target.buffers
    return choose_tiling(shape, target.compute.rows, target.compute.cols, b.inputs.tile_bytes,
                         b.weights.tile_bytes, b.outputs.tile_bytes, timer, target.bytes_per_cycle)


def _refuse(op: Op, what: str, tiles: int, target: TargetSpec) -> None:
    """Refuse ``op`` (``what``: its size), whose program would exceed ``MAX_TILES`` tiles."""
    raise UserError(f"op {op.name} ({what}) needs {tiles:,} tiles on {target.name}; one op may "
                    f"have at most {MAX_TILES:,} (≈ 40 s to simulate) — use smaller dimensions "
                    f"or a target with larger buffers")


def map_matrix(op: Op, bits: OperandBits, target: TargetSpec, fused: tuple[FusedOp, ...] = (),
               timer: TileTimer | None = None, sink: InstrSink | None = None) -> InstrSink:
    """The tiled program of a matrix product (:class:`mapping.nest.MatrixNest`), with ``fused``
    element-wise ops on its output; ``timer`` (cycles of one tile of this op on the matrix
    unit) lets the tiling search weigh compute against traffic
    (:func:`mapping.tiling.choose_tiling`). The instructions go to ``sink`` (default: a new
    :class:`Program`, returned); a sink that can skip periods
    (:class:`~mapping.program.RepeatingSink`) skips the alike heads and loop iterations."""
    shape = gemm_shape(op, bits, target.compute.accumulator_bits)
    tiling = tiling_for(shape, target, timer)
    batch = op.batch or 1
    tiles = batch * -(-op.m // tiling.tm) * -(-op.k // tiling.tk) * -(-op.n // tiling.tn)
    if tiles > MAX_TILES:
        _refuse(op, f"M {op.m}, K {op.k}, N {op.n}, batch {op.batch}", tiles, target)
    attention = op.kind in ATTENTION
    # batch = sequences × query heads; each sequence's heads share its KV heads in groups
    group = max(1, (op.heads or batch) // op.kv_heads) if attention and op.kv_heads else 1
    prog = Program() if sink is None else sink
    MatrixNest(op, bits, shape, tiling, target, fused, matrix_opcode(op), group, attention,
               prog).run()
    return prog


def map_vector(op: Op, target: TargetSpec, sink: InstrSink | None = None) -> InstrSink:
    """A vector/SFU op streamed in chunks through the inputs buffer (double buffered), into
    ``sink`` (default: a new :class:`Program`, returned; a repeating sink is given the
    boundaries between the identical middle chunks)."""
    v = target.vector
    in_elements = sum(math.prod(s) for s in op.inputs)
    out_elements = op.output_elements
    ops = misc_ops_per_element(target, op.kind.value)
    if op.kind is OpKind.EMBEDDING:       # gather one table row per token: bytes = output
        in_elements = out_elements
    work = max(in_elements, out_elements)
    bytes_per_work = (in_elements + out_elements) * v.element_bits / 8 / max(1, work)
    chunk = max(1, int(target.buffers.inputs.tile_bytes // max(bytes_per_work, 1e-9)))
    chunks = -(-work // chunk)
    if chunks > MAX_TILES:
        _refuse(op, f"{work:,} elements", chunks, target)
    slots = Slots(2 if target.buffers.inputs.double_buffered else 1)
    prog = Program() if sink is None else sink
    in_chunk = ceil_bytes(in_elements * chunk // work, v.element_bits)
    out_chunk = ceil_bytes(out_elements * chunk // work, v.element_bits)
    periods = Periods(prog) if repeats(prog) and chunks > 3 else None
    index = 0
    while index < chunks:
        start = index * chunk
        n = min(chunk, work - start)
        free = slots.claim()
        load = prog.emit(Instr(Opcode.LOAD, waits=free, buffer="inputs",
                               bytes=ceil_bytes(in_elements * n // work, v.element_bits),
                               operand="in", offset=index * in_chunk, slot=slots.slot))
        misc = prog.emit(Instr(Opcode.MISC, waits=(load,), elements=n, ops_per_element=ops,
                               operation=op.kind.value, slot=slots.slot))
        store = prog.emit(Instr(Opcode.STORE, waits=(misc,), buffer="outputs",
                                bytes=ceil_bytes(out_elements * n // work, v.element_bits),
                                operand="out", offset=index * out_chunk, slot=slots.slot))
        slots.last_user[slots.slot] = store
        index += 1
        if periods is not None and 2 <= index <= chunks - 2:   # full chunks, alike
            index += periods.offer((slots,), (), (), chunks - 1 - index)
    return prog
