"""FlightLLM's binary instruction set: every field of every instruction, in one place
(the format is documented in ``docs/flightllm-isa.md``).

Instructions are whole 32-bit words (papers/flightllm.md, the artifact's ISA): LD 7 words, ST 3,
MM 4, MV 4, MISC 3, SYS 1. Word 0 of every instruction starts with the 4-bit opcode (bits
31–28, the artifact's values), the 5-bit wait mask (27–23) and the 5-bit release mask (22–18):
the dependency tokens of :mod:`sim.flightllm.tokens`. The rest is ours, holding what the cycle
engine needs to time the instruction and a compiler needs to place its data:

* LD / ST: the off-chip byte address (40 bits: 1 TiB), the length in bytes, the buffer and its
  slot (the on-chip address is the slot times the buffer's slot size), and which operand of the
  op the data is (:data:`OPERANDS`); an ST's ``source`` bit says it writes back from the on-chip
  activations rather than from its output slot (always-on-chip decode).
* MM / MV: the tile's M, K, N (16 bits each), the target precision (an index into the program
  header's list), N of N:16 (16 = dense), whether the tile starts a fresh accumulation, and the
  slots it reads (A, B) and accumulates into (C).
* MISC: the operation (:data:`OPERATIONS`; its cost per element is the target's), the element
  count and the slot it works on.

Every bit no field claims is reserved and must be zero; :func:`decode_fields` refuses a word
with a reserved bit set, an unknown opcode or a truncated instruction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from core.errors import UserError

OPCODES = {"LD": 0b0001, "ST": 0b0010, "MM": 0b0011, "MV": 0b0100, "MISC": 0b0101, "SYS": 0b1111}
"""4-bit opcode of each instruction (the artifact's values)."""
KIND_OF_OPCODE = {code: kind for kind, code in OPCODES.items()}
WORDS = {"LD": 7, "ST": 3, "MM": 4, "MV": 4, "MISC": 3, "SYS": 1}
"""32-bit words of each instruction."""
WORD_BITS = 32

BUFFERS = ("weights", "inputs", "outputs")
"""On-chip buffers an LD fills (ST always drains ``outputs``), by code."""
OPERANDS = ("a", "b", "c", "p", "in", "out", "x0", "x1", "x2", "x3")
"""Which tensor an LD/ST moves, by code (:class:`mapping.program.Instr` ``operand``)."""
OPERATIONS = ("softmax", "norm", "activation", "eltwise", "rope", "embedding")
"""What a MISC instruction computes, by code (the vector op kinds of a trace)."""
SPARSITY_BLOCK = 16
"""M of N:M: the ``keep`` field holds N (1 … 16; 16 = dense)."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field: its parts as (word, high bit, low bit), least significant part first."""

    name: str
    parts: tuple[tuple[int, int, int], ...]

    @property
    def width(self) -> int:
        return sum(hi - lo + 1 for _, hi, lo in self.parts)


def _f(name: str, *parts: tuple[int, int, int]) -> Field:
    return Field(name, parts)


_HEAD = (_f("opcode", (0, 31, 28)), _f("wait", (0, 27, 23)), _f("release", (0, 22, 18)))
_MATRIX = _HEAD + (
    _f("precision", (0, 17, 15)), _f("keep", (0, 14, 10)), _f("first_k", (0, 9, 9)),
    _f("c_slot", (0, 8, 8)), _f("a_slot", (0, 7, 7)), _f("b_slot", (0, 6, 6)),
    _f("m", (1, 15, 0)), _f("n", (1, 31, 16)), _f("k", (2, 15, 0)))

LAYOUT: dict[str, tuple[Field, ...]] = {
    "LD": _HEAD + (_f("buffer", (0, 17, 16)), _f("operand", (0, 15, 12)), _f("slot", (0, 11, 11)),
                   _f("hbm_address", (1, 31, 0), (2, 7, 0)), _f("length", (3, 31, 0))),
    "ST": _HEAD + (_f("operand", (0, 17, 14)), _f("slot", (0, 13, 13)), _f("source", (0, 12, 12)),
                   _f("hbm_address", (1, 31, 0), (2, 7, 0)), _f("length", (2, 31, 8))),
    "MM": _MATRIX,
    "MV": _MATRIX,
    "MISC": _HEAD + (_f("operation", (0, 17, 14)), _f("slot", (0, 13, 13)),
                     _f("elements", (1, 31, 0))),
    "SYS": _HEAD,
}
"""Every field of every instruction. Bits not listed are reserved (zero). LD words 4–6 are
reserved for strided loads: the compiler lays every tensor out tile by tile, so each LD is one
contiguous burst."""


def field_of(kind: str, name: str) -> Field:
    for f in LAYOUT[kind]:
        if f.name == name:
            return f
    raise KeyError(f"{kind} has no field {name!r}")


def _reserved_masks(kind: str) -> list[int]:
    masks = [(1 << WORD_BITS) - 1] * WORDS[kind]
    for f in LAYOUT[kind]:
        for word, hi, lo in f.parts:
            masks[word] &= ~(((1 << (hi - lo + 1)) - 1) << lo)
    return masks


RESERVED = {kind: _reserved_masks(kind) for kind in LAYOUT}
"""Per instruction, per word: the bits no field claims."""


_PLAN = {kind: [(f.name, 1 << f.width, f.width, [(w, lo, (1 << (hi - lo + 1)) - 1, hi - lo + 1)
                                                   for w, hi, lo in f.parts]) for f in fields]
         for kind, fields in LAYOUT.items()}
"""Per instruction: (name, limit, width, [(word, low bit, mask, width)]) of each field."""
_NAMES = {kind: frozenset(f.name for f in fields) for kind, fields in LAYOUT.items()}


def encode(kind: str, values: Mapping[str, int]) -> list[int]:
    """The words of one ``kind`` instruction; ``opcode`` is set from ``kind``. A value that does
    not fit its field is a :class:`UserError` naming the field (the program cannot be encoded)."""
    words = [0] * WORDS[kind]
    if not _NAMES[kind].issuperset(values):
        unknown = set(values) - _NAMES[kind]
        raise ValueError(f"{kind} has no field(s) {', '.join(sorted(unknown))}")
    for name, limit, width, parts in _PLAN[kind]:
        value = OPCODES[kind] if name == "opcode" else values.get(name, 0)
        if not 0 <= value < limit:
            raise UserError(f"{kind}.{name} = {value:,} does not fit its {width} bits")
        for word, lo, mask, bits in parts:
            words[word] |= (value & mask) << lo
            value >>= bits
    return words


def decode_fields(kind: str, words: Sequence[int]) -> dict[str, int]:
    """The field values of one ``kind`` instruction from its words (reserved bits must be 0)."""
    for word, (w, reserved) in enumerate(zip(words, RESERVED[kind], strict=True)):
        if w & reserved:
            raise UserError(f"{kind} word {word} = {w:#010x} sets reserved bits {w & reserved:#x}")
    values = {}
    for f in LAYOUT[kind]:
        value, shift = 0, 0
        for word, hi, lo in f.parts:
            width = hi - lo + 1
            value |= (words[word] >> lo & ((1 << width) - 1)) << shift
            shift += width
        values[f.name] = value
    return values


def split(words: Sequence[int]) -> Iterator[tuple[str, int]]:
    """(kind, index of its first word) of each instruction in a word stream; an unknown opcode
    or an instruction cut off by the end of the stream is a :class:`UserError`."""
    i, total = 0, len(words)
    while i < total:
        code = words[i] >> 28
        kind = KIND_OF_OPCODE.get(code)
        if kind is None:
            raise UserError(f"word {i}: unknown opcode {code:#06b}")
        if i + WORDS[kind] > total:
            raise UserError(f"word {i}: {kind} needs {WORDS[kind]} words, the program ends after "
                            f"{total - i}")
        yield kind, i
        i += WORDS[kind]
