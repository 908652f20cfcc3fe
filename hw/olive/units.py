"""The OliVe RTL units (:mod:`hw.registry`): encoder, decoder, PE and array, each with its
parameters, vectors (:mod:`hw.olive.vectors`), golden function (:mod:`sim.formats.ovp`), bench
(:mod:`hw.olive.benches`), cycle formula (:mod:`sim.olive.tile`) and published areas."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw.olive import vectors
from hw.olive.array import WORD, OvpSystolicArray, accumulator_width, expected_words, output_words
from hw.olive.decoder import NORMAL_TYPES, OvpDecoder, value_widths
from hw.olive.encoder import OvpEncoder
from hw.olive.pe import OvpPe
from hw.registry import (
    BENCH,
    AreaPart,
    Bench,
    PublishedArea,
    RtlUnit,
    UnitParams,
    array_size_problem,
)
from sim.formats.ovp import accumulator_bits, accumulator_bound, decode_fields, encode_fixed, expand
from sim.olive.design import FUSED_SIDE, accumulator_problem, array_problem
from sim.olive.tile import ovp_array_tile_cycles

PAPER = "OliVe, ISCA 2023 (papers/olive.md)"
DECODER_AREA = {4: 13.53, 8: 18.00}
"""Published decoder areas (µm², Synopsys DC, TSMC 22 nm) — papers/olive.md "Hardware"."""
DECODER_SHARE = {4: 2.2, 8: 1.5}
"""Published decoder area as % of the systolic core — papers/olive.md "Hardware"."""


def _bits_problem(bits: int) -> str | None:
    return None if bits in NORMAL_TYPES else f"bits must be 4 or 8 (OVP-4 / OVP-8), got {bits}"


@dataclass(frozen=True)
class OvpParams(UnitParams):
    """An OVP unit of one code width: ``bits`` 4 (OVP-4) or 8 (OVP-8)."""

    bits: int = 4

    def problem(self) -> str | None:
        return _bits_problem(self.bits)


@dataclass(frozen=True)
class OvpArrayParams(UnitParams):
    """The array: ``rows × cols`` PEs with ``accumulator_bits``-wide words (sized by a target's
    ``compute`` section); the bench runs tiles of ``k`` elements in the OVP-``bits`` mode."""

    rows: int = 8
    cols: int = 8
    accumulator_bits: int = WORD
    bits: int = field(default=4, metadata=BENCH)
    k: int = field(default=64, metadata=BENCH)

    @classmethod
    def from_target(cls, target) -> dict:
        c = target.compute
        return {"rows": c.rows, "cols": c.cols, "accumulator_bits": c.accumulator_bits}

    def problem(self) -> str | None:
        problem = (_bits_problem(self.bits) or array_problem(self.rows, self.cols)
                   or accumulator_problem(self.accumulator_bits)
                   or array_size_problem(self.rows, self.cols, "result",
                                         self.rows * self.cols * self.accumulator_bits))
        if problem:
            return problem
        if self.k < 2 or self.k % 2:
            return f"k (elements per bench tile) must be even and ≥ 2, got {self.k}"
        width = accumulator_width(self.bits, self.accumulator_bits)
        bound = max(accumulator_bound(ta, tw, self.k) for ta in NORMAL_TYPES[self.bits]
                    for tw in NORMAL_TYPES[self.bits])
        if bound >= 1 << min(width - 1, 63):  # the golden model's own int64 is the other limit
            return f"k = {self.k} cannot be accumulated exactly in {width} bits"
        return None

    @property
    def group(self) -> int:
        """PEs per side of one output in the bench's mode."""
        return FUSED_SIDE[self.bits]


# --- encoder and decoder -----------------------------------------------------------------------

def _per_type(bits: int, normal: np.ndarray, rows: np.ndarray, fn) -> list[tuple]:
    """``fn(rows of one normal type as [1, 2·n], type)`` for every type, with its selection."""
    return [(normal == index, fn(rows[normal == index].reshape(1, -1), t))
            for index, t in enumerate(NORMAL_TYPES[bits])]


def _encoder_golden(p: OvpParams, v) -> np.ndarray:
    expected = np.zeros_like(v["q"])
    for sel, (codes, _) in _per_type(p.bits, v["normal"], v["q"], encode_fixed):
        expected[sel] = codes.reshape(-1, 2)
    return expected


def _split_pairs(words: np.ndarray, bits: int) -> np.ndarray:
    """Pair words → ``[n, 2]`` codes, even element from the low half."""
    return np.stack([words & ((1 << bits) - 1), words >> bits], 1)


def decoded_fields(code: np.ndarray, normal: np.ndarray, bits: int) -> np.ndarray:
    """The golden decoder on pair words: ``[n, 2 lanes, (exponent, integer)]``."""
    out = np.zeros((len(code), 2, 2), np.int64)
    for sel, (e, i) in _per_type(bits, normal, _split_pairs(code, bits), decode_fields):
        out[sel] = np.stack([e.reshape(-1, 2), i.reshape(-1, 2)], -1)
    return out


def pack_values(fields: np.ndarray, bits: int) -> np.ndarray:
    """Decoded pairs ``[n, 2, (exp, int)]`` → the packed port words (lane 0 low; each value
    ``int`` then ``exp``)."""
    exp_w, int_w = value_widths(bits)
    lanes = [(fields[:, lane, 1] & ((1 << int_w) - 1)) | (fields[:, lane, 0] << int_w) for lane in range(2)]
    return lanes[0] | (lanes[1] << (exp_w + int_w))


def unpack_values(words: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_values` (integers sign-extended)."""
    exp_w, int_w = value_widths(bits)
    out = np.zeros((len(words), 2, 2), np.int64)
    for lane in range(2):
        value = (words >> (lane * (exp_w + int_w))) & ((1 << (exp_w + int_w)) - 1)
        raw = value & ((1 << int_w) - 1)
        out[:, lane] = np.stack([value >> int_w, np.where(raw >= 1 << (int_w - 1), raw - (1 << int_w), raw)], -1)
    return out


# --- PE -----------------------------------------------------------------------------------------

def _pe(p: OvpParams) -> OvpPe:
    """A stand-alone PE with lanes of one OVP width (the array's PEs are the fusable 4-bit ones)."""
    exp_w, int_w = value_widths(p.bits)
    return OvpPe(exp_width=exp_w, int_width=int_w, acc_width=accumulator_width(p.bits))


def _pe_values(p: OvpParams, v, side: str) -> np.ndarray:
    """Operand values ``[n, 2]`` in normal steps (``integer << exponent``, the golden model)."""
    values = np.zeros((len(v[f"{side}_code"]), 2), np.int64)
    pairs = _split_pairs(v[f"{side}_code"], p.bits).astype(np.uint8)
    for sel, x in _per_type(p.bits, v[f"{side}_normal"], pairs, expand):
        values[sel] = x.reshape(-1, 2)
    return values


def _pe_golden(p: OvpParams, v) -> np.ndarray:
    """The running sum after each cycle: ``Σ expand(a)·expand(b)``, restarted on ``clear``."""
    for ta in NORMAL_TYPES[p.bits]:
        for tw in NORMAL_TYPES[p.bits]:  # no sum of PE_SPAN pairs can overflow (golden bound)
            assert accumulator_bits(ta, tw, 2 * vectors.PE_SPAN) <= accumulator_width(p.bits)
    products = (_pe_values(p, v, "a") * _pe_values(p, v, "b")).sum(1)
    expected = np.zeros(len(products), np.int64)
    acc = 0
    for step, (valid, clear) in enumerate(zip(v["valid"], v["clear"], strict=True)):
        if valid:
            acc = (0 if clear else acc) + int(products[step])
        expected[step] = acc
    return expected


def _pe_drive(p: OvpParams, v) -> dict:
    words = {side: pack_values(decoded_fields(v[f"{side}_code"], v[f"{side}_normal"], p.bits), p.bits)
             for side in ("a", "b")}
    return {**words, "valid": v["valid"], "clear": v["clear"]}


# --- array --------------------------------------------------------------------------------------

def _array_vectors(p: OvpArrayParams, n: int, seed: int):
    return vectors.array_tiles(p.bits, p.rows // p.group, p.cols // p.group, p.k, n, seed)


def _array_golden(p: OvpArrayParams, v) -> np.ndarray:
    """Each tile's exact integer product ``A · Wᵀ`` of the decoded values, as the PE words that
    must hold it (every bit of them)."""
    types = NORMAL_TYPES[p.bits]
    sums = np.stack([expand(a.astype(np.uint8), types[na]).astype(np.int64)
                     @ expand(w.astype(np.uint8), types[nw]).astype(np.int64).T
                     for a, w, na, nw in zip(v["a"], v["w"], v["a_normal"], v["w_normal"], strict=True)])
    return expected_words(sums, p.bits, p.accumulator_bits)


def _array_drive(p: OvpArrayParams, v) -> dict:
    def pair_words(codes):  # [tiles, r, k] → [tiles, pairs, r], even code low
        c = codes.reshape(len(codes), -1, p.k // 2, 2)
        return (c[..., 0] | (c[..., 1] << p.bits)).transpose(0, 2, 1)

    return {"a_word": pair_words(v["a"]), "w_word": pair_words(v["w"]),
            "a_normal": v["a_normal"], "w_normal": v["w_normal"], "word_bits": np.array(2 * p.bits),
            "mode8": np.array(int(p.bits == 8)), "result_bits": np.array(p.accumulator_bits)}


def _array_read(p: OvpArrayParams, out) -> np.ndarray:
    return output_words(out["result"].reshape(-1, p.rows, p.cols), p.bits)


def _array_top(p: OvpArrayParams) -> str:
    word = "" if p.accumulator_bits == WORD else f"_acc{p.accumulator_bits}"
    return f"olive_array_{p.rows}x{p.cols}{word}"


def _decoder_parts(p: OvpArrayParams) -> tuple[AreaPart, ...]:
    """The edge decoders: one OVP-4 decoder per row and column, one OVP-8 per row and column pair."""
    return tuple(AreaPart(f"OVP-{bits} edge decoders", "olive-decoder", OvpParams(bits), count,
                          DECODER_SHARE[bits], PAPER)
                 for bits, count in ((4, p.rows + p.cols), (8, (p.rows + p.cols) // 2)))


UNITS = (
    RtlUnit("olive-encoder", "OVP pair encoder: fixed-point pair → two codes, 1 cycle", OvpParams,
            build=lambda p: OvpEncoder(p.bits), top=lambda p: f"olive_encoder_b{p.bits}",
            vectors=lambda p, n, seed: vectors.encoder_vectors(p.bits, n, seed),
            golden=_encoder_golden,
            bench=Bench("hw.olive.benches.encoder", lambda p, v: {"q": v["q"], "normal": v["normal"]},
                        lambda p, out: _split_pairs(out["code"], p.bits)),
            default_vectors=24_000, vector_noun="pair"),
    RtlUnit("olive-decoder", "OVP edge decoder: two codes → two (exponent, integer) values", OvpParams,
            build=lambda p: OvpDecoder(p.bits), top=lambda p: f"olive_decoder_b{p.bits}",
            vectors=lambda p, n, seed: vectors.decoder_vectors(p.bits, n, seed),
            golden=lambda p, v: decoded_fields(v["code"], v["normal"], p.bits),
            bench=Bench("hw.olive.benches.decoder", lambda p, v: {"code": v["code"], "normal": v["normal"]},
                        lambda p, out: unpack_values(out["value"], p.bits)),
            default_vectors=24_000, vector_noun="pair",
            published_area=lambda p: PublishedArea(DECODER_AREA[p.bits], "TSMC 22 nm", "Synopsys DC", PAPER)),
    RtlUnit("olive-pe", "exponent-shift PE: one OVP pair per cycle into an accumulator", OvpParams,
            build=_pe, top=lambda p: f"olive_pe_b{p.bits}",
            vectors=lambda p, n, seed: vectors.pe_vectors(p.bits, n, seed),
            golden=_pe_golden, bench=Bench("hw.olive.benches.pe", _pe_drive, lambda p, out: out["acc"]),
            default_vectors=20_000, vector_noun="cycle"),
    RtlUnit("olive-array", "output-stationary OVP array with edge decoders, OVP-4 and 2 × 2 fused "
            "OVP-8 modes", OvpArrayParams,
            build=lambda p: OvpSystolicArray(p.rows, p.cols, p.accumulator_bits), top=_array_top,
            vectors=_array_vectors, golden=_array_golden,
            bench=Bench("hw.olive.benches.array", _array_drive, _array_read),
            default_vectors=200, vector_noun="tile",
            cycles=lambda p: ovp_array_tile_cycles(p.rows, p.cols, p.k), parts=_decoder_parts),
)
