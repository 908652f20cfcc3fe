"""Trace op → :class:`~mapping.program.Program` for one target.

* Matrix products (linear, attention, LM head) are tiled by :func:`mapping.tiling.choose_tiling`
  and emitted as a loop nest of loads, ``matmul`` tiles (``matvec`` when M = 1: decode) and
  stores. Buffers hold two tiles when double buffered: a load into a slot waits for the last
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
from itertools import product

from core.errors import UserError
from mapping.program import Instr, Opcode, Program
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


class _Slots:
    """Double- (or single-) buffered slots of one buffer: which tile each holds, who read it last."""

    def __init__(self, count: int):
        self.count = count
        self.current: object = None
        self.loaded_at = -1
        self.next = 0
        self.last_user: list[int | None] = [None] * count
        self.slot = 0

    def claim(self) -> tuple[int, ...]:
        """Take the next slot for a new tile; returns the token that frees it (if any)."""
        self.slot = self.next
        self.next = (self.next + 1) % self.count
        user = self.last_user[self.slot]
        return () if user is None else (user,)


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


def _ceil_bytes(elements: int, bits: float) -> int:
    return math.ceil(elements * bits / 8)


def _check_tiles(op: Op, what: str, tiles: int, target: TargetSpec) -> None:
    """Refuse ``op`` (``what``: its size) when its program would exceed ``MAX_TILES`` tiles."""
    if tiles > MAX_TILES:
        raise UserError(f"op {op.name} ({what}) needs {tiles:,} tiles on {target.name}; one op may "
                        f"have at most {MAX_TILES:,} (≈ 40 s to simulate) — use smaller dimensions "
                        f"or a target with larger buffers")


def map_matrix(op: Op, bits: OperandBits, target: TargetSpec, fused: tuple[FusedOp, ...] = (),
               timer: TileTimer | None = None) -> Program:
    """The tiled program of a matrix product, with ``fused`` element-wise ops on its output;
    ``timer`` (cycles of one tile of this op on the matrix unit) lets the tiling search weigh
    compute against traffic (:func:`mapping.tiling.choose_tiling`)."""
    shape = gemm_shape(op, bits, target.compute.accumulator_bits)
    tiling = tiling_for(shape, target, timer)
    trips = tiling.trips(shape)
    _check_tiles(op, f"M {op.m}, K {op.k}, N {op.n}, batch {op.batch}",
                 (op.batch or 1) * math.prod(trips.values()), target)
    b = target.buffers
    a_slots = _Slots(2 if b.inputs.double_buffered else 1)
    w_slots = _Slots(2 if b.weights.double_buffered else 1)
    c_slots = _Slots(2 if b.outputs.double_buffered else 1)
    prog = Program()
    opcode = matrix_opcode(op)
    batch = op.batch or 1
    group = batch // op.kv_heads if op.kind in ATTENTION and op.kv_heads else 1
    extent = {"m": (op.m, tiling.tm), "k": (op.k, tiling.tk), "n": (op.n, tiling.tn)}
    last_matmul: int | None = None
    c_tile: tuple | None = None
    c_sizes = (0, 0)
    visited: set[tuple] = set()
    # tensors in HBM are laid out tile by tile, each tile in a slot of the largest tile's size
    a_tile = _ceil_bytes(tiling.tm * tiling.tk, shape.a_bits)
    w_tile = _ceil_bytes(tiling.tk * tiling.tn, shape.w_bits)
    p_tile = _ceil_bytes(tiling.tm * tiling.tn, shape.acc_bits)
    c_bits = fused[-1].element_bits if fused else bits.o_bits
    trips_m, trips_k, trips_n = trips["m"], trips["k"], trips["n"]

    def flush_c() -> None:
        """Store the resident C tile: final (with fused ops) after the last K step, else a spill."""
        nonlocal c_tile
        if c_tile is None:
            return
        rows, cols = c_sizes
        h, mi, ni, final = c_tile
        c_index = (h * trips_m + mi) * trips_n + ni
        wait = (last_matmul,)
        if final:
            extra = 0
            for f in fused:
                tile_bytes = _ceil_bytes(tiling.tm * tiling.tn, f.element_bits)
                for _ in range(f.extra_inputs):
                    wait = wait + (prog.emit(Instr(
                        Opcode.LOAD, buffer="inputs", bytes=_ceil_bytes(rows * cols, f.element_bits),
                        operand=f"x{extra}", offset=c_index * tile_bytes)),)
                    extra += 1
                wait = (prog.emit(Instr(Opcode.MISC, waits=wait, elements=rows * cols,
                                        ops_per_element=f.ops_per_element, operation=f.kind,
                                        slot=c_slots.slot)),)
            size, operand = _ceil_bytes(rows * cols, c_bits), "c"
            offset = c_index * _ceil_bytes(tiling.tm * tiling.tn, c_bits)
        else:
            size, operand, offset = _ceil_bytes(rows * cols, shape.acc_bits), "p", c_index * p_tile
        store = prog.emit(Instr(Opcode.STORE, waits=wait, buffer="outputs", bytes=size,
                                operand=operand, offset=offset, slot=c_slots.slot))
        c_slots.last_user[c_slots.slot] = store
        c_tile = None

    sizes = {d: [min(t, total - i * t) for i in range(trips[d])] for d, (total, t) in extent.items()}
    pos = {d: tiling.order.index(d) for d in "mkn"}
    pm, pk, pn = pos["m"], pos["k"], pos["n"]
    m_sizes, k_sizes, n_sizes = sizes["m"], sizes["k"], sizes["n"]
    last_k_index = trips["k"] - 1
    nest = list(product(*(range(trips[d]) for d in tiling.order)))
    for h in range(batch):
        kv = h // group if op.kind in ATTENTION else h
        for idx in nest:
            mi, ki, ni = idx[pm], idx[pk], idx[pn]
            tm, tk, tn = m_sizes[mi], k_sizes[ki], n_sizes[ni]
            a_key = (h, mi, ki)
            if a_key != a_slots.current:
                free = a_slots.claim()
                a_slots.loaded_at = prog.emit(Instr(
                    Opcode.LOAD, waits=free, buffer="inputs", bytes=_ceil_bytes(tm * tk, shape.a_bits),
                    operand="a", offset=((h * trips_m + mi) * trips_k + ki) * a_tile,
                    slot=a_slots.slot))
                a_slots.current = a_key
            w_key = (kv, ki, ni)
            if w_key != w_slots.current:
                free = w_slots.claim()
                w_slots.loaded_at = prog.emit(Instr(
                    Opcode.LOAD, waits=free, buffer="weights", bytes=_ceil_bytes(tk * tn, shape.w_bits),
                    operand="b", offset=((kv * trips_k + ki) * trips_n + ni) * w_tile,
                    slot=w_slots.slot))
                w_slots.current = w_key
            waits = [a_slots.loaded_at, w_slots.loaded_at]
            c_key = (h, mi, ni)
            if c_tile is None or c_tile[:3] != c_key:
                flush_c()
                waits.extend(c_slots.claim())
                if c_key in visited:  # partial sums spilled earlier: read them back
                    waits.append(prog.emit(Instr(
                        Opcode.LOAD, buffer="outputs", bytes=_ceil_bytes(tm * tn, shape.acc_bits),
                        operand="p", offset=((h * trips_m + mi) * trips_n + ni) * p_tile,
                        slot=c_slots.slot)))
                visited.add(c_key)
            c_tile, c_sizes = (h, mi, ni, ki == last_k_index), (tm, tn)
            last_matmul = prog.emit(Instr(opcode, waits=tuple(waits), tile=(tm, tk, tn),
                                          first_k=ki == 0, precision=bits.precision,
                                          density=bits.density, slot=c_slots.slot,
                                          reads=(a_slots.slot, w_slots.slot)))
            a_slots.last_user[a_slots.slot] = last_matmul
            w_slots.last_user[w_slots.slot] = last_matmul
    flush_c()
    return prog


def map_vector(op: Op, target: TargetSpec) -> Program:
    """A vector/SFU op streamed in chunks through the inputs buffer (double buffered)."""
    v = target.vector
    in_elements = sum(math.prod(s) for s in op.inputs)
    out_elements = op.output_elements
    ops = misc_ops_per_element(target, op.kind.value)
    if op.kind is OpKind.EMBEDDING:       # gather one table row per token: bytes = output
        in_elements = out_elements
    work = max(in_elements, out_elements)
    bytes_per_work = (in_elements + out_elements) * v.element_bits / 8 / max(1, work)
    chunk = max(1, int(target.buffers.inputs.tile_bytes // max(bytes_per_work, 1e-9)))
    _check_tiles(op, f"{work:,} elements", -(-work // chunk), target)
    slots = _Slots(2 if target.buffers.inputs.double_buffered else 1)
    prog = Program()
    in_chunk = _ceil_bytes(in_elements * chunk // work, v.element_bits)
    out_chunk = _ceil_bytes(out_elements * chunk // work, v.element_bits)
    for index, start in enumerate(range(0, work, chunk)):
        n = min(chunk, work - start)
        free = slots.claim()
        load = prog.emit(Instr(Opcode.LOAD, waits=free, buffer="inputs",
                               bytes=_ceil_bytes(in_elements * n // work, v.element_bits),
                               operand="in", offset=index * in_chunk, slot=slots.slot))
        misc = prog.emit(Instr(Opcode.MISC, waits=(load,), elements=n, ops_per_element=ops,
                               operation=op.kind.value, slot=slots.slot))
        store = prog.emit(Instr(Opcode.STORE, waits=(misc,), buffer="outputs",
                                bytes=_ceil_bytes(out_elements * n // work, v.element_bits),
                                operand="out", offset=index * out_chunk, slot=slots.slot))
        slots.last_user[slots.slot] = store
    return prog
