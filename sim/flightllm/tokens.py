"""FlightLLM's dependency tokens: each instruction's wait and release masks between the six
hardware modules (papers/flightllm.md, ISA: 5-bit wait/release masks act as dependency tokens
between six hardware modules), converted from and to the explicit waits of a
:class:`mapping.program.Program`.

Modules: ``LD`` (loads), ``ST`` (stores), ``MM`` (matrix-matrix), ``MV`` (matrix-vector),
``MISC`` (SFU work) and ``SYS`` (barriers), each executing its instructions in program order.
For every ordered pair of modules (A → B) there is a FIFO of tokens: an A instruction with B in
its release mask pushes one token when it completes; a B instruction with A in its wait mask pops
one before it starts. A mask has one bit per *other* module (5 bits, in :data:`MODULES` order
from the most significant bit, with the instruction's own module skipped).

From explicit waits (:func:`to_tokens`), each instruction keeps, per other module, only what
in-order execution does not already guarantee:

1. a wait on its own module's instructions is dropped (that module runs in order);
2. of several waits on one module only the latest is kept (that module runs in order);
3. a wait is dropped if an earlier instruction of its own module already waited for the same or
   a later instruction of that module (its own module runs in order after that one).

So every token has exactly one consumer, and a channel's tokens are consumed in the order they
were released. ``SYS`` barriers run in order too: each barrier must wait for the previous one
(:meth:`mapping.program.Program.extend` makes every barrier wait for everything before it), and
:func:`from_tokens` restores that wait explicitly. The waits it recovers are a subset of the
original ones whose every dropped wait is implied by unit order — so the cycle engine
(:mod:`sim.engine`, whose memory, matrix and vector units run in program order) gives the same
cycles for both (``tests/sim/test_flightllm_tokens.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import UserError
from mapping.program import Opcode, Program

MODULES = ("LD", "ST", "MM", "MV", "MISC", "SYS")
"""The hardware modules, in mask bit order."""
MODULE_OF = {Opcode.LOAD: "LD", Opcode.STORE: "ST", Opcode.MATMUL: "MM", Opcode.MATVEC: "MV",
             Opcode.MISC: "MISC", Opcode.SYNC: "SYS"}
"""The module that executes each instruction kind."""
MASK_BITS = len(MODULES) - 1
"""Bits of a wait or release mask: one per other module."""
BARRIER = "SYS"


def others(module: str) -> tuple[str, ...]:
    """The modules a ``module`` instruction's mask bits name, most significant bit first (the
    artifact's order: an LD's bit 4 is ST, its bit 0 SYS)."""
    return tuple(m for m in MODULES if m != module)


_BITS = {(m, o): 1 << (MASK_BITS - 1 - others(m).index(o)) for m in MODULES for o in others(m)}


def _bit(module: str, other: str) -> int:
    """The mask bit of ``other`` in a ``module`` instruction's masks."""
    return _BITS[module, other]


def named(module: str, mask: int) -> list[str]:
    """The modules set in ``mask`` of a ``module`` instruction, in :data:`MODULES` order."""
    return [other for other in others(module) if mask & _bit(module, other)]


@dataclass(frozen=True, slots=True)
class Tokens:
    """One instruction's masks: the modules it waits for a token from, and releases one to."""

    wait: int = 0
    release: int = 0


def to_tokens(program: Program) -> list[Tokens]:
    """The wait and release masks of every instruction of ``program`` (rules in the module
    docstring); a wait that does not point back, or a barrier that does not wait for the
    previous barrier, is a ``ValueError``."""
    modules = [MODULE_OF[ins.opcode] for ins in program.instrs]
    wait = [0] * len(modules)
    release = [0] * len(modules)
    waited: dict[tuple[str, str], int] = {}  # (consumer module, producer module) → latest producer
    last_barrier = -1
    for i, ins in enumerate(program.instrs):
        own = modules[i]
        if any(w >= i or w < 0 for w in ins.waits):
            raise ValueError(f"instruction {i} waits for {ins.waits}: waits must point back")
        if own == BARRIER:
            if last_barrier >= 0 and last_barrier not in ins.waits:
                raise ValueError(f"barrier {i} does not wait for the previous barrier {last_barrier}")
            last_barrier = i
        latest: dict[str, int] = {}
        for w in ins.waits:
            if modules[w] != own and w > latest.get(modules[w], -1):
                latest[modules[w]] = w
        for producer_module, p in latest.items():
            if p <= waited.get((own, producer_module), -1):
                continue
            waited[own, producer_module] = p
            wait[i] |= _bit(own, producer_module)
            release[p] |= _bit(producer_module, own)
    return [Tokens(w, r) for w, r in zip(wait, release, strict=True)]


def from_tokens(opcodes: Sequence[Opcode], tokens: Sequence[Tokens]) -> list[tuple[int, ...]]:
    """Each instruction's explicit waits from the masks: the producer of every token it pops,
    and for a barrier the previous barrier. A token popped from an empty channel, a mask with
    bits beyond :data:`MASK_BITS`, or a token never consumed is a :class:`UserError` (a corrupt
    program)."""
    channels: dict[tuple[str, str], deque[int]] = {}
    waits: list[tuple[int, ...]] = []
    last_barrier = -1
    limit = 1 << MASK_BITS
    for i, (opcode, t) in enumerate(zip(opcodes, tokens, strict=True)):
        own = MODULE_OF[opcode]
        if not (0 <= t.wait < limit and 0 <= t.release < limit):
            raise UserError(f"instruction {i}: masks {t.wait:#x}/{t.release:#x} exceed {MASK_BITS} bits")
        got = []
        for producer_module in named(own, t.wait):
            queue = channels.get((producer_module, own))
            if not queue:
                raise UserError(f"instruction {i} ({own}) waits for a token from {producer_module} "
                                f"that no earlier instruction released")
            got.append(queue.popleft())
        if own == BARRIER:
            if last_barrier >= 0:
                got.append(last_barrier)
            last_barrier = i
        waits.append(tuple(sorted(got)))
        for consumer in named(own, t.release):
            channels.setdefault((own, consumer), deque()).append(i)
    left = {pair: len(q) for pair, q in channels.items() if q}
    if left:
        shown = ", ".join(f"{a}→{b}: {n}" for (a, b), n in sorted(left.items()))
        raise UserError(f"tokens released but never waited for ({shown})")
    return waits


def through_tokens(program: Program) -> Program:
    """``program`` with its waits as the masks express them (encode, then decode)."""
    waits = from_tokens([ins.opcode for ins in program.instrs], to_tokens(program))
    return Program([ins.moved(w) for ins, w in zip(program.instrs, waits, strict=True)])
