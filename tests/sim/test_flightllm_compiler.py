"""Compile → bytes → decode → simulate gives exactly the cycles of the in-memory program (and
of the per-op simulation, which joins ops by barriers too); addresses stay inside their regions;
corrupt or mismatched programs are refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.errors import UserError
from mapping.program import Instr, Opcode, Program
from models.trace.tracer import decode_steps, trace_model
from sim.engine import Engine
from sim.flightllm import binary, isa
from sim.flightllm.compiler import compile_step, decode_program, encode_program, step_program
from sim.numerics import resolve_numerics
from sim.simulate import Simulator, fusion_groups
from sim.target import load_target

TIMED = ("opcode", "buffer", "bytes", "tile", "first_k", "elements", "ops_per_element",
         "precision", "density", "operation", "slot", "reads", "from_activations")
"""Every Instr field the engine or the encoding carries (offset and operand base become addresses)."""


@pytest.fixture(scope="module")
def u280():
    return load_target("flightllm-u280")


def _ops(model: str, phase: str, length: int):
    if phase == "decode":
        return decode_steps(model, [length])[length]
    return [op for op in trace_model(model, length, 0)[0].ops if op.phase.value == "prefill"]


@pytest.mark.parametrize("model, phase, length, fmt, overlap", [
    ("smollm2-135m", "decode", 144, "flightllm-w4s", False),
    ("smollm2-135m", "decode", 144, "flightllm-w4s", True),
    ("smollm2-135m", "prefill", 128, "flightllm-w4s", True),     # prefill: barriers regardless
    ("llama2-7b", "decode", 2048, "flightllm-w4s", True),
    ("opt-6.7b", "decode", 512, None, False),
])
def test_binary_runs_in_the_cycles_of_the_in_memory_program(u280, tmp_path, model, phase, length, fmt,
                                                             overlap):
    ops = _ops(model, phase, length)
    numerics = resolve_numerics(u280, fmt, ops)
    compiled = compile_step(ops, u280, numerics, overlap=overlap)
    path = binary.write_program(tmp_path / "p.flb", {"precisions": list(compiled.precisions)}, compiled.words)
    header, words = binary.read_program(path)
    decoded = decode_program(words, u280, header["precisions"])
    engine = Engine(u280)
    cycles = engine.run(compiled.program).cycles
    assert engine.run(decoded).cycles == cycles
    assert len(decoded) == len(compiled.program)
    for ins, back in zip(compiled.program.instrs, decoded.instrs, strict=True):
        assert {f: getattr(back, f) for f in TIMED} == {f: getattr(ins, f) for f in TIMED}
        assert set(back.waits) <= set(ins.waits)
    sim = Simulator(u280, numerics)
    per_op = sum(r.cycles for start, stop in fusion_groups(ops, u280)
                 for r in sim.run_group(ops[start:stop])[0])
    if overlap and phase == "decode":
        assert cycles < per_op                   # always-on-chip decode overlaps the ops
    else:
        assert cycles == per_op                  # barriers: ops one after another


def test_every_load_and_store_lies_inside_one_region_and_regions_do_not_overlap(u280):
    ops = _ops("smollm2-135m", "decode", 256)
    program, addresses, memory = step_program(ops, u280, resolve_numerics(u280, "flightllm-w4s", ops),
                                              overlap=True)
    regions = memory.regions
    for (_, a, size), (_, b, _) in zip(regions, regions[1:], strict=False):
        assert a + size <= b and b % 4096 == 0
    weights = {name for name, _, _ in regions if name.startswith("weights.")}
    assert f"weights.{ops[2].name}" in weights                      # q_proj of layer 0
    assert len([n for n, _, _ in regions if n.startswith("kv.")]) == 2 * 30   # K and V per layer
    for ins, address in zip(program.instrs, addresses, strict=True):
        if ins.opcode in (Opcode.LOAD, Opcode.STORE):
            inside = [n for n, base, size in regions if base <= address and address + ins.bytes <= base + size]
            assert len(inside) == 1, (ins, address)
    assert memory.end <= u280.memory.capacity


@pytest.fixture(scope="module")
def small(u280):
    ops = _ops("smollm2-135m", "decode", 32)
    return compile_step(ops, u280, resolve_numerics(u280, "flightllm-w4s", ops))


def test_a_flipped_bit_truncation_or_foreign_file_is_refused(small, tmp_path):
    data = binary.to_bytes({"precisions": list(small.precisions)}, small.words)
    cases = {"flip": data[:-5] + bytes([data[-5] ^ 1]) + data[-4:], "cut": data[:-4],
             "foreign": b"\x89PNG" + data[4:], "header": data[:8] + b"\xff\xff\xff\x7f" + data[12:]}
    messages = {"flip": "SHA-256", "cut": "truncated", "foreign": "not a FlightLLM program",
                "header": "header length"}
    for name, content in cases.items():
        path = tmp_path / f"{name}.flb"
        path.write_bytes(content)
        with pytest.raises(UserError, match=messages[name]):
            binary.read_program(path)


def test_decoding_checks_what_the_hash_cannot(small, u280):
    hand = Program([Instr(Opcode.LOAD, buffer="weights", bytes=64, operand="b", slot=0),
                    Instr(Opcode.MATVEC, waits=(0,), tile=(1, 16, 16), precision="int8", reads=(0, 1))])
    words = encode_program(hand, [0, 0], ("int8",))
    with pytest.raises(UserError, match="reads weight slot 1, which no earlier LD filled"):
        decode_program(words, u280, ("int8",))
    hand.instrs[1] = dataclasses.replace(hand.instrs[1], reads=(0, 0))
    words = encode_program(hand, [0, 0], ("int8",))
    assert decode_program(words, u280, ("int8",)).instrs[1].tile == (1, 16, 16)
    words[7 + 1] = 0                                         # MV word 1: m = n = 0
    with pytest.raises(UserError, match="not a valid tile"):
        decode_program(words, u280, ("int8",))
    with pytest.raises(UserError, match="lacks"):
        decode_program(small.words, u280, ["fp16"])
    words = small.words.copy()
    ld = next(at for kind, at in isa.split(list(words)) if kind == "LD")
    words[ld] |= 0b10000 << 18                               # an extra release nobody waits for
    with pytest.raises(UserError, match="never waited for|no earlier instruction"):
        decode_program(words, u280, small.precisions)


def test_densities_that_are_not_n_of_16_cannot_be_encoded(u280):
    ops = _ops("smollm2-135m", "decode", 32)
    program, addresses, _ = step_program(ops, u280, resolve_numerics(u280, None, ops))
    mv = next(i for i, ins in enumerate(program.instrs) if ins.opcode is Opcode.MATVEC)
    program.instrs[mv] = dataclasses.replace(program.instrs[mv], density=0.3)
    with pytest.raises(UserError, match="not N/16"):
        encode_program(program, addresses, tuple(u280.compute.precisions))


def test_words_are_little_endian_u32_after_the_header(small, tmp_path):
    path = binary.write_program(tmp_path / "p.flb", {"precisions": list(small.precisions)}, small.words)
    data = path.read_bytes()
    body = data[len(data) - 4 * small.words.size:]
    assert np.array_equal(np.frombuffer(body, "<u4"), small.words)
    assert small.nbytes == 4 * sum(isa.WORDS[k] * n for k, n in small.counts().items())


@pytest.mark.parametrize("overlap", [True, False])
def test_counted_words_equal_the_compiled_programs(u280, overlap):
    from sim.flightllm.compiler import WordCounter

    steps = decode_steps("smollm2-135m", [16, 129, 700])
    prefill = _ops("smollm2-135m", "prefill", 200)
    numerics = resolve_numerics(u280, "flightllm-w4s", prefill)
    counter = WordCounter(u280, numerics)
    for ops in [*steps.values(), prefill]:
        assert counter.words(ops, overlap=overlap) == compile_step(ops, u280, numerics, overlap=overlap).words.size


def test_a_tampered_header_or_another_version_is_refused(small, tmp_path):
    import json
    import struct

    def rewrite(change) -> bytes:
        data = binary.to_bytes({"target": "flightllm-u280", "precisions": list(small.precisions)}, small.words)
        (length,) = struct.unpack_from("<I", data, 8)
        header = json.loads(data[12:12 + length])
        change(header)
        head = json.dumps(header, sort_keys=True).encode()
        return data[:8] + struct.pack("<I", len(head)) + head + data[12 + length:]

    cases = {"target": (lambda h: h.update(target="flightllm-vhk158"), "SHA-256"),
             "version": (lambda h: h.update(format_version=2), "format version 2"),
             "precisions": (lambda h: h.update(precisions=[1, 2]), "list of names")}
    for name, (change, message) in cases.items():
        path = tmp_path / f"{name}.flb"
        path.write_bytes(rewrite(change))
        with pytest.raises(UserError, match=message):
            binary.read_program(path)
