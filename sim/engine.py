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

Repetition (:class:`Execution`): a mapper streaming a loop nest into an execution may ask, at
the boundary of two identical stretches of its loop (a *period*: the same instructions, waiting
on the same live tokens), whether the schedule has become periodic. Start times are maxima of
sums, so the schedule is translation-invariant: if every input of the next period (the free
time of each unit the period uses, the release time of each token it may wait for) is the
previous period's input shifted by the same ``c`` cycles, every later identical period is the
last one shifted by ``c`` again, exactly. A token that did not move is allowed when the same
token holds its role at both boundaries and was released before every unit the period uses
became free (it can never delay anything again). The mapper promises that the periods it
offers repeat the same instructions; ``tests/sim/test_repeat.py`` holds it to that. The engine
then skips the remaining periods, adding ``c`` per period to the clocks and the periods'
counts to the totals (:meth:`Execution.fast_forward`); ``tests/sim/test_repeat.py`` checks
the result equals executing every instruction.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from mapping.program import UNIT_OF, Instr, Opcode, Program, Unit
from sim.compute import ComputeModel, get_compute_model
from spec.schema import TargetSpec

_UNITS = tuple(Unit)


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


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An execution's state at a loop boundary: instructions so far, the live tokens (the ones
    a later instruction may wait for, in the mapper's order) and their release times, each
    unit's free time, and everything counted so far (per unit, per kind; MACs)."""

    index: int
    tokens: tuple[int, ...]
    times: tuple[int, ...]
    free: tuple[int, ...]
    counts: tuple[dict, ...]     # issued, busy (per unit); moved, tiles, misc (per kind)
    macs: int


class Execution:
    """One program being executed instruction by instruction (:meth:`emit`: the
    :class:`mapping.program.InstrSink` a mapper streams into). ``spans``, when given, receives
    each instruction's (start, end) cycles (a barrier's are both when its last token arrives)."""

    def __init__(self, engine: Engine, spans: list[tuple[int, int]] | None = None):
        self.engine, self.spans = engine, spans
        self.free = dict.fromkeys(_UNITS, 0)
        self.issued = dict.fromkeys(_UNITS, 0)
        self.busy = dict.fromkeys(_UNITS, 0)
        self.moved: Counter = Counter()      # (opcode, buffer) → off-chip bytes
        self.tiles: Counter = Counter()      # a tile's actions → tiles with them
        self.misc: Counter = Counter()       # (elements, ops per element) → misc instructions
        self.macs = 0
        self.end: list[int] = []
        self._bpc = engine.bytes_per_cycle
        self._vector_cycles = engine.compute.vector_cycles
        self._tile = engine._tile

    def emit(self, ins: Instr) -> int:
        """Execute ``ins`` (after every instruction emitted before it); returns its token."""
        op = ins.opcode
        if op is Opcode.LOAD or op is Opcode.STORE:
            duration = math.ceil(ins.bytes / self._bpc)
            self.moved[op, ins.buffer] += ins.bytes
        elif op is Opcode.MISC:
            duration = self._vector_cycles(ins.elements, ins.ops_per_element)
            self.misc[ins.elements, ins.ops_per_element] += 1
        elif op is Opcode.SYNC:
            duration = 0
        else:
            duration, tile_actions, tile_macs = self._tile(op, ins.tile, ins.precision,
                                                           ins.density, ins.first_k)
            self.macs += tile_macs
            self.tiles[tile_actions] += 1
        end = self.end
        ready = 0
        for w in ins.waits:
            if end[w] > ready:
                ready = end[w]
        unit = UNIT_OF[op]
        if unit is None:
            start = ready
        else:
            free = self.free
            start = free[unit]
            if ready > start:
                start = ready
            free[unit] = start + duration
            self.busy[unit] += duration
            self.issued[unit] += 1
        end.append(start + duration)
        if self.spans is not None:
            self.spans.append((start, start + duration))
        return len(end) - 1

    def snapshot(self, tokens: tuple[int, ...]) -> Snapshot:
        """The state at a loop boundary; ``tokens``: every token a later instruction may wait for."""
        end = self.end
        return Snapshot(len(end), tokens, tuple(end[t] for t in tokens), tuple(self.free.values()),
                        (dict(self.issued), dict(self.busy), dict(self.moved), dict(self.tiles),
                         dict(self.misc)), self.macs)

    def period_shift(self, a: Snapshot, b: Snapshot) -> int | None:
        """``c`` if the period from ``a`` to ``b`` ended in ``a``'s state shifted by ``c`` cycles
        (so every later identical period is shifted by ``c`` again: module docstring); else
        ``None``. ``a`` and ``b`` must hold the same live tokens in the same roles."""
        issued_a, issued_b = a.counts[0], b.counts[0]
        used = [i for i, u in enumerate(_UNITS) if issued_b[u] > issued_a[u]]
        if not used:
            return None
        c = b.free[used[0]] - a.free[used[0]]
        if any(b.free[i] - a.free[i] != c for i in used):
            return None
        settled = min(a.free[i] for i in used)
        moving, resting = set(), set()
        for token_a, token_b, ta, tb in zip(a.tokens, b.tokens, a.times, b.times, strict=True):
            if tb - ta == c:
                moving.add(token_b)
            elif token_a == token_b and ta <= settled:
                resting.add(token_b)    # the same token, released before every unit is free
            else:
                return None
        return None if moving & resting else c

    def fast_forward(self, a: Snapshot, b: Snapshot, periods: int) -> None:
        """Skip ``periods`` more periods like the one from ``a`` to ``b`` (the current state),
        which :meth:`period_shift` accepted: the clocks, the counts and the live tokens'
        release times move on as if they had been executed."""
        c = self.period_shift(a, b)
        if c is None or b.index != len(self.end):
            raise ValueError("fast_forward: the period is not periodic, or not the last one run")
        shift = periods * c
        for unit in _UNITS:
            if b.counts[0][unit] > a.counts[0][unit]:
                self.free[unit] += shift
        for now, before, after in zip((self.issued, self.busy, self.moved, self.tiles, self.misc),
                                      a.counts, b.counts, strict=True):
            for key, value in after.items():
                delta = value - before.get(key, 0)
                if delta:
                    now[key] += periods * delta
        self.macs += periods * (b.macs - a.macs)
        end = self.end
        shifted = {t for t, ta, tb in zip(b.tokens, a.times, b.times, strict=True) if tb - ta == c}
        shifted.update(range(a.index, b.index))   # the last period run: the latest releases
        for t in shifted:
            end[t] += shift

    def stats(self) -> ProgramStats:
        """Makespan, busy cycles, off-chip bytes and actions of everything executed."""
        engine = self.engine
        stats = ProgramStats(cycles=max(self.end, default=0),
                             busy={u.value: c for u, c in self.busy.items()}, macs=float(self.macs))
        acts = stats.actions
        sram = engine._sram
        for (op, buffer), nbytes in self.moved.items():
            if op is Opcode.LOAD:
                stats.bytes_read += nbytes
                acts[engine._read_action] += nbytes * 8
                acts[sram[buffer, "write"]] += nbytes * 8
            else:
                stats.bytes_written += nbytes
                acts[engine._write_action] += nbytes * 8
                acts[sram[buffer, "read"]] += nbytes * 8
        sfu = math.fsum(count * elements * ops for (elements, ops), count in self.misc.items())
        if sfu:
            acts[engine._op_action] += sfu
        for tile_actions, count in self.tiles.items():
            for action, value in tile_actions:
                acts[action] += value * count
        return stats


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
        self._sram = {(buffer, rw): f"sram.{buffer}.{rw}" for buffer in type(target.buffers).model_fields
                      for rw in ("read", "write")}

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

    def execution(self, spans: list[tuple[int, int]] | None = None) -> Execution:
        """A fresh execution to stream instructions into (:class:`Execution`)."""
        return Execution(self, spans)

    def run(self, program: Program, spans: list[tuple[int, int]] | None = None) -> ProgramStats:
        """Execute ``program``: its makespan, unit busy cycles, off-chip bytes and actions;
        ``spans``, when given, receives each instruction's (start, end) cycles."""
        execution = Execution(self, spans)
        emit = execution.emit
        for ins in program.instrs:
            emit(ins)
        return execution.stats()
