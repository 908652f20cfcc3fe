"""Run an OliVe design's cocotb bench on Verilator and compare it with the golden model.

Expected values come only from :mod:`sim.formats.ovp` (``encode_fixed``, ``decode_fields``,
``expand``, ``accumulator_bits``) and the cycle formula from :mod:`sim.olive.tile`; the
comparison is exact (bit for bit, cycle for cycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserError
from hw.cocotb_bench import run_bench
from hw.olive import vectors
from hw.olive.array import accumulator_width, result_sums
from hw.olive.decoder import NORMAL_TYPES, value_widths
from hw.olive.designs import DesignParams, check_design, elaborate
from sim.formats.ovp import accumulator_bits, decode_fields, encode_fixed, expand
from sim.olive.tile import ovp_array_tile_cycles

ARRAY_K = 64
"""Reduction length of each bench tile (elements; 32 OVP pairs)."""
DEFAULT_VECTORS = {"olive-encoder": 24_000, "olive-decoder": 24_000, "olive-pe": 20_000,
                   "olive-array": 200}
"""Default vector counts: pairs (encoder, decoder), cycles (PE), tiles (array)."""
PE_SPAN = 32
"""The PE bench restarts its sum at least every PE_SPAN cycles, so sums stay exact."""


@dataclass
class VerifyResult:
    """Outcome of one bench run; ``cycles_*`` are per tile (array only, else ``None``)."""

    design: str
    params: dict
    vectors: int
    mismatches: int
    cycles_measured: int | None = None
    cycles_predicted: int | None = None
    cycle_mismatches: int = 0
    build_seconds: float = 0.0
    run_seconds: float = 0.0
    examples: list[str] = field(default_factory=list)
    waves: str | None = None

    @property
    def passed(self) -> bool:
        return self.mismatches == 0 and self.cycle_mismatches == 0

    def to_json(self) -> dict:
        return {"design": self.design, "params": self.params, "vectors": self.vectors,
                "mismatches": self.mismatches, "cycles_measured": self.cycles_measured,
                "cycles_predicted": self.cycles_predicted,
                "cycle_mismatches": self.cycle_mismatches,
                "build_seconds": round(self.build_seconds, 2),
                "run_seconds": round(self.run_seconds, 2), "examples": self.examples,
                "waves": self.waves}


def vector_count(design: str, vectors_n: int | None) -> int:
    """Vectors to run: ``vectors_n`` (at least 1) or the design's :data:`DEFAULT_VECTORS`."""
    check_design(design)
    n = DEFAULT_VECTORS[design] if vectors_n is None else vectors_n
    if n < 1:
        raise UserError(f"--vectors must be at least 1, got {n}")
    return n


def verify(design: str, params: DesignParams, vectors_n: int | None = None, *,
           waves: Path | None = None, seed: int = 0) -> VerifyResult:
    """Run ``design``'s bench with ``vectors_n`` vectors (default :data:`DEFAULT_VECTORS`)."""
    n = vector_count(design, vectors_n)
    run = {"olive-encoder": _encoder, "olive-decoder": _decoder, "olive-pe": _pe,
           "olive-array": _array}[design]
    result = run(design, params, n, waves, seed)
    result.waves = str(waves) if waves else None
    return result


def _examples(bad: np.ndarray, describe) -> list[str]:
    return [describe(int(i)) for i in np.flatnonzero(bad)[:5]]


def _encoder(design, params, n, waves, seed) -> VerifyResult:
    bits = params.bits
    v = vectors.encoder_vectors(bits, n, seed)
    q, normal = v["q"], v["normal"]
    expected = np.zeros_like(q)
    for index, t in enumerate(NORMAL_TYPES[bits]):
        sel = normal == index
        expected[sel] = encode_fixed(q[sel].reshape(1, -1), t)[0].reshape(-1, 2)
    words = (q[:, 0] & 0xFFFFFFFF).astype(np.uint64) | ((q[:, 1] & 0xFFFFFFFF).astype(np.uint64) << np.uint64(32))
    run = run_bench(elaborate(design, params), "hw.olive.benches.encoder",
                    {"q_word": words, "normal": normal}, waves=waves)
    code = run.outputs["code"]
    got = np.stack([code & ((1 << bits) - 1), code >> bits], 1)
    bad = (got != expected).any(1)
    return VerifyResult(design, _shown(params), len(q), int(bad.sum()),
                        build_seconds=run.build_seconds, run_seconds=run.run_seconds,
                        examples=_examples(bad, lambda i: f"q={q[i].tolist()} normal={normal[i]}"
                                           f" rtl={got[i].tolist()} golden={expected[i].tolist()}"))


def unpack_values(words: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Packed decoded pairs (lane 0 low; each value ``int`` then ``exp``) → (exp, int) ``[n, 2]``."""
    exp_w, int_w = value_widths(bits)
    width = exp_w + int_w
    exps, ints = [], []
    for lane in range(2):
        value = (words >> (lane * width)) & ((1 << width) - 1)
        raw = value & ((1 << int_w) - 1)
        ints.append(np.where(raw >= 1 << (int_w - 1), raw - (1 << int_w), raw))
        exps.append(value >> int_w)
    return np.stack(exps, 1), np.stack(ints, 1)


def pack_values(exp: np.ndarray, integer: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of :func:`unpack_values`."""
    exp_w, int_w = value_widths(bits)
    width = exp_w + int_w
    lanes = [(integer[:, lane] & ((1 << int_w) - 1)) | (exp[:, lane] << int_w) for lane in range(2)]
    return lanes[0] | (lanes[1] << width)


def _golden_decode(code: np.ndarray, normal: np.ndarray, bits: int):
    exp = np.zeros((len(code), 2), np.int64)
    integer = np.zeros((len(code), 2), np.int64)
    pairs = np.stack([code & ((1 << bits) - 1), code >> bits], 1)
    for index, t in enumerate(NORMAL_TYPES[bits]):
        sel = normal == index
        e, i = decode_fields(pairs[sel].reshape(1, -1), t)
        exp[sel], integer[sel] = e.reshape(-1, 2), i.reshape(-1, 2)
    return exp, integer


def _decoder(design, params, n, waves, seed) -> VerifyResult:
    bits = params.bits
    v = vectors.decoder_vectors(bits, n, seed)
    code, normal = v["code"], v["normal"]
    exp, integer = _golden_decode(code, normal, bits)
    run = run_bench(elaborate(design, params), "hw.olive.benches.decoder", v, waves=waves)
    got_e, got_i = unpack_values(run.outputs["value"], bits)
    bad = (got_e != exp).any(1) | (got_i != integer).any(1)
    return VerifyResult(design, _shown(params), len(code), int(bad.sum()),
                        build_seconds=run.build_seconds, run_seconds=run.run_seconds,
                        examples=_examples(bad, lambda i: f"code={code[i]:#x} normal={normal[i]} "
                                           f"rtl=({got_e[i].tolist()}, {got_i[i].tolist()}) "
                                           f"golden=({exp[i].tolist()}, {integer[i].tolist()})"))


def _pe(design, params, n, waves, seed) -> VerifyResult:
    """Operand pairs decoded from the decoder vectors (real, random, identifier patterns);
    valid 90 %, a new sum every ~16 and at most :data:`PE_SPAN` cycles; the expected running
    sum is Σ expand(a)·expand(b) in the golden model's units."""
    bits = params.bits
    rng = np.random.default_rng(seed)
    codes = vectors.decoder_vectors(bits, 2 * n, seed)
    pick = rng.permutation(len(codes["code"]))[:2 * n]
    code, normal = codes["code"][pick], codes["normal"][pick]
    exp, integer = _golden_decode(code, normal, bits)
    values = np.zeros((len(code), 2), np.int64)
    for index, t in enumerate(NORMAL_TYPES[bits]):
        sel = normal == index
        pairs = np.stack([code[sel] & ((1 << bits) - 1), code[sel] >> bits], 1)
        values[sel] = expand(pairs.reshape(1, -1).astype(np.uint8), t).reshape(-1, 2)
    words = pack_values(exp, integer, bits)
    a, b = words[:n], words[n:2 * n]
    va, vb = values[:n], values[n:2 * n]
    valid = rng.random(n) < 0.9
    clear = (rng.random(n) < 1 / 16) | (np.arange(n) % PE_SPAN == 0)
    acc_w = accumulator_width(bits)
    for ta in NORMAL_TYPES[bits]:
        for tw in NORMAL_TYPES[bits]:  # no sum of PE_SPAN pairs can overflow (golden bound)
            assert accumulator_bits(ta, tw, 2 * PE_SPAN) <= acc_w
    expected = np.zeros(n, np.int64)
    acc = 0
    for step in range(n):
        if valid[step]:
            acc = (0 if clear[step] else acc) + int((va[step] * vb[step]).sum())
        expected[step] = acc
    run = run_bench(elaborate(design, params), "hw.olive.benches.pe",
                    {"a": a, "b": b, "valid": valid.astype(np.int64),
                     "clear": clear.astype(np.int64)}, waves=waves)
    got = run.outputs["acc"]
    bad = got != expected
    return VerifyResult(design, _shown(params), n, int(bad.sum()),
                        build_seconds=run.build_seconds, run_seconds=run.run_seconds,
                        examples=_examples(bad, lambda i: f"cycle {i}: rtl={got[i]} golden={expected[i]}"))


def _array(design, params, n, waves, seed) -> VerifyResult:
    """``params.bits`` picks the mode: OVP-4 tiles of ``rows × cols`` outputs, or OVP-8 tiles of
    ``(rows/2) × (cols/2)`` outputs on 2 × 2 fused PEs; the same tile cycle formula for both."""
    bits, rows, cols = params.bits, params.rows, params.cols
    group = 1 if bits == 4 else 2
    out_rows, out_cols = rows // group, cols // group
    v = vectors.array_tiles(bits, out_rows, out_cols, ARRAY_K, n, seed)
    types = NORMAL_TYPES[bits]
    expected = np.zeros((n, out_rows, out_cols), np.int64)
    for tile in range(n):
        ta, tw = types[v["a_normal"][tile]], types[v["w_normal"][tile]]
        if accumulator_bits(ta, tw, ARRAY_K) > accumulator_width(bits):
            raise UserError(f"K={ARRAY_K} cannot be accumulated exactly in "
                            f"{accumulator_width(bits)} bits")
        xa = expand(v["a"][tile].astype(np.uint8), ta).astype(np.int64)
        xw = expand(v["w"][tile].astype(np.uint8), tw).astype(np.int64)
        expected[tile] = xa @ xw.T
    pairs = ARRAY_K // 2

    def pair_words(codes):  # [tiles, r, k] → [tiles, pairs, r], even code low
        c = codes.reshape(n, -1, pairs, 2)
        return (c[..., 0] | (c[..., 1] << bits)).transpose(0, 2, 1)

    inputs = {"a_word": pair_words(v["a"]), "w_word": pair_words(v["w"]),
              "a_normal": v["a_normal"], "w_normal": v["w_normal"],
              "word_bits": np.array(2 * bits), "mode8": np.array(int(bits == 8))}
    run = run_bench(elaborate(design, params), "hw.olive.benches.array", inputs, waves=waves)
    got = result_sums(run.outputs["result"].reshape(n, rows, cols), bits)
    cycles = run.outputs["cycles"]
    predicted = ovp_array_tile_cycles(rows, cols, ARRAY_K)
    bad = (got != expected).reshape(n, -1)
    return VerifyResult(design, {**_shown(params), "k": ARRAY_K}, n, int(bad.any(1).sum()),
                        cycles_measured=int(cycles.max()), cycles_predicted=predicted,
                        cycle_mismatches=int((cycles != predicted).sum()),
                        build_seconds=run.build_seconds, run_seconds=run.run_seconds,
                        examples=_examples(bad.any(1), lambda i: f"tile {i}: "
                                           f"{int(bad[i].sum())} of {out_rows * out_cols} sums differ"))


def _shown(params: DesignParams) -> dict:
    return {"bits": params.bits, "rows": params.rows, "cols": params.cols}
