"""The MixPE array's own parameters and rules (papers/mixpe.md), shared by the ``mixpe`` compute
model (checked when a target is loaded) and the RTL (:mod:`hw.mixpe`), so the simulator and the
RTL agree on what a MixPE array is.

The array is ``rows × cols`` shift-and-add PEs, output stationary: row i is a token, column j an
output channel. Each PE takes one activation and one INT4 weight code per cycle and accumulates
the group's partial sum ``P = Σ q·x``; once per group, the column's dequantizer folds it into
the output's FP32 accumulator (``acc + s·(P − z·S)``, :mod:`sim.formats.mixpe`). Its column
read-out bus carries one row's partial sum per cycle, so a group must last at least ``rows``
elements. A target gives the design in its ``design:`` section::

    design:
      activation: int8        # int8: the W4A8 PE; fp16: the W4A16 PE (FP32 partial sums)
      group: 128              # weight group g along K (the format's)
      partial_sum_bits: 19    # W4A8: width of P and D = P − z·S (signed)
      group_sum_bits: 15      # W4A8: width of S = Σ x over a group (signed)

Precisions: the native one (W4A8 or W4A16, one product per PE per cycle) and optionally
``int8`` for activation × activation products (attention): an INT8 operand is fed as two
4-bit code passes (low nibble with zero point 0, high nibble with zero point 8 and scale 16), so
it runs at half the native rate on the same datapath.
"""

from __future__ import annotations

from math import ceil
from typing import Literal

from pydantic import Field

from sim.formats import mixpe
from sim.formats.base import signed_bits
from sim.formats.pertoken import qmax
from spec.schema import Precision, Strict, TargetSpec
from spec.yamlfile import SpecProblem

CODE_BITS = mixpe.W_BITS
"""Weight code bits the PE takes per cycle (INT4)."""
ACT_BITS = {"int8": 8, "fp16": 16}
"""Activation bits of each PE kind."""
ACCUMULATOR_BITS = 32
"""Output accumulators are FP32 (``compute.accumulator_bits``)."""
DEQUANT_ACTION = {"int8": "mixpe.dequant.w4a8", "fp16": "mixpe.dequant.w4a16"}
"""Energy action of one group dequantization of one output."""
GROUP_SUM_ACTION = {"int8": "mixpe.groupsum.w4a8", "fp16": "mixpe.groupsum.w4a16"}
"""Energy action of adding one activation into its token's group sum."""
TOKEN_SCALE_ACTION = "mixpe.token_scale"
"""Energy action of the W4A8 output stage's multiply by the per-token activation scale."""


class MixPeDesign(Strict):
    """``design:`` of a ``mixpe`` target."""

    activation: Literal["int8", "fp16"]
    group: int = Field(ge=2, le=4096)
    partial_sum_bits: int | None = Field(default=None, ge=2, le=63)
    group_sum_bits: int | None = Field(default=None, ge=2, le=63)


def partial_sum_needed(group: int) -> int:
    """Bits of P, z·S and D for a group of ``group`` INT8 × INT4 products (the golden bound)."""
    return signed_bits(mixpe.partial_sum_bound(group))


def group_sum_needed(group: int) -> int:
    """Bits of S = Σ x over a group of INT8 activations."""
    return signed_bits(group * qmax(ACT_BITS["int8"]))


def passes(precision: Precision) -> int:
    """4-bit code passes one MAC of ``precision`` takes (1 native, 2 for INT8 operands)."""
    return ceil(precision.weight_bits / CODE_BITS)


def array_problem(rows: int, cols: int, group: int) -> str | None:
    """Why ``rows × cols`` PEs with groups of ``group`` cannot form a MixPE array, or ``None``."""
    if rows > group:
        return (f"the column read-out bus carries one row's partial sum per cycle, so a group must "
                f"last at least rows = {rows} elements; got group {group}")
    return None


def narrow_width(group: int, partial_sum_bits: int | None, group_sum_bits: int | None
                 ) -> tuple[str, int | None, int] | None:
    """The first W4A8 sum width that cannot hold the sums of a group of ``group`` (or is
    missing), as (name, bits given, bits needed); ``None`` when both suffice."""
    for key, have, need in (("partial_sum_bits", partial_sum_bits, partial_sum_needed(group)),
                            ("group_sum_bits", group_sum_bits, group_sum_needed(group))):
        if have is None or have < need:
            return key, have, need
    return None


def width_problem(design: MixPeDesign) -> tuple[str, str] | None:
    """(key, reason) if an accumulator width of ``design`` cannot hold the golden sums."""
    if design.activation == "fp16":
        for key in ("partial_sum_bits", "group_sum_bits"):
            if getattr(design, key) is not None:
                return (f"design.{key}", "the W4A16 PE keeps its sums in FP32; drop this integer width")
        return None
    narrow = narrow_width(design.group, design.partial_sum_bits, design.group_sum_bits)
    if narrow is None:
        return None
    key, have, need = narrow
    if have is None:
        return (f"design.{key}", f"the W4A8 PE needs this width; {need} bits hold a group of "
                                 f"{design.group}")
    return (f"design.{key}", f"{have} bits cannot hold the sums of a group of {design.group} "
                             f"(need {need})")


def check(target: TargetSpec, design: MixPeDesign) -> None:
    """Raise :class:`SpecProblem` unless ``target`` describes a MixPE array (the RTL's design)."""
    c = target.compute
    problem = width_problem(design)
    if problem:
        raise SpecProblem(*problem)
    if design.group != mixpe.GROUP:
        raise SpecProblem("design.group", f"the MixPE formats quantize weights in groups of "
                                          f"{mixpe.GROUP} (sim/formats/mixpe.py), got {design.group}")
    if (p := array_problem(c.rows, c.cols, design.group)):
        raise SpecProblem("compute", p)
    if c.accumulator_bits != ACCUMULATOR_BITS:
        raise SpecProblem("compute.accumulator_bits", f"MixPE outputs accumulate in FP32 "
                                                      f"({ACCUMULATOR_BITS} bits), got {c.accumulator_bits}")
    if c.sparsity.pattern != "none":
        raise SpecProblem("compute.sparsity", "the MixPE array multiplies every weight; it has no "
                                              "N:M sparsity (pattern: none)")
    act = ACT_BITS[design.activation]
    for name, p in c.precisions.items():
        native = (p.weight_bits, p.act_bits) == (CODE_BITS, act)
        two_pass = (p.weight_bits, p.act_bits) == (8, 8)
        if not (native or two_pass):
            raise SpecProblem(f"compute.precisions.{name}",
                              f"a {design.activation} MixPE array runs W{CODE_BITS}A{act} (native) "
                              f"or W8A8 (two 4-bit passes), got W{p.weight_bits}A{p.act_bits}")
        rate = c.rows * c.cols / passes(p)
        if p.macs_per_cycle != rate:
            raise SpecProblem(f"compute.precisions.{name}.macs_per_cycle",
                              f"a {c.rows} × {c.cols} MixPE array completes {rate:g} "
                              f"W{p.weight_bits}A{p.act_bits} MACs per cycle (one 4-bit code per PE "
                              f"per cycle), got {p.macs_per_cycle:g}")
