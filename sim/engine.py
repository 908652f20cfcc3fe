"""The one cycle engine: executes a :class:`~mapping.program.Program` on a target's units.

Units — memory (loads and stores: one off-chip interface), matrix, vector — each run their
instructions in program order; an
instruction starts when its unit is free and every token it waits for has been released (the
completion of the instruction that releases it). Events are instruction completions; because
every unit is in order and tokens only point backwards, processing instructions in program order
and starting each at ``max(unit free, tokens released)`` visits the events in a valid order and
gives exactly the event-driven schedule (``tests/sim/test_engine.py`` checks it against a
heap-ordered event loop).

Durations: load/store ``⌈bytes / (bandwidth × efficiency)⌉`` cycles (bytes per cycle from the
target); matrix tiles from the target's compute model; vector work ``⌈elements · ops / lanes⌉``.
Stall cycles of a program = makespan − busy cycles of its compute unit.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from mapping.program import UNIT_OF, Opcode, Program, Unit
from sim.compute import ComputeModel, get_compute_model
from spec.schema import TargetSpec


@dataclass
class ProgramStats:
    """What one program did. ``cycles``: makespan; ``busy``: cycles each unit worked;
    ``bytes_read``/``bytes_written``: off-chip bytes; ``actions``: energy actions (action →
    count: MACs executed, bits, ops); ``macs``: the dense multiply-accumulates of the tiles."""

    cycles: int = 0
    busy: dict[str, int] = field(default_factory=dict)
    bytes_read: int = 0
    bytes_written: int = 0
    macs: float = 0.0
    actions: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class MatrixTileTimer:
    """Cycles of one tile of a matrix op on an engine's compute model — the
    :class:`mapping.tiling.TileTimer` the tiling search uses."""

    engine: Engine
    opcode: Opcode
    precision: str
    density: float

    def __call__(self, tile: tuple[int, int, int]) -> int:
        return self.engine._tile(self.opcode, tile, self.precision, self.density, True)[0]


class Engine:
    """Runs programs for one target. Tile costs are cached per (opcode, tile, precision,
    density, first_k): the compute model is a pure function of them."""

    def __init__(self, target: TargetSpec, compute: ComputeModel | None = None):
        self.target = target
        self.compute = compute or get_compute_model(target)
        self.bytes_per_cycle = target.bytes_per_cycle
        self._tile_cache: dict[tuple, tuple] = {}
        mem = target.memory
        self._read_action, self._write_action = mem.read_action, mem.write_action
        self._op_action = target.vector.op_action

    def _tile(self, opcode: Opcode, tile, precision: str, density: float, first_k: bool):
        key = (opcode, tile, precision, density, first_k)
        hit = self._tile_cache.get(key)
        if hit is None:
            prec = self.target.compute.precisions[precision]
            fn = self.compute.matvec if opcode is Opcode.MATVEC else self.compute.matmul
            cost = fn(tile, prec, density, first_k)
            hit = (cost.cycles, tuple(cost.actions.items()), tile[0] * tile[1] * tile[2])
            self._tile_cache[key] = hit
        return hit

    def run(self, program: Program, spans: list[tuple[int, int]] | None = None) -> ProgramStats:
        """Execute ``program``: its makespan, unit busy cycles, off-chip bytes and actions;
        ``spans``, when given, receives each instruction's (start, end) cycles (a barrier's are
        both when its last token arrives)."""
        free = dict.fromkeys(Unit, 0)
        busy = dict.fromkeys(Unit, 0)
        moved: Counter = Counter()       # (opcode, buffer) → off-chip bytes
        actions: Counter = Counter()
        sfu_ops = macs = 0.0
        end: list[int] = []
        bpc = self.bytes_per_cycle
        vector_cycles = self.compute.vector_cycles
        for ins in program.instrs:
            op = ins.opcode
            if op is Opcode.LOAD or op is Opcode.STORE:
                duration = math.ceil(ins.bytes / bpc)
                moved[op, ins.buffer] += ins.bytes
            elif op is Opcode.MISC:
                duration = vector_cycles(ins.elements, ins.ops_per_element)
                sfu_ops += ins.elements * ins.ops_per_element
            elif op is Opcode.SYNC:
                duration = 0
            else:
                duration, tile_actions, tile_macs = self._tile(op, ins.tile, ins.precision,
                                                               ins.density, ins.first_k)
                macs += tile_macs
                actions[tile_actions] += 1
            ready = 0
            for w in ins.waits:
                if end[w] > ready:
                    ready = end[w]
            unit = UNIT_OF[op]
            if unit is not None:
                start = free[unit]
                if ready > start:
                    start = ready
                free[unit] = start + duration
                busy[unit] += duration
                end.append(start + duration)
            else:
                start = ready
                end.append(ready)
            if spans is not None:
                spans.append((start, end[-1]))
        return self._stats(end, busy, moved, actions, sfu_ops, macs)

    def _stats(self, end, busy, moved, tiles, sfu_ops, macs) -> ProgramStats:
        stats = ProgramStats(cycles=max(end, default=0), busy={u.value: c for u, c in busy.items()},
                             macs=macs)
        acts = stats.actions
        for (op, buffer), nbytes in moved.items():
            if op is Opcode.LOAD:
                stats.bytes_read += nbytes
                acts[self._read_action] += nbytes * 8
                acts[f"sram.{buffer}.write"] += nbytes * 8
            else:
                stats.bytes_written += nbytes
                acts[self._write_action] += nbytes * 8
                acts[f"sram.{buffer}.read"] += nbytes * 8
        if sfu_ops:
            acts[self._op_action] += sfu_ops
        for tile_actions, count in tiles.items():
            for action, value in tile_actions:
                acts[action] += value * count
        return stats
