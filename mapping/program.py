"""Programs: the coarse instruction streams the cycle engine executes (DESIGN.md contract 4).

An instruction runs on one unit and may wait for the completion tokens of earlier instructions
— FlightLLM's wait/release masks between hardware modules, here as the indices of the
instructions whose completion it waits for. Each unit executes its own instructions in program
order. Loads and stores go through one off-chip unit (``memory``): they share the interface's
bandwidth, so they never overlap each other; matrix and vector units run beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class Opcode(StrEnum):
    LOAD = "load"        # off-chip → buffer: ``bytes`` into ``buffer``
    STORE = "store"      # buffer → off-chip: ``bytes`` from ``buffer``
    MATMUL = "matmul"    # matrix-matrix tile ``tile`` = (m, k, n) on the matrix unit
    MATVEC = "matvec"    # matrix-vector tile (m = 1: decode) on the matrix unit
    MISC = "misc"        # vector/SFU work: ``elements`` × ``ops_per_element`` element-operations
    SYNC = "sync"        # barrier: completes when every token it waits for is released


class Unit(StrEnum):
    MEMORY = "memory"    # off-chip loads and stores, one interface
    MATRIX = "matrix"
    VECTOR = "vector"


UNIT_OF: dict[Opcode, Unit | None] = {
    Opcode.LOAD: Unit.MEMORY, Opcode.STORE: Unit.MEMORY, Opcode.MATMUL: Unit.MATRIX,
    Opcode.MATVEC: Unit.MATRIX, Opcode.MISC: Unit.VECTOR, Opcode.SYNC: None,
}


@dataclass(slots=True)
class Instr:
    """One coarse instruction (not frozen only because frozen dataclasses construct 2× slower;
    instructions are never mutated after ``Program.emit``).

    ``waits``: indices of earlier instructions of the same program whose completion tokens this
    one needs. ``bytes``: off-chip bytes (load/store). ``tile``: (m, k, n) elements of a matrix
    tile; ``first_k``: the tile starts a fresh accumulation (no partial sums to read back).
    ``precision``: the target precision name; ``density``: fraction of weights kept (N:M
    sparsity, 1.0 dense). ``operation``: the op kind a ``misc`` instruction computes (its cost
    per element is the target's, :func:`mapping.mapper.misc_ops_per_element`).

    Where the data lives (no effect on cycles; a compiler turns it into addresses):
    ``operand`` names the tensor a load or store moves — ``a`` (a matrix op's activations),
    ``b`` (its weights or K/V cache), ``c`` (its outputs or spilled partial sums), ``x`` (an
    extra operand of a fused element-wise op), ``in``/``out`` (a vector op's input/output);
    ``offset``: bytes from the start of that tensor, laid out tile by tile (each tile in a slot
    of the op's largest tile); ``slot``: the buffer slot (0 or 1 when double buffered) a load
    fills, a store drains, or a matrix tile accumulates into; ``reads``: the input and weight
    slots a matrix tile reads; ``from_activations``: a store writes back from the on-chip
    activations instead of draining its slot (always-on-chip decode).
    """

    opcode: Opcode
    waits: tuple[int, ...] = ()
    buffer: str | None = None
    bytes: int = 0
    tile: tuple[int, int, int] | None = None
    first_k: bool = True
    elements: int = 0
    ops_per_element: float = 0.0
    precision: str | None = None
    density: float = 1.0
    operation: str | None = None
    operand: str | None = None
    offset: int = 0
    slot: int = 0
    reads: tuple[int, int] = (0, 0)
    from_activations: bool = False

    def moved(self, waits: tuple[int, ...], slot: int | None = None, reads: tuple[int, int] | None = None,
              from_activations: bool | None = None) -> Instr:
        """A copy with new ``waits`` (and, when given, slots): what joining programs changes.
        Spelled out field by field because it runs once per instruction of every joined program
        (≈ 5× faster than :func:`dataclasses.replace`; ``tests/sim/test_engine.py`` checks that
        it keeps every field)."""
        return Instr(self.opcode, waits, self.buffer, self.bytes, self.tile, self.first_k, self.elements,
                     self.ops_per_element, self.precision, self.density, self.operation, self.operand,
                     self.offset, self.slot if slot is None else slot, self.reads if reads is None else reads,
                     self.from_activations if from_activations is None else from_activations)


class InstrSink(Protocol):
    """Where a mapper puts the instructions of one op: a :class:`Program` records them, an
    engine execution (:class:`sim.engine.Execution`) runs them as they come."""

    def emit(self, instr: Instr) -> int:
        """Take ``instr``; returns its index (the token it releases on completion)."""
        ...


@runtime_checkable
class RepeatingSink(InstrSink, Protocol):
    """A sink that can skip identical periods of a loop once its schedule is periodic (the
    engine's execution; :mod:`sim.engine` explains why that is exact)."""

    def snapshot(self, tokens: tuple[int, ...]) -> Any:
        """The state at a loop boundary; ``tokens``: every token a later instruction may wait for."""
        ...

    def period_shift(self, a: Any, b: Any) -> int | None:
        """Cycles the state moved from snapshot ``a`` to ``b`` if it moved as a whole, else ``None``."""
        ...

    def fast_forward(self, a: Any, b: Any, periods: int) -> None:
        """Skip ``periods`` more periods like the one from ``a`` to ``b`` (the current state)."""
        ...


@dataclass
class Program:
    """Instructions of one trace op, or of a matrix op with the element-wise ops fused into it."""

    instrs: list[Instr] = field(default_factory=list)

    def emit(self, instr: Instr) -> int:
        """Append ``instr``; returns its index (the token it releases on completion)."""
        self.instrs.append(instr)
        return len(self.instrs) - 1

    def __len__(self) -> int:
        return len(self.instrs)

    def extend(self, other: Program) -> None:
        """Append ``other`` after a barrier: every instruction of ``other`` waits, directly or
        through its unit's order, for the completion of everything already here."""
        if not self.instrs:
            self.instrs.extend(other.instrs)
            return
        barrier = self.emit(Instr(Opcode.SYNC, waits=tuple(range(len(self.instrs)))))
        base = len(self.instrs)
        for ins in other.instrs:
            waits = tuple(w + base for w in ins.waits) + (barrier,)
            self.instrs.append(ins.moved(waits))
