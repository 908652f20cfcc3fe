"""FlightLLM's instruction set: the word layout of every instruction (the artifact's lengths,
opcodes and mask positions), exact encode/decode of every field, and refusal of words that no
encoder writes."""

from __future__ import annotations

import random

import pytest

from core.errors import UserError
from sim.flightllm import isa


def test_instruction_lengths_and_opcodes_are_the_artifacts():
    assert isa.WORDS == {"LD": 7, "ST": 3, "MM": 4, "MV": 4, "MISC": 3, "SYS": 1}
    assert isa.OPCODES == {"LD": 1, "ST": 2, "MM": 3, "MV": 4, "MISC": 5, "SYS": 15}


@pytest.mark.parametrize("kind", list(isa.LAYOUT))
def test_fields_never_overlap_and_fit_their_words(kind):
    seen: set[tuple[int, int]] = set()
    for field in isa.LAYOUT[kind]:
        for word, hi, lo in field.parts:
            assert 0 <= word < isa.WORDS[kind] and 0 <= lo <= hi < 32
            bits = {(word, b) for b in range(lo, hi + 1)}
            assert not bits & seen, f"{kind}.{field.name} overlaps another field"
            seen |= bits
    head = {f.name: f.parts for f in isa.LAYOUT[kind][:3]}
    assert head == {"opcode": ((0, 31, 28),), "wait": ((0, 27, 23),), "release": ((0, 22, 18),)}


def test_a_hand_encoded_barrier():
    """SYS waiting for LD, ST and MISC: its mask names LD ST MM MV MISC from bit 4 down, so
    0b11001; word = 0xF << 28 | 0b11001 << 23."""
    from mapping.program import Instr, Opcode, Program
    from sim.flightllm.compiler import encode_program
    from sim.flightllm.tokens import named, to_tokens

    program = Program([Instr(Opcode.LOAD, buffer="inputs", bytes=8, operand="in"),
                       Instr(Opcode.MISC, waits=(0,), elements=8, operation="norm"),
                       Instr(Opcode.STORE, waits=(1,), buffer="outputs", bytes=8, operand="out"),
                       Instr(Opcode.SYNC, waits=(0, 1, 2))])
    barrier = to_tokens(program)[3]
    assert barrier.wait == 0b11001 and named("SYS", barrier.wait) == ["LD", "ST", "MISC"]
    words = encode_program(program, [0, 0, 0, 0], ())
    assert int(words[-1]) == 0xFC800000 == 0xF << 28 | 0b11001 << 23


def test_a_field_split_over_two_words():
    """LD's 40-bit HBM address: its low 32 bits are word 1, its high 8 bits word 2's low byte."""
    words = isa.encode("LD", {"hbm_address": 0xAB_1234_5678, "length": 64})
    assert words[1] == 0x1234_5678 and words[2] == 0xAB and words[3] == 64


@pytest.mark.parametrize("kind", list(isa.LAYOUT))
def test_every_field_round_trips_at_random_values(kind):
    rng = random.Random(kind)
    for _ in range(200):
        values = {f.name: rng.randrange(1 << f.width) for f in isa.LAYOUT[kind] if f.name != "opcode"}
        words = isa.encode(kind, values)
        assert all(0 <= w < 1 << 32 for w in words)
        assert isa.decode_fields(kind, words) == {"opcode": isa.OPCODES[kind], **values}


def test_values_that_do_not_fit_are_refused_naming_the_field():
    with pytest.raises(UserError, match=r"MM\.m = 65,536 does not fit its 16 bits"):
        isa.encode("MM", {"m": 1 << 16})
    with pytest.raises(UserError, match="LD.length"):
        isa.encode("LD", {"length": -1})
    with pytest.raises(ValueError, match="no field"):
        isa.encode("SYS", {"length": 1})


def test_reserved_bits_unknown_opcodes_and_cut_off_instructions_are_refused():
    sys_word = isa.encode("SYS", {})[0]
    with pytest.raises(UserError, match="reserved"):
        isa.decode_fields("SYS", [sys_word | 1])
    ld = isa.encode("LD", {"length": 8})
    with pytest.raises(UserError, match="reserved"):
        isa.decode_fields("LD", ld[:6] + [1])          # LD word 6 is reserved
    with pytest.raises(UserError, match="unknown opcode"):
        list(isa.split([0x7 << 28]))
    with pytest.raises(UserError, match="LD needs 7 words"):
        list(isa.split(ld[:5]))
    assert list(isa.split(ld + [sys_word] + ld)) == [("LD", 0), ("SYS", 7), ("LD", 8)]


def test_the_format_document_lists_exactly_these_fields():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "flightllm-isa.md").read_text()
    for kind, fields in isa.LAYOUT.items():
        label = "MM, MV" if kind in ("MM", "MV") else kind
        for f in fields:
            parts = ", ".join(f"w{w}[{hi}:{lo}]" for w, hi, lo in f.parts)
            assert f"| {label} | `{f.name}` | {parts} | {f.width} |" in text, (kind, f.name)
    documented = [line for line in text.splitlines() if line.startswith(("| LD |", "| ST |", "| MM, MV |",
                                                                         "| MISC |", "| SYS |"))]
    assert len(documented) == sum(len(f) for k, f in isa.LAYOUT.items() if k != "MV")
