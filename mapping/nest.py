"""The loop nest of one tiled matrix op: heads outermost, then the three loops of its tiling.

Each step of the nest computes one (m, k, n) tile: it loads the A tile and the B tile unless
they are resident, reads back spilled partial sums when the nest meets an output tile again,
and runs the tile; an output tile leaving residency is stored (with the fused element-wise ops
on it when its last K step is done) or spilled. Buffers hold two tiles when double buffered:
a load into a slot waits for the last instruction that read the slot's previous tile.

Alike iterations (:mod:`mapping.periods`): heads from the second on repeat with the KV groups
(the first head flushes no earlier output tile), and iterations 1 … trips − 2 of every loop of
the nest repeat (the first starts the loop, the last may be an edge tile). Their boundaries are
offered to a repeating sink; after a skip, :meth:`MatrixNest.advance` moves the resident
tiles' keys on as the skipped iterations would have.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mapping.periods import Periods, repeats
from mapping.program import Instr, InstrSink, Opcode
from mapping.slots import Slots
from mapping.tiling import GemmShape, Tiling

if TYPE_CHECKING:
    from mapping.mapper import FusedOp, OperandBits
    from models.trace.ops import Op
    from spec.schema import TargetSpec

_KEY_SHIFT = {  # where each dimension sits in the keys of the A tile, the B tile and the C tile
    "m": ((0, 1, 0), (0, 0, 0), (0, 1, 0, 0)),
    "k": ((0, 0, 1), (0, 1, 0), (0, 0, 0, 0)),
    "n": ((0, 0, 0), (0, 0, 1), (0, 0, 1, 0)),
}


def ceil_bytes(elements: int, bits: float) -> int:
    """Bytes of ``elements`` at ``bits`` each, rounded up."""
    return math.ceil(elements * bits / 8)


class MatrixNest:
    """The nest of ``op`` (``batch`` heads, ``kv_heads`` groups for attention) under
    ``tiling``, emitting into ``sink``; :meth:`run` emits it all."""

    def __init__(self, op: Op, bits: OperandBits, shape: GemmShape, tiling: Tiling,
                 target: TargetSpec, fused: tuple[FusedOp, ...], opcode: Opcode,
                 group: int, attention: bool, sink: InstrSink):
        self.op, self.bits, self.shape, self.tiling, self.fused = op, bits, shape, tiling, fused
        self.opcode, self.group, self.attention, self.sink = opcode, group, attention, sink
        b = target.buffers
        self.a = Slots(2 if b.inputs.double_buffered else 1)
        self.w = Slots(2 if b.weights.double_buffered else 1)
        self.c = Slots(2 if b.outputs.double_buffered else 1)
        trips = tiling.trips(shape)
        self.trips_m, self.trips_k, self.trips_n = trips["m"], trips["k"], trips["n"]
        self.sizes = {d: [min(t, total - i * t) for i in range(trips[d])]
                      for d, total, t in (("m", op.m, tiling.tm), ("k", op.k, tiling.tk),
                                          ("n", op.n, tiling.tn))}
        self.pos = tuple(tiling.order.index(d) for d in "mkn")
        # tensors in HBM are laid out tile by tile, each tile in a slot of the largest tile's size
        self.a_tile = ceil_bytes(tiling.tm * tiling.tk, shape.a_bits)
        self.w_tile = ceil_bytes(tiling.tk * tiling.tn, shape.w_bits)
        self.p_tile = ceil_bytes(tiling.tm * tiling.tn, shape.acc_bits)
        self.c_bits = fused[-1].element_bits if fused else bits.o_bits
        self.last_matmul: int | None = None
        self.c_tile: tuple | None = None      # (head, mi, ni, final) of the resident C tile
        self.c_sizes = (0, 0)
        self.loop_trips = tuple(trips[d] for d in tiling.order)
        repeating = repeats(sink)
        self.heads = Periods(sink, group) if repeating else None
        self.periods = tuple(Periods(sink) if repeating and t > 3 else None
                             for t in self.loop_trips)

    def run(self) -> None:
        """Emit every head's nest (skipping alike periods on a repeating sink), then the last
        output tile."""
        h, batch, heads = 0, self.op.batch or 1, self.heads
        while h < batch:
            if heads is not None and h >= 1:
                h += self.offer(heads, "h", batch - h)
                if h == batch:
                    break
            self.loop(0, h, ())
            h += 1
        self.flush()

    def loop(self, level: int, h: int, outer: tuple[int, ...]) -> None:
        """Loop ``level`` of the nest (0 outermost) inside the ``outer`` indices."""
        trips, found = self.loop_trips[level], self.periods[level]
        if found is not None:
            found.reset()
        i = 0
        while i < trips:
            if level == 2:
                self.step(h, (*outer, i))
            else:
                self.loop(level + 1, h, (*outer, i))
            i += 1
            if found is not None and 1 <= i <= trips - 2:
                i += self.offer(found, self.tiling.order[level], trips - 1 - i)

    def step(self, h: int, idx: tuple[int, int, int]) -> None:
        """One tile: its loads (unless resident), a spill read-back, the tile."""
        emit, shape, a, w, c = self.sink.emit, self.shape, self.a, self.w, self.c
        pm, pk, pn = self.pos
        mi, ki, ni = idx[pm], idx[pk], idx[pn]
        sizes = self.sizes
        tm, tk, tn = sizes["m"][mi], sizes["k"][ki], sizes["n"][ni]
        a.fill(emit, (h, mi, ki), "inputs", "a", ceil_bytes(tm * tk, shape.a_bits),
               ((h * self.trips_m + mi) * self.trips_k + ki) * self.a_tile)
        kv = h // self.group if self.attention else h
        w.fill(emit, (kv, ki, ni), "weights", "b", ceil_bytes(tk * tn, shape.w_bits),
               ((kv * self.trips_k + ki) * self.trips_n + ni) * self.w_tile)
        waits = [a.loaded_at, w.loaded_at]
        c_tile = self.c_tile
        if c_tile is None or c_tile[0] != h or c_tile[1] != mi or c_tile[2] != ni:
            self.flush()
            waits.extend(c.claim())
            if ki > 0:  # the nest met this C tile at K step 0: its partial sums were spilled
                waits.append(emit(Instr(
                    Opcode.LOAD, buffer="outputs", bytes=ceil_bytes(tm * tn, shape.acc_bits),
                    operand="p", offset=((h * self.trips_m + mi) * self.trips_n + ni) * self.p_tile,
                    slot=c.slot)))
        self.c_tile, self.c_sizes = (h, mi, ni, ki == self.trips_k - 1), (tm, tn)
        bits = self.bits
        self.last_matmul = last = emit(Instr(
            self.opcode, waits=tuple(waits), tile=(tm, tk, tn), first_k=ki == 0,
            precision=bits.precision, density=bits.density, slot=c.slot, reads=(a.slot, w.slot)))
        a.last_user[a.slot] = last
        w.last_user[w.slot] = last

    def flush(self) -> None:
        """Store the resident C tile: final (with fused ops) after the last K step, else a spill."""
        if self.c_tile is None:
            return
        emit, c, tiling = self.sink.emit, self.c, self.tiling
        rows, cols = self.c_sizes
        h, mi, ni, final = self.c_tile
        c_index = (h * self.trips_m + mi) * self.trips_n + ni
        wait = (self.last_matmul,)
        if final:
            extra = 0
            for f in self.fused:
                tile_bytes = ceil_bytes(tiling.tm * tiling.tn, f.element_bits)
                for _ in range(f.extra_inputs):
                    wait = wait + (emit(Instr(
                        Opcode.LOAD, buffer="inputs", bytes=ceil_bytes(rows * cols, f.element_bits),
                        operand=f"x{extra}", offset=c_index * tile_bytes)),)
                    extra += 1
                wait = (emit(Instr(Opcode.MISC, waits=wait, elements=rows * cols,
                                   ops_per_element=f.ops_per_element, operation=f.kind,
                                   slot=c.slot)),)
            size, operand = ceil_bytes(rows * cols, self.c_bits), "c"
            offset = c_index * ceil_bytes(tiling.tm * tiling.tn, self.c_bits)
        else:
            size = ceil_bytes(rows * cols, self.shape.acc_bits)
            operand, offset = "p", c_index * self.p_tile
        store = emit(Instr(Opcode.STORE, waits=wait, buffer="outputs", bytes=size,
                           operand=operand, offset=offset, slot=c.slot))
        c.last_user[c.slot] = store
        self.c_tile = None

    def offer(self, found: Periods, dim: str, remaining: int) -> int:
        """Offer this boundary of the loop over ``dim`` (``h``: heads) to ``found``: the state
        is the three buffers' slots, the loaded tiles' and the last tile's tokens, and the
        resident C tile's size and finality. Returns how many iterations were skipped, with the
        state moved on past them."""
        skipped = found.offer((self.a, self.w, self.c),
                              (self.a.loaded_at, self.w.loaded_at, self.last_matmul),
                              (self.c_sizes, None if self.c_tile is None else self.c_tile[3]),
                              remaining)
        if skipped:
            self.advance(dim, skipped)
        return skipped

    def advance(self, dim: str, by: int) -> None:
        """Move the resident tiles' keys ``by`` iterations along ``dim`` (``h``: heads, a
        multiple of the KV group)."""
        a, w, c = self.a.current, self.w.current, self.c_tile
        if dim == "h":
            self.a.current = a and (a[0] + by, *a[1:])
            self.w.current = w and (w[0] + by // self.group, *w[1:])
            self.c_tile = c and (c[0] + by, *c[1:])
            return
        da, dw, dc = _KEY_SHIFT[dim]
        self.a.current = a and tuple(x + by * d for x, d in zip(a, da, strict=True))
        self.w.current = w and tuple(x + by * d for x, d in zip(w, dw, strict=True))
        self.c_tile = c and tuple(x + by * d for x, d in zip(c, dc, strict=True))
