"""The MixPE RTL units (:mod:`hw.registry`): the two shift-and-add PEs and the array, each with
its parameters, vectors (:mod:`hw.mixpe.vectors`), golden function (:mod:`sim.formats.mixpe`),
bench (:mod:`hw.mixpe.benches`) and cycle formula (:mod:`sim.mixpe.tile`); and the three
baseline PEs (:mod:`hw.mixpe.baselines`) that ``synth`` compares the shift-and-add PEs with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from amaranth.lib import wiring

from core.errors import UserError
from hw.fp.format import FP32, to_bits
from hw.mixpe import vectors
from hw.mixpe.array import MixPeArray
from hw.mixpe.baselines import INT8_PRODUCT_BITS, DequantInt4Int8Pe, Fp16MacPe, Int8MacPe
from hw.mixpe.pe import ShiftAddPeW4A8, ShiftAddPeW4A16
from hw.registry import (
    BENCH,
    AreaPeer,
    AreaPeers,
    Bench,
    RtlUnit,
    UnitParams,
    array_size_problem,
)
from sim.formats.base import Encoded, Role
from sim.formats.mixpe import GROUP, gemm_w4a8, gemm_w4a16, shift_add
from sim.mixpe.design import (
    MixPeDesign,
    array_problem,
    group_sum_needed,
    narrow_width,
    partial_sum_needed,
)
from sim.mixpe.tile import mixpe_array_tile_cycles

ACTIVATIONS = {8: "int8", 16: "fp16"}
"""``bits`` (activation bits) → the PE kind."""
WIDTHS = (partial_sum_needed(GROUP), group_sum_needed(GROUP))
"""The default W4A8 (partial-sum, group-sum) bits: what a group of the formats' 128 needs (19, 15)."""


def _bits_problem(bits: int) -> str | None:
    return None if bits in ACTIVATIONS else f"bits must be 8 (W4A8) or 16 (W4A16), got {bits}"


def _width_problem(bits: int, group: int, partial_sum_bits: int, group_sum_bits: int) -> str | None:
    """The design rule on W4A8 sum widths (:func:`sim.mixpe.design.narrow_width`) as a message."""
    narrow = None if bits == 16 else narrow_width(group, partial_sum_bits, group_sum_bits)
    if narrow is None:
        return None
    name, have, need = narrow
    return f"{name} = {have} cannot hold the sums of a group of {group} (need {need})"


def _design(target) -> MixPeDesign:
    """The ``design:`` section of a ``mixpe`` target (any other target is refused)."""
    from sim.mixpe.compute import MixPeArrayModel

    if target.compute.model != MixPeArrayModel.name:
        raise UserError(f"target {target.name} is a {target.compute.model} design; the MixPE units "
                        f"are sized by a {MixPeArrayModel.name} target (mixpe-w4a8, mixpe-w4a16)")
    return MixPeArrayModel.parse_design(target)


# --- PEs ---------------------------------------------------------------------------------------

def _group_problem(group: int) -> str | None:
    return None if group >= 1 else f"group must be ≥ 1, got {group}"


@dataclass(frozen=True)
class Fp32SumPeParams(UnitParams):
    """A stand-alone PE with an FP32 sum; the bench restarts it at least every ``group``
    elements."""

    group: int = field(default=GROUP, metadata=BENCH)

    @classmethod
    def from_target(cls, target) -> dict:
        return {"group": _design(target).group}

    def problem(self) -> str | None:
        return _group_problem(self.group)


@dataclass(frozen=True)
class MixPePeParams(UnitParams):
    """A stand-alone PE with a ``partial_sum_bits`` integer sum; the bench restarts it at least
    every ``group`` elements."""

    partial_sum_bits: int = WIDTHS[0]
    group: int = field(default=GROUP, metadata=BENCH)

    @classmethod
    def from_target(cls, target) -> dict:
        d = _design(target)
        return {"group": d.group} | ({"partial_sum_bits": d.partial_sum_bits}
                                     if d.partial_sum_bits is not None else {})

    def problem(self) -> str | None:
        return _group_problem(self.group) or _width_problem(
            8, self.group, self.partial_sum_bits, group_sum_needed(self.group))


@dataclass(frozen=True)
class Int8MacPeParams(MixPePeParams):
    """The INT8 × INT8 MAC PE: a wrapping ``partial_sum_bits`` sum (its W4A8 counterpart's
    width, at least one product's 16 bits); the bench restarts it at least every ``group``."""

    def problem(self) -> str | None:
        if self.partial_sum_bits < INT8_PRODUCT_BITS:
            return (f"partial_sum_bits = {self.partial_sum_bits} cannot hold one INT8 × INT8 "
                    f"product (need {INT8_PRODUCT_BITS})")
        return _group_problem(self.group)


def _fp16(bits) -> np.ndarray:
    """FP16 bit patterns as float32 values (exact)."""
    return np.asarray(bits).astype(np.uint16).view(np.float16).astype(np.float32)


def _wrap(value: int, bits: int) -> int:
    """``value`` as a ``bits``-bit two's-complement integer (the sum register wraps)."""
    half = 1 << (bits - 1)
    return ((value + half) & ((1 << bits) - 1)) - half


def _running_sums(products: np.ndarray, v, sum_bits: int | None) -> np.ndarray:
    """The sum after each cycle: the products from the group's first valid element on, in
    order — FP32 (``sum_bits`` ``None``), each addition rounded to nearest even, as bit
    patterns — or integers wrapping at ``sum_bits`` bits."""
    fp32 = sum_bits is None
    zero = np.float32(0) if fp32 else 0
    out = np.zeros(len(products), np.int64)
    acc = zero
    for t, (valid, first) in enumerate(zip(v["valid"], v["first"], strict=True)):
        if valid:
            start = zero if first else acc
            acc = np.float32(start + products[t]) if fp32 else _wrap(start + int(products[t]), sum_bits)
        out[t] = to_bits(FP32, acc) if fp32 else acc
    return out


def _no_peers(p: MixPePeParams) -> None:
    return None


@dataclass(frozen=True)
class _Pe:
    """One stand-alone PE unit: its operand ports with the masks that make their values
    unsigned port values (``None``: already are), its weight kind
    (:data:`hw.mixpe.vectors.WEIGHTS`), whether ``x`` is FP16, its exact per-element products
    (vectors → ``[cycles]``) and whether its sum is FP32 (else ``partial_sum_bits`` wide)."""

    name: str
    summary: str
    params: type[UnitParams]
    build: Callable[[UnitParams], wiring.Component]
    top: Callable[[UnitParams], str]
    ports: dict[str, int | None]
    weight: str
    fp16: bool
    products: Callable[[dict], np.ndarray]
    fp32_sum: bool
    peers: Callable[[MixPePeParams], AreaPeers | None] = _no_peers


def _pe_unit(pe: _Pe) -> RtlUnit:
    def golden(p: MixPePeParams, v) -> np.ndarray:
        return _running_sums(pe.products(v), v, None if pe.fp32_sum else p.partial_sum_bits)

    def drive(p: MixPePeParams, v) -> dict:
        ports = {port: v[port] if mask is None else v[port] & mask for port, mask in pe.ports.items()}
        return ports | {name: v[name] for name in ("valid", "first", "last")} | {
            "signed": np.array(int(not pe.fp32_sum))}

    return RtlUnit(pe.name, pe.summary, pe.params, build=pe.build, top=pe.top,
                   vectors=lambda p, n, seed: vectors.pe_vectors(pe.fp16, p.group, n, seed, pe.weight),
                   golden=golden, bench=Bench("hw.mixpe.benches.pe", drive, lambda p, out: out["p"]),
                   default_vectors=24_000, vector_noun="cycle", peers=pe.peers)


INT8, FP16_BITS = 0xFF, 0xFFFF
"""Masks of INT8 (two's complement) and FP16 port values."""

PAPER = "MixPE, arXiv 2411.16158 (papers/mixpe.md)"
FP16_MAC = "FP16×FP16 MAC"


def _pe_peers(p: UnitParams) -> AreaPeers:
    """The five PEs at the same accumulator widths (``p``'s ``partial_sum_bits`` for INT8
    activations — the W4A8 default for a PE without one — FP32 for FP16), normalised to the FP16 × FP16 MAC as the paper's area-power
    efficiency products are (FP16 × FP16 = 1 by definition); the paper gives no figure for
    dequantize-then-MAC."""
    bits = getattr(p, "partial_sum_bits", MixPePeParams.partial_sum_bits)
    same, fp32 = MixPePeParams(bits, p.group), Fp32SumPeParams(p.group)
    return AreaPeers((
        AreaPeer(FP16_MAC, "mixpe-baseline-fp16-mac", fp32, 1.0, PAPER),
        AreaPeer("INT8×INT8 MAC", "mixpe-baseline-int8-mac", Int8MacPeParams(bits, p.group), 58.0, PAPER),
        AreaPeer("INT4×INT8 dequant+MAC", "mixpe-baseline-dequant-w4a8", same),
        AreaPeer("MixPE INT4×FP16", "mixpe-pe-w4a16", fp32, 4.8, PAPER),
        AreaPeer("MixPE INT4×INT8", "mixpe-pe-w4a8", same, 133.0, PAPER),
    ), normaliser=FP16_MAC, published_metric="area-power efficiency product (FP16×FP16 = 1)")


SHIFT_ADD_PES = (
    _Pe("mixpe-pe-w4a8", "W4A8 shift-and-add PE: INT4 code × INT8 per cycle", MixPePeParams,
        build=lambda p: ShiftAddPeW4A8(p.partial_sum_bits),
        top=lambda p: f"mixpe_pe_w4a8_p{p.partial_sum_bits}",
        ports={"x": INT8, "q": None}, weight="int4", fp16=False,
        products=lambda v: shift_add(v["q"], v["x"], lambda value, b: value << b), fp32_sum=False,
        peers=_pe_peers),
    _Pe("mixpe-pe-w4a16", "W4A16 shift-and-add PE: INT4 code × FP16 (FP32 sum) per cycle",
        Fp32SumPeParams, build=lambda p: ShiftAddPeW4A16(), top=lambda p: "mixpe_pe_w4a16",
        ports={"x": FP16_BITS, "q": None}, weight="int4", fp16=True,
        products=lambda v: v["q"].astype(np.float32) * _fp16(v["x"]),  # exact (sim/formats/mixpe.py)
        fp32_sum=True, peers=_pe_peers),
)
"""The MixPE PEs."""

BASELINE_PES = (
    _Pe("mixpe-baseline-int8-mac", "baseline PE: INT8 weight × INT8 with a multiplier, "
        "W4A8-width sum (wrapping)", Int8MacPeParams,
        build=lambda p: Int8MacPe(p.partial_sum_bits),
        top=lambda p: f"mixpe_baseline_int8_mac_p{p.partial_sum_bits}",
        ports={"x": INT8, "w": INT8}, weight="int8", fp16=False,
        products=lambda v: v["w"] * v["x"], fp32_sum=False),
    _Pe("mixpe-baseline-dequant-w4a8", "baseline PE: INT4 code dequantized (q − z) per element, "
        "then × INT8 with a multiplier", MixPePeParams,
        build=lambda p: DequantInt4Int8Pe(p.partial_sum_bits),
        top=lambda p: f"mixpe_baseline_dequant_w4a8_p{p.partial_sum_bits}",
        ports={"x": INT8, "q": None, "zero": None}, weight="int4", fp16=False,
        products=lambda v: (v["q"] - v["zero"]) * v["x"], fp32_sum=False),
    _Pe("mixpe-baseline-fp16-mac", "baseline PE: FP16 weight × FP16, exact FP32 product, FP32 sum",
        Fp32SumPeParams, build=lambda p: Fp16MacPe(), top=lambda p: "mixpe_baseline_fp16_mac",
        ports={"x": FP16_BITS, "w": FP16_BITS}, weight="fp16", fp16=True,
        products=lambda v: _fp16(v["w"]) * _fp16(v["x"]),  # exact: 11 × 11 significand bits
        fp32_sum=True),
)
"""The baseline PEs of the area comparison (:mod:`hw.mixpe.baselines`)."""


# --- array -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MixPeArrayParams(UnitParams):
    """The array: ``rows × cols`` PEs of ``bits``-bit activations (8: W4A8, 16: W4A16), weight
    groups of ``group``, W4A8 sums of ``partial_sum_bits`` / ``group_sum_bits`` (sized by a
    target's ``compute`` and ``design`` sections); the bench runs tiles of ``k`` elements."""

    rows: int = 8
    cols: int = 8
    bits: int = 8
    group: int = GROUP
    partial_sum_bits: int = WIDTHS[0]
    group_sum_bits: int = WIDTHS[1]
    k: int = field(default=2 * GROUP, metadata=BENCH)

    @classmethod
    def from_target(cls, target) -> dict:
        d = _design(target)
        sized = {"rows": target.compute.rows, "cols": target.compute.cols, "group": d.group,
                 "bits": {v: k for k, v in ACTIVATIONS.items()}[d.activation]}
        for key in ("partial_sum_bits", "group_sum_bits"):
            if getattr(d, key) is not None:
                sized[key] = getattr(d, key)
        return sized

    def problem(self) -> str | None:
        if self.bits == 16 and (self.partial_sum_bits, self.group_sum_bits) != WIDTHS:
            return ("the W4A16 build keeps its sums in FP32; partial_sum_bits and group_sum_bits "
                    "apply to bits=8 only")
        problem = (_bits_problem(self.bits)
                   or (None if self.group >= 2 else f"group must be ≥ 2, got {self.group}")
                   or array_problem(self.rows, self.cols, self.group)
                   or _width_problem(self.bits, self.group, self.partial_sum_bits, self.group_sum_bits)
                   or array_size_problem(self.rows, self.cols, "result_0", self.rows * FP32.width))
        if problem:
            return problem
        if self.rows < 1 or self.cols < 1:
            return f"rows and cols must be ≥ 1, got {self.rows} × {self.cols}"
        if self.k < self.group or self.k % self.group:
            return f"k (elements per bench tile) must be a positive multiple of group {self.group}, got {self.k}"
        return None

    @property
    def fp16(self) -> bool:
        return self.bits == 16


def tile_operands(p: MixPeArrayParams, v, t: int) -> tuple[Encoded, Encoded]:
    """Tile ``t`` of ``v`` as the golden model's encoded activation and weight."""
    fmt = "mixpe-w4a16" if p.fp16 else "mixpe-w4a8"
    codes = v["x"][t].astype(np.uint16) if p.fp16 else v["x"][t].astype(np.int8)
    x = Encoded(fmt, Role.ACTIVATION, (p.rows, p.k), codes,
                np.zeros(0, np.float32) if p.fp16 else v["a"][t].astype(np.float32), 0)
    w = Encoded(fmt, Role.WEIGHT, (p.cols, p.k), v["q"][t].astype(np.uint8),
                v["scale"][t].astype(np.float32), 0,
                meta={"zero": v["zero"][t].astype(np.uint8), "group": p.group})
    return x, w


def _array_golden(p: MixPeArrayParams, v) -> np.ndarray:
    """Each tile's outputs by the golden GEMM, as FP32 bit patterns ``[tiles, rows·cols]``."""
    gemm = gemm_w4a16 if p.fp16 else gemm_w4a8
    return np.stack([to_bits(FP32, gemm(*tile_operands(p, v, t))).astype(np.int64).reshape(-1)
                     for t in range(len(v["x"]))])


def _array_drive(p: MixPeArrayParams, v) -> dict:
    per_group = lambda a: np.repeat(a, p.group, axis=2).transpose(0, 2, 1)  # noqa: E731  [tiles, k, cols]
    scale16 = v["scale"].astype(np.float16).view(np.uint16).astype(np.int64)
    drive = {"x": v["x"].transpose(0, 2, 1), "q": v["q"].transpose(0, 2, 1),
             "zero": per_group(v["zero"]), "scale": per_group(scale16),
             "x_bits": np.array(p.bits)}
    if not p.fp16:
        a = to_bits(FP32, v["a"])  # [tiles, rows], the same on every element of the tile
        drive["token_scale"] = np.repeat(a[:, None, :], p.k, axis=1)
    return drive


def _array_read(p: MixPeArrayParams, out) -> np.ndarray:
    """The bench's column-major results ``[tiles, cols·rows]`` in the golden's row-major order."""
    return out["result"].reshape(-1, p.cols, p.rows).transpose(0, 2, 1).reshape(-1, p.rows * p.cols)


def _array_top(p: MixPeArrayParams) -> str:
    widths = "" if p.fp16 or (p.partial_sum_bits, p.group_sum_bits) == WIDTHS else \
        f"_p{p.partial_sum_bits}s{p.group_sum_bits}"
    return f"mixpe_array_w4a{p.bits}_{p.rows}x{p.cols}_g{p.group}{widths}"


UNITS = (
    *map(_pe_unit, SHIFT_ADD_PES),
    RtlUnit("mixpe-array", "output-stationary MixPE array: shift-and-add PEs, row-edge group sums, "
            "column-edge FP32 group dequantizers (W4A8 or W4A16 build)", MixPeArrayParams,
            build=lambda p: MixPeArray(p.rows, p.cols, activation=ACTIVATIONS[p.bits],
                                       group=p.group, partial_sum_bits=p.partial_sum_bits,
                                       group_sum_bits=p.group_sum_bits),
            top=_array_top,
            vectors=lambda p, n, seed: vectors.array_tiles(p.rows, p.cols, p.k, p.group, p.fp16, n, seed),
            golden=_array_golden,
            bench=Bench("hw.mixpe.benches.array", _array_drive, _array_read),
            default_vectors=200, vector_noun="tile",
            cycles=lambda p: mixpe_array_tile_cycles(p.rows, p.cols, p.k)),
    *map(_pe_unit, BASELINE_PES),
)
