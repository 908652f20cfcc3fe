"""Compile one forward step of a model into a FlightLLM binary program, and decode one back.

A step (a prefill of P tokens, or one decode step at context L) is its trace ops mapped group by
group (:meth:`sim.simulate.Simulator.program`: a matrix op with the element-wise ops fused into
it, or one vector op) and joined into one :class:`~mapping.program.Program` — the in-memory
program: a decode step by always-on-chip decode (:mod:`sim.flightllm.overlap`, barriers between
layers), a prefill step (or any step with ``overlap=False``) with a SYS barrier between groups. Its instructions are then encoded
(:mod:`sim.flightllm.isa`), with waits as dependency tokens (:mod:`sim.flightllm.tokens`) and
every load and store given an HBM address:

* weights: one region per linear op (by name), the LM head and each embedding table (the rows
  a step gathers), in order of first use;
* KV cache: one K and one V region per layer;
* activations (every other operand: inputs, outputs, spilled partial sums, fused operands): two
  scratch regions used by alternate groups, each as large as the largest group needs. The trace
  does not say which op produced which tensor, so a consumer's input is not aliased to its
  producer's output, and the K/V rows a decode step writes back land in scratch rather than at
  their row of the cache region; this changes addresses only, not bytes or cycles.

Inside a region a tensor is laid out tile by tile as the program's tiling reads it
(``Instr.offset``); regions start on :data:`ALIGN`-byte boundaries and must fit the target's
memory. :func:`decode_program` turns words back into a program that runs in exactly the cycles
of the in-memory one (``tests/sim/test_flightllm_compiler.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.errors import UserError
from mapping.mapper import misc_ops_per_element
from mapping.program import Instr, Opcode, Program
from models.trace.ops import Op, OpKind, Phase
from sim.flightllm import isa
from sim.flightllm.overlap import join_overlapped, stays_on_chip
from sim.flightllm.tokens import MODULE_OF, Tokens, from_tokens, to_tokens
from sim.numerics import Numerics
from sim.simulate import Simulator, fusion_groups
from spec.schema import TargetSpec

ALIGN = 4096
"""Every HBM region starts on a 4 KiB boundary."""
ADDRESS_BITS = isa.field_of("LD", "hbm_address").width
MEMORY = (Opcode.LOAD, Opcode.STORE)
OPCODE_OF = {"LD": Opcode.LOAD, "ST": Opcode.STORE, "MM": Opcode.MATMUL, "MV": Opcode.MATVEC,
             "MISC": Opcode.MISC, "SYS": Opcode.SYNC}


@dataclass
class Compiled:
    """One compiled step: the in-memory program, its words, and where its tensors live.
    ``regions``: (name, HBM base, bytes) of every region, in address order."""

    program: Program
    words: np.ndarray
    precisions: tuple[str, ...]
    regions: list[tuple[str, int, int]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Instructions per kind (LD, ST, MM, MV, MISC, SYS)."""
        return instruction_counts(self.program)

    @property
    def nbytes(self) -> int:
        return int(self.words.size) * 4


def instruction_counts(program: Program) -> dict[str, int]:
    """Instructions of ``program`` per kind (LD, ST, MM, MV, MISC, SYS)."""
    found = Counter(MODULE_OF[ins.opcode] for ins in program.instrs)
    return {kind: found.get(kind, 0) for kind in isa.WORDS}


def program_words(program: Program) -> int:
    """32-bit words ``program`` encodes to."""
    return sum(isa.WORDS[kind] * n for kind, n in instruction_counts(program).items())


def _persistent(head: Op, operand: str) -> str | None:
    """The persistent region an operand of ``head`` lives in, or ``None`` (activations)."""
    if head.kind is OpKind.EMBEDDING and operand == "in":
        return f"weights.{head.name}"          # the rows it gathers from its table
    if operand != "b" or not head.is_matrix:
        return None
    if head.kind is OpKind.ATTN_SCORE:
        return f"kv.{head.layer}.k"
    if head.kind is OpKind.ATTN_VALUE:
        return f"kv.{head.layer}.v"
    return f"weights.{head.name}"


def _extents(program: Program) -> dict[str, int]:
    """Bytes each operand of a group's program spans (its last tile's end)."""
    span: dict[str, int] = {}
    for ins in program.instrs:
        if ins.opcode in MEMORY:
            span[ins.operand] = max(span.get(ins.operand, 0), ins.offset + ins.bytes)
    return span


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


class _AddressMap:
    """Region bases: persistent regions by name (weights first, then KV), two scratch regions."""

    def __init__(self, groups: Sequence[tuple[Op, Program]]):
        weights: dict[str, int] = {}
        kv: dict[str, int] = {}
        scratch = 0
        for head, program in groups:
            local = 0
            for operand, size in _extents(program).items():
                name = _persistent(head, operand)
                if name is None:
                    local += _align(size)
                else:
                    table = kv if name.startswith("kv.") else weights
                    table[name] = max(table.get(name, 0), _align(size))
            scratch = max(scratch, local)
        self.base: dict[str, int] = {}
        self.regions: list[tuple[str, int, int]] = []
        at = 0
        for name, size in [*weights.items(), *kv.items(), ("scratch.0", scratch), ("scratch.1", scratch)]:
            self.base[name] = at
            self.regions.append((name, at, size))
            at += size
        self.end = at

    def place(self, index: int, head: Op, program: Program) -> list[int]:
        """HBM address of each instruction of group ``index`` (0 where it moves no data)."""
        scratch = self.base[f"scratch.{index % 2}"]
        local: dict[str, int] = {}
        for operand, size in _extents(program).items():
            if _persistent(head, operand) is None:
                local[operand] = scratch
                scratch += _align(size)
        out = []
        for ins in program.instrs:
            if ins.opcode not in MEMORY:
                out.append(0)
                continue
            name = _persistent(head, ins.operand)
            out.append((self.base[name] if name else local[ins.operand]) + ins.offset)
        return out


def step_program(ops: Sequence[Op], target: TargetSpec, numerics: Numerics, *, overlap: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> tuple[Program, list[int], _AddressMap]:
    """The in-memory program of a step, each instruction's HBM address, and the address map.
    Groups are joined by SYS barriers; with ``overlap`` a decode step is joined as
    :func:`sim.flightllm.overlap.join_overlapped` describes (barriers between layers only,
    activations on chip, weight prefetch). A prefill step is always joined by barriers."""
    sim = Simulator(target, numerics)
    cache: dict[tuple, Program] = {}
    groups: list[tuple[Op, Program]] = []
    ops = list(ops)
    spans = list(fusion_groups(ops, target))
    for done, (start, stop) in enumerate(spans):
        group = ops[start:stop]
        key = sim.key(group)
        if key not in cache:
            cache[key] = sim.program(group)
        groups.append((group[0], cache[key]))
        if progress is not None and done % 256 == 0:
            progress(done, 2 * len(spans))
    memory = _AddressMap(groups)
    placed = [memory.place(g, head, program) for g, (head, program) in enumerate(groups)]
    if progress is not None:
        progress(len(spans), 2 * len(spans))
    if overlap and all(op.phase is Phase.DECODE for op in ops):
        b = target.buffers
        step, entries = join_overlapped(groups, 2 if b.weights.double_buffered else 1,
                                        2 if b.outputs.double_buffered and b.inputs.double_buffered else 1)
        addresses = [0 if i < 0 else placed[g][i] for g, i in entries]
    else:
        step = Program()
        addresses: list[int] = []
        for (_, program), where in zip(groups, placed, strict=True):
            if step.instrs:
                addresses.append(0)     # the barrier Program.extend inserts
            addresses.extend(where)
            step.extend(program)
    if progress is not None:
        progress(2 * len(spans), 2 * len(spans))
    return step, addresses, memory


class WordCounter:
    """Words of step programs without building them: each op group's words are counted once
    per distinct group (as :meth:`sim.simulate.Simulator.key` identifies it), so counting the
    programs of thousands of lengths maps only the groups whose shapes change. Equal to
    ``compile_step(...).words.size`` (``tests/sim/test_flightllm_compiler.py``)."""

    def __init__(self, target: TargetSpec, numerics: Numerics):
        self.target = target
        self.sim = Simulator(target, numerics)
        self._cache: dict[tuple, tuple[int, int]] = {}

    def _group(self, group: list[Op]) -> tuple[int, int]:
        """(all words, words kept on chip-resident decode) of one group's program."""
        key = self.sim.key(group)
        hit = self._cache.get(key)
        if hit is None:
            words = kept = 0
            for ins in self.sim.program(group).instrs:
                n = isa.WORDS[MODULE_OF[ins.opcode]]
                words += n
                if not stays_on_chip(ins, group[0]):
                    kept += n
            hit = self._cache[key] = (words, kept)
        return hit

    def words(self, ops: Sequence[Op], *, overlap: bool = True) -> int:
        """Words of :func:`compile_step` of ``ops`` with ``overlap``."""
        ops = list(ops)
        spans = list(fusion_groups(ops, self.target))
        overlapped = overlap and all(op.phase is Phase.DECODE for op in ops)
        total = 0
        layers = []
        for start, stop in spans:
            words, kept = self._group(ops[start:stop])
            total += kept if overlapped else words
            layers.append(ops[start].layer)
        if overlapped:
            barriers = sum(1 for a, b in zip(layers, layers[1:], strict=False) if a != b)
        else:
            barriers = max(0, len(spans) - 1)
        return total + barriers * isa.WORDS["SYS"]


def _keep(density: float) -> int:
    keep = round(density * isa.SPARSITY_BLOCK)
    if not 1 <= keep <= isa.SPARSITY_BLOCK or keep != density * isa.SPARSITY_BLOCK:
        raise UserError(f"weight density {density} is not N/16 for an N of 1 … 16: the MM/MV "
                        f"instructions encode N:16 sparsity only")
    return keep


def encode_program(program: Program, addresses: Sequence[int], precisions: Sequence[str]) -> np.ndarray:
    """The words of ``program`` (``addresses``: each instruction's HBM address)."""
    tokens = to_tokens(program)
    code = {name: i for i, name in enumerate(precisions)}
    operands = {name: i for i, name in enumerate(isa.OPERANDS)}
    buffers = {name: i for i, name in enumerate(isa.BUFFERS)}
    operations = {name: i for i, name in enumerate(isa.OPERATIONS)}
    words: list[int] = []
    for ins, t, address in zip(program.instrs, tokens, addresses, strict=True):
        kind = MODULE_OF[ins.opcode]
        values = {"wait": t.wait, "release": t.release}
        if ins.opcode is Opcode.LOAD:
            values |= {"buffer": buffers[ins.buffer], "operand": operands[ins.operand], "slot": ins.slot,
                       "hbm_address": address, "length": ins.bytes}
        elif ins.opcode is Opcode.STORE:
            values |= {"operand": operands[ins.operand], "slot": ins.slot, "hbm_address": address,
                       "length": ins.bytes, "source": int(ins.from_activations)}
        elif ins.opcode in (Opcode.MATMUL, Opcode.MATVEC):
            m, k, n = ins.tile
            values |= {"precision": code[ins.precision], "keep": _keep(ins.density),
                       "first_k": int(ins.first_k), "c_slot": ins.slot, "a_slot": ins.reads[0],
                       "b_slot": ins.reads[1], "m": m, "k": k, "n": n}
        elif ins.opcode is Opcode.MISC:
            values |= {"operation": operations[ins.operation], "slot": ins.slot, "elements": ins.elements}
        words.extend(isa.encode(kind, values))
    return np.asarray(words, dtype=np.uint32)


def compile_step(ops: Sequence[Op], target: TargetSpec, numerics: Numerics, *, overlap: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> Compiled:
    """Compile the ops of one step for ``target`` (module docstring; ``overlap``: always-on-chip
    decode, :func:`step_program`)."""
    program, addresses, memory = step_program(ops, target, numerics, overlap=overlap, progress=progress)
    if memory.end > min(int(target.memory.capacity), 1 << ADDRESS_BITS):
        raise UserError(f"the program's tensors need {memory.end:,} bytes of {target.memory.kind}; "
                        f"{target.name} has {int(target.memory.capacity):,}")
    precisions = tuple(target.compute.precisions)
    if len(precisions) > 1 << isa.field_of("MM", "precision").width:
        raise UserError(f"{target.name} has {len(precisions)} precisions; MM/MV encode at most 8")
    words = encode_program(program, addresses, precisions)
    return Compiled(program, words, precisions, memory.regions)


def _choice(table: Sequence[str], value: int, what: str, at: int) -> str:
    if value >= len(table):
        raise UserError(f"word {at}: {what} code {value} is not one of {len(table)} defined")
    return table[value]


def decode_program(words: Sequence[int], target: TargetSpec, precisions: Sequence[str]) -> Program:
    """The program a word stream encodes, timed by ``target`` (its MISC costs); ``precisions``:
    the header's precision names, each of which ``target`` must have. Any inconsistency (unknown
    code, reserved bit, dangling token, an MM reading a weight slot no load filled) is a
    :class:`UserError`."""
    missing = [p for p in precisions if p not in target.compute.precisions]
    if missing:
        raise UserError(f"the program uses precision(s) {', '.join(missing)} that {target.name} lacks")
    words = [int(w) for w in words]
    fields: list[tuple[str, int, dict[str, int]]] = []
    for kind, at in isa.split(words):
        try:
            fields.append((kind, at, isa.decode_fields(kind, words[at:at + isa.WORDS[kind]])))
        except UserError as exc:
            raise UserError(f"word {at}: {exc}") from None
    opcodes = [OPCODE_OF[kind] for kind, _, _ in fields]
    waits = from_tokens(opcodes, [Tokens(f["wait"], f["release"]) for _, _, f in fields])
    out = Program()
    filled: set[int] = set()       # weight slots some earlier LD filled
    for (kind, at, f), opcode, w in zip(fields, opcodes, waits, strict=True):
        if opcode is Opcode.LOAD:
            operand = _choice(isa.OPERANDS, f["operand"], "operand", at)
            if operand == "b":
                filled.add(f["slot"])
            ins = Instr(opcode, w, buffer=_choice(isa.BUFFERS, f["buffer"], "buffer", at),
                        bytes=f["length"], operand=operand, slot=f["slot"])
        elif opcode is Opcode.STORE:
            ins = Instr(opcode, w, buffer="outputs", bytes=f["length"],
                        operand=_choice(isa.OPERANDS, f["operand"], "operand", at), slot=f["slot"],
                        from_activations=bool(f["source"]))
        elif opcode is Opcode.MISC:
            operation = _choice(isa.OPERATIONS, f["operation"], "operation", at)
            ins = Instr(opcode, w, elements=f["elements"], operation=operation, slot=f["slot"],
                        ops_per_element=misc_ops_per_element(target, operation))
        elif opcode is Opcode.SYNC:
            ins = Instr(opcode, w)
        else:
            if f["b_slot"] not in filled:
                raise UserError(f"word {at}: {kind} reads weight slot {f['b_slot']}, which no earlier "
                                f"LD filled")
            if not 1 <= f["keep"] <= isa.SPARSITY_BLOCK or min(f["m"], f["k"], f["n"]) == 0:
                raise UserError(f"word {at}: {kind} tile {f['m']}×{f['k']}×{f['n']} at "
                                f"{f['keep']}:16 is not a valid tile")
            ins = Instr(opcode, w, tile=(f["m"], f["k"], f["n"]), first_k=bool(f["first_k"]),
                        precision=_choice(precisions, f["precision"], "precision", at),
                        density=f["keep"] / isa.SPARSITY_BLOCK, slot=f["c_slot"],
                        reads=(f["a_slot"], f["b_slot"]))
        out.instrs.append(ins)
    return out

